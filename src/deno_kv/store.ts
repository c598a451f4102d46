import {
  acquirePermit,
  applyOutcomes,
  type CircuitStore,
  initialSharedState,
  parseSharedState,
  type SharedState,
} from "../store.ts";
import { checkNumber, checkObject } from "../validate.ts";
import { circuitStore } from "../store_sync.ts";

/** A Deno KV key. */
export type KvKey = readonly (string | number | bigint | boolean | Uint8Array)[];

/** The subset of `Deno.Kv` used (structural: `@deno/kv` on Node works too). */
export interface DenoKvLike {
  /** Reads an entry. */
  get<T = unknown>(key: KvKey): Promise<{ value: T | null; versionstamp: string | null }>;
  /** Starts an atomic operation. */
  atomic(): DenoKvAtomic;
}

/** The subset of `Deno.AtomicOperation` used. */
export interface DenoKvAtomic {
  /** Fails the commit unless the key still has this versionstamp. */
  check(...checks: { key: KvKey; versionstamp: string | null }[]): DenoKvAtomic;
  /** Writes a value. */
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): DenoKvAtomic;
  /** Commits. */
  commit(): Promise<{ ok: boolean }>;
}

/** Options of {@linkcode denoKvStore}. */
export interface DenoKvStoreOptions {
  /** Key prefix. Default `["edge-resilience", "circuit"]`. */
  prefix?: KvKey;
  /** Entries untouched for this long (ms) are removed. Default 7 days. */
  expireIn?: number;
  /** Compare-and-set attempts under contention before giving up. Default 20. */
  maxAttempts?: number;
}

/**
 * An authoritative {@linkcode CircuitStore} on Deno KV: every transition and
 * half-open permit is a compare-and-set (`atomic().check(versionstamp)`), so
 * concurrent isolates — or Deno Deploy regions — never both win. Works on a
 * local SQLite file (`Deno.openKv(path)`, state survives restarts),
 * `Deno.openKv(":memory:")`, and Deno Deploy. Needs `--unstable-kv`.
 *
 * @example
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { denoKvStore } from "edge-resilience/deno-kv";
 *
 * const kv = await Deno.openKv("./circuits.sqlite");
 * const breaker = circuitBreaker({ name: "api", store: denoKvStore(kv) });
 * ```
 */
export function denoKvStore(kv: DenoKvLike, options: DenoKvStoreOptions = {}): CircuitStore {
  const W = "denoKvStore";
  if (!kv || typeof kv.get !== "function" || typeof kv.atomic !== "function") {
    throw new TypeError(`${W}: expected a Deno KV database (from openKv)`);
  }
  checkObject(W, "options", options);
  const prefix = options.prefix ?? ["edge-resilience", "circuit"];
  if (!Array.isArray(prefix)) throw new TypeError(`${W}: option 'prefix' must be a KV key (array)`);
  const expireIn = checkNumber(W, "expireIn", options.expireIn, 7 * 86_400_000, 1000, {
    max: 365 * 86_400_000,
  });
  const attempts = checkNumber(W, "maxAttempts", options.maxAttempts, 20, 1, {
    integer: true,
    max: 1000,
  });
  const keyOf = (name: string): KvKey => {
    if (typeof name !== "string" || name === "" || name.length > 1024) {
      throw new TypeError(
        `${W}: breaker key must be a non-empty string of at most 1024 characters`,
      );
    }
    return [...prefix, name];
  };
  /** Read-modify-write with compare-and-set, retried under contention. */
  async function update<R>(name: string, change: (s: SharedState) => [SharedState, R]): Promise<R> {
    const key = keyOf(name);
    for (let i = 0; i < attempts; i++) {
      const entry = await kv.get(key);
      const current = entry.value === null ? initialSharedState() : parseSharedState(entry.value);
      const [next, result] = change(current);
      const { ok } = await kv.atomic()
        .check({ key, versionstamp: entry.versionstamp })
        .set(key, next, { expireIn })
        .commit();
      if (ok) return result;
      // Contention: back off a little (jittered) before reading again.
      await new Promise((r) => setTimeout(r, Math.random() * 2 * (i + 1)));
    }
    throw new Error(`${W}: gave up after ${attempts} conflicting writes`);
  }
  return circuitStore({
    kind: "authoritative",
    sync(name, outcomes, config) {
      if (outcomes.length === 0) {
        return kv.get(keyOf(name)).then((e) =>
          e.value === null ? initialSharedState() : parseSharedState(e.value)
        );
      }
      return update(name, (s) => {
        const next = applyOutcomes(s, outcomes, config, Date.now());
        return [next, next];
      });
    },
    acquire(name, config) {
      return update(name, (s) => {
        const r = acquirePermit(s, config, Date.now());
        return [r.state, r];
      });
    },
  });
}
