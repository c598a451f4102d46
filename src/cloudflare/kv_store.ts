import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import { CircuitState } from "../circuit_state.ts";
import {
  boundSharedState,
  readStoredState,
  type SharedState,
  withoutMark,
} from "../circuit_breaker/shared_data.ts";
import { sharedStore } from "../shared/link_store.ts";
import type { SharedStore } from "../shared/port.ts";
import { prefixedKey } from "../shared/keys.ts";
import {
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "../validate.ts";

/** The Workers KV binding (structural: the subset used). */
export interface KvNamespaceLike {
  /** Reads a key as text. */
  get(key: string, options: { type: "text"; cacheTtl?: number }): Promise<string | null>;
  /** Writes a key. */
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
}

/** Options of {@linkcode workersKvStore}. */
export interface WorkersKvStoreOptions {
  /** Key prefix, before the circuit's key (`cb:<name>`). Default `"er:"`. */
  prefix?: string;
  /** How long this isolate reuses a read, in ms. Default 10000. */
  cacheTtl?: number;
  /** Minimum ms between two writes of one key (KV allows 1 per second). Default 1000. */
  minWriteInterval?: number;
  /** Seconds before a stored entry expires (KV's minimum is 60). Default 86400. */
  expirationTtl?: number;
  /** Time source. */
  clock?: Clock;
}

const OPTIONS = optionNames<WorkersKvStoreOptions>({
  prefix: 1,
  cacheTtl: 1,
  minWriteInterval: 1,
  expirationTtl: 1,
  clock: 1,
});

/** Workers KV refuses keys longer than this (bytes). */
const KV_MAX_KEY_BYTES = 512;

/**
 * An **advisory** {@linkcode SharedStore} on Workers KV. KV is eventually
 * consistent (other locations may see a write 60 s or more later), allows
 * one write per second per key and has no atomic operations, so it is used
 * only to broadcast that a circuit OPENED (and when), read through a
 * per-isolate cache. Each isolate still counts its own failures and runs its
 * own half-open trials. What it promises: once an OPEN is visible at a
 * location, new isolates there fail fast instead of starting CLOSED. What it
 * cannot: a global failure count, a global limit on trial calls, or prompt
 * propagation. Writes are rate-limited per key; one read per `cacheTtl`.
 * Keys (prefix + the URI-encoded breaker key) must fit Workers KV's 512-byte
 * limit: a longer one is refused when the breaker is built.
 *
 * @example
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { type KvNamespaceLike, workersKvStore } from "edge-resilience/cloudflare";
 *
 * declare const env: { CIRCUIT_KV: KvNamespaceLike };
 * const breaker = circuitBreaker({ name: "search", store: workersKvStore(env.CIRCUIT_KV) });
 * ```
 */
export function workersKvStore(
  kv: KvNamespaceLike,
  options: WorkersKvStoreOptions = {},
): SharedStore {
  const W = "workersKvStore";
  if (!kv || typeof kv.get !== "function" || typeof kv.put !== "function") {
    throw new TypeError(`${W}: expected a KV namespace binding`);
  }
  checkObject(W, "options", options);
  checkKnownOptions(W, options, OPTIONS);
  checkString(W, "prefix", options.prefix);
  checkObject(W, "clock", options.clock);
  const prefix = options.prefix ?? "er:";
  if (new TextEncoder().encode(prefix).length >= KV_MAX_KEY_BYTES) {
    throw new RangeError(
      `${W}: option 'prefix' leaves no room in Workers KV's ${KV_MAX_KEY_BYTES}-byte key limit`,
    );
  }
  const keyOf = (key: string) => prefixedKey(prefix, key, KV_MAX_KEY_BYTES);
  const cacheTtl = checkNumber(W, "cacheTtl", options.cacheTtl, 10_000, 0);
  const minWrite = checkNumber(W, "minWriteInterval", options.minWriteInterval, 1000, 1000);
  const expirationTtl = checkNumber(W, "expirationTtl", options.expirationTtl, 86_400, 60, {
    integer: true,
    max: 365 * 86_400,
  });
  const clock = options.clock ?? systemClock;
  const cache = new Map<string, { at: number; value: SharedState | undefined }>();
  const lastWrite = new Map<string, number>();
  /** Writes held back by the rate limit, sent by the next operation after it. */
  const held = new Map<string, SharedState>();
  const write = async (key: string, state: SharedState, now: number) => {
    lastWrite.set(key, now);
    held.delete(key);
    cache.set(key, { at: now, value: state });
    await kv.put(key, JSON.stringify(state), { expirationTtl });
  };
  const due = (key: string, now: number) => {
    const last = lastWrite.get(key);
    return last === undefined || now - last >= minWrite;
  };
  return sharedStore({
    kind: "advisory",
    checkKey(name) {
      keyOf(name);
    },
    async read(name, config) {
      const key = keyOf(name);
      const now = clock.now();
      const pending = held.get(key);
      if (pending && due(key, now)) await write(key, pending, now);
      const hit = cache.get(key);
      if (hit && now - hit.at < cacheTtl) return hit.value;
      // cacheTtl (seconds, min 60) lets KV serve hot keys from the local edge cache.
      // A value that is not JSON makes get() throw: read as text and parse here instead.
      const text = await kv.get(key, { type: "text", cacheTtl: 60 });
      if (text === null || text === undefined) {
        cache.set(key, { at: now, value: undefined });
        return undefined;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(String(text));
      } catch {
        raw = text;
      }
      const read = readStoredState(raw);
      const value = boundSharedState(read, config, clock.wallNow());
      if (read.repaired !== undefined || value.openedAt !== read.openedAt) {
        // Unreadable (corrupt, another version's) or dated too far in the future (skew): replace
        // it (a CLOSED state; the bounded one), so that every isolate reads a sound entry again.
        const fresh = withoutMark(value);
        if (due(key, now)) await write(key, fresh, now);
        else if (!held.has(key)) held.set(key, fresh);
      }
      cache.set(key, { at: now, value: withoutMark(value) });
      return value;
    },
    async publish(name, state) {
      const key = keyOf(name);
      const now = clock.now();
      if (due(key, now)) return await write(key, state, now);
      // KV accepts one write per second per key: hold the latest (an OPEN is never
      // replaced by a CLOSED while held) and send it with the next operation.
      const h = held.get(key);
      if (!h || h.state !== CircuitState.OPEN || state.state === CircuitState.OPEN) {
        held.set(key, state);
      }
    },
  });
}
