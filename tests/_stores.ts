// Test doubles around real stores: operation counting and fault injection.
import {
  type CircuitStore,
  circuitStore,
  type Outcome,
  type PermitAnswer,
  type SharedConfig,
  type SharedState,
} from "../mod.ts";

/** Counts every store operation, and how many are in flight. */
export class CountingStore implements CircuitStore {
  readonly kind: "authoritative" | "advisory";
  ops = { sync: 0, acquire: 0, publish: 0 };
  outcomes = 0;
  constructor(readonly inner: CircuitStore) {
    this.kind = inner.kind;
    circuitStore(this);
  }
  checkKey(key: string): void {
    this.inner.checkKey?.(key);
  }
  get total(): number {
    return this.ops.sync + this.ops.acquire + this.ops.publish;
  }
  sync(key: string, outcomes: readonly Outcome[], config: SharedConfig) {
    this.ops.sync++;
    this.outcomes += outcomes.length;
    return this.inner.sync(key, outcomes, config);
  }
  acquire(key: string, config: SharedConfig): Promise<PermitAnswer> {
    this.ops.acquire++;
    return this.inner.acquire!(key, config);
  }
  publish(key: string, state: SharedState): Promise<void> {
    this.ops.publish++;
    return this.inner.publish!(key, state);
  }
}

export type Fault = "none" | "throw" | "hang" | "slow" | "corrupt" | "reject-sync" | "lock";

/** Wraps a store and misbehaves on demand. Hanging calls are released by `heal()`. */
export class FaultyStore implements CircuitStore {
  readonly kind: "authoritative" | "advisory";
  fault: Fault = "none";
  #hung: (() => void)[] = [];
  constructor(readonly inner: CircuitStore, readonly slowMs = 2000) {
    this.kind = inner.kind;
    circuitStore(this);
  }
  checkKey(key: string): void {
    this.inner.checkKey?.(key);
  }
  /** Releases hanging calls (they then fail) and stops misbehaving. */
  heal(): void {
    this.fault = "none";
    for (const r of this.#hung.splice(0)) r();
  }
  #wrap<T>(real: () => Promise<T>): Promise<T> {
    switch (this.fault) {
      case "throw":
        return Promise.reject(new Error("store is down"));
      case "reject-sync":
        throw new Error("store threw synchronously");
      case "lock":
        // What Deno KV (SQLite) throws while another connection holds the lock, lasting.
        return Promise.reject(new TypeError("database is locked"));
      case "hang":
        return new Promise<T>((_, reject) => this.#hung.push(() => reject(new Error("released"))));
      case "slow":
        return new Promise<T>((resolve, reject) => {
          const t = setTimeout(() => real().then(resolve, reject), this.slowMs);
          this.#hung.push(() => {
            clearTimeout(t);
            reject(new Error("released"));
          });
        });
      case "corrupt":
        return Promise.resolve({ state: "sideways", generation: -1 } as unknown as T);
      default:
        return real();
    }
  }
  sync(key: string, outcomes: readonly Outcome[], config: SharedConfig) {
    return this.#wrap(() => this.inner.sync(key, outcomes, config));
  }
  acquire(key: string, config: SharedConfig): Promise<PermitAnswer> {
    return this.#wrap(() => this.inner.acquire!(key, config));
  }
  publish(key: string, state: SharedState): Promise<void> {
    return this.#wrap(() => this.inner.publish!(key, state));
  }
}
