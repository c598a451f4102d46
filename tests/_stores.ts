// Test doubles around real stores: operation counting and fault injection.
import {
  type SharedConfig,
  type SharedState,
  type SharedStore,
  sharedStore,
  type StoreOp,
} from "../mod.ts";

/** Counts every store operation, and how many are in flight. */
export class CountingStore implements SharedStore {
  readonly kind: "authoritative" | "advisory";
  ops = { sync: 0, acquire: 0, command: 0, publish: 0, rate: 0 };
  outcomes = 0;
  constructor(readonly inner: SharedStore) {
    this.kind = inner.kind;
    sharedStore(this);
  }
  checkKey(key: string): void {
    this.inner.checkKey?.(key);
  }
  get total(): number {
    return this.ops.sync + this.ops.acquire + this.ops.command + this.ops.publish;
  }
  run(key: string, op: StoreOp): Promise<unknown> {
    if (op.type === "rate") this.ops.rate++;
    else {
      this.ops[op.action]++;
      if (op.action === "sync") this.outcomes += op.outcomes.length;
    }
    return this.inner.run!(key, op);
  }
  read(key: string, config: SharedConfig): Promise<SharedState | undefined> {
    this.ops.sync++;
    return this.inner.read!(key, config);
  }
  publish(key: string, state: SharedState): Promise<void> {
    this.ops.publish++;
    return this.inner.publish!(key, state);
  }
}

export type Fault = "none" | "throw" | "hang" | "slow" | "corrupt" | "reject-sync" | "lock";

/** Wraps a store and misbehaves on demand. Hanging calls are released by `heal()`. */
export class FaultyStore implements SharedStore {
  readonly kind: "authoritative" | "advisory";
  fault: Fault = "none";
  #hung: (() => void)[] = [];
  constructor(readonly inner: SharedStore, readonly slowMs = 2000) {
    this.kind = inner.kind;
    sharedStore(this);
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
  run(key: string, op: StoreOp): Promise<unknown> {
    return this.#wrap(() => this.inner.run!(key, op));
  }
  read(key: string, config: SharedConfig): Promise<SharedState | undefined> {
    return this.#wrap(() => this.inner.read!(key, config));
  }
  publish(key: string, state: SharedState): Promise<void> {
    return this.#wrap(() => this.inner.publish!(key, state));
  }
}

/**
 * Wraps a store so that every operation answers after `ms` (a store that far
 * away), on the given clock's timers (a FakeClock: no sleeping).
 */
export class SlowStore implements SharedStore {
  readonly kind: "authoritative" | "advisory";
  constructor(
    readonly inner: SharedStore,
    readonly ms: number,
    readonly clock: { setTimeout(fn: () => void, ms: number): unknown } = globalThis,
  ) {
    this.kind = inner.kind;
    sharedStore(this);
  }
  checkKey(key: string): void {
    this.inner.checkKey?.(key);
  }
  #later<T>(real: () => Promise<T>): Promise<T> {
    if (this.ms === 0) return real();
    return new Promise<T>((resolve, reject) => {
      this.clock.setTimeout(() => real().then(resolve, reject), this.ms);
    });
  }
  run(key: string, op: StoreOp): Promise<unknown> {
    return this.#later(() => this.inner.run!(key, op));
  }
  read(key: string, config: SharedConfig): Promise<SharedState | undefined> {
    return this.#later(() => this.inner.read!(key, config));
  }
  publish(key: string, state: SharedState): Promise<void> {
    return this.#later(() => this.inner.publish!(key, state));
  }
}
