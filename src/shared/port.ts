/**
 * The store port: one operation, run atomically on one entry. A store knows
 * nothing of circuits or rate limits; it reads the entry, calls
 * {@linkcode applyOp} (the pure reducers of this library) and writes the
 * result. So every kind of shared state (circuits today, rate limits next)
 * is a sibling reducer over the same port and the same store adapters.
 *
 * @module
 */
import { type CircuitOp, circuitReducer } from "../circuit_breaker/reducer.ts";
import { type RateLimitOp, rateLimitReducer } from "../rate_limit/reducer.ts";
import type { SharedConfig, SharedState } from "../circuit_breaker/shared_data.ts";

/** An operation a store runs: which reducer (`type`: a circuit, a rate limit) and what to do. */
export type StoreOp = CircuitOp | RateLimitOp;

/** What {@linkcode applyOp} computed: the value to store, and the answer to give. */
export interface Applied {
  /** The entry's new value (plain JSON-safe data). */
  value: unknown;
  /** The answer to resolve the operation with. */
  answer: unknown;
  /** Whether `value` must be written (false: nothing changed, e.g. a plain read). */
  write: boolean;
}

/**
 * Where shared state lives. Implement it to add a backend; every method may
 * throw or hang: callers bound each call with their own timeout and fall
 * back to local state.
 *
 * *Authoritative* stores (Durable Objects, Deno KV, Redis,
 * {@linkcode MemoryStore}) implement `run`: read the entry at `key`, call
 * {@linkcode applyOp}, write `value` when `write`, atomically (a Durable
 * Object serialises its requests; others compare-and-set), and resolve to
 * `answer`. *Advisory* stores (Workers KV) cannot run operations atomically:
 * they only relay that a circuit is OPEN (`read`, `publish`).
 *
 * Keys arrive namespaced and encoded (`cb:<name>` for circuits, `rl:<name>`
 * and `rl:<name>:<key>` for rate limits), at most 512 bytes: a store
 * prepends its own prefix only.
 *
 * @example A store in this process's memory (what MemoryStore does)
 * ```ts
 * import { applyOp, circuitBreaker, sharedStore } from "edge-resilience";
 *
 * const entries = new Map<string, unknown>();
 * const store = sharedStore({
 *   kind: "authoritative",
 *   run(key, op) {
 *     const { value, answer, write } = applyOp(entries.get(key), op, Date.now());
 *     if (write) entries.set(key, value);
 *     return Promise.resolve(answer);
 *   },
 * });
 * const breaker = circuitBreaker({ name: "api", store });
 * ```
 */
export interface SharedStore {
  /** `"authoritative"` (runs operations) or `"advisory"` (relays OPEN only). */
  readonly kind: "authoritative" | "advisory";
  /** Authoritative stores: runs `op` atomically on the entry at `key`; resolves to its answer. */
  run?(key: string, op: StoreOp): Promise<unknown>;
  /**
   * Advisory stores: the circuit state last published at `key` (`undefined`
   * when none), checked: an unreadable or future-dated entry is replaced
   * (bounded by `config`, see `boundSharedState`).
   */
  read?(key: string, config: SharedConfig): Promise<SharedState | undefined>;
  /** Advisory stores: publishes a circuit's state at `key`. */
  publish?(key: string, value: SharedState): Promise<void>;
  /**
   * Optional: throws (a `RangeError` naming the limit) when a key cannot be
   * stored. Called once, when the breaker is built, so that a key that cannot
   * work is refused there rather than showing up as an outage at the first call.
   */
  checkKey?(key: string): void;
}

/**
 * Runs one store operation on an entry's stored value (`undefined` when
 * there is none) at the store's time `now` (epoch ms): the one function
 * every authoritative store calls. Unreadable values are repaired, times
 * from the future bounded, configs validated (a `TypeError` for an
 * operation no breaker sends). Pure.
 *
 * @example
 * ```ts
 * import { applyOp } from "edge-resilience";
 *
 * const config = { failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 1 };
 * const r = applyOp(undefined, {
 *   type: "circuit",
 *   action: "sync",
 *   outcomes: [{ ok: false, generation: 0 }],
 *   config,
 * }, Date.now());
 * console.log((r.value as { state: string }).state); // "open"
 * ```
 */
export function applyOp(stored: unknown, op: StoreOp, now: number): Applied {
  if (typeof op !== "object" || op === null) throw new TypeError("malformed store operation");
  if (op.type === "circuit") return circuitReducer(stored, op, now);
  if (op.type === "rate") return rateLimitReducer(stored, op, now);
  throw new TypeError(`unknown store operation type '${String((op as { type?: unknown }).type)}'`);
}
