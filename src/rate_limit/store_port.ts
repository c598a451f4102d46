// What a rate limiter needs of a shared store (the port), the tuning of its
// link, and how a store's answer is checked.
import { optionNames } from "../validate.ts";
import type { RateLimitConfig, TakeAnswer } from "./algorithms.ts";
import type { RateLimitOp } from "./reducer.ts";

/**
 * What a rate limiter needs of a shared store (the store port's shape): an
 * authoritative store that applies an operation to a key's entry atomically
 * and answers. Advisory stores (Workers KV) cannot count and are refused.
 */
export interface RateLimitStore {
  /** `"authoritative"` (counts atomically) or `"advisory"` (refused). */
  readonly kind: "authoritative" | "advisory";
  /** Applies `op` atomically to the entry at `key` (read → `rateLimitReducer` → write). */
  run?(key: string, op: RateLimitOp): Promise<unknown>;
  /** Throws when `key` cannot be a key of this store. */
  checkKey?(key: string): void;
  /** Throws when this store cannot count this limiter's config (called once, at construction). */
  checkConfig?(config: RateLimitConfig): void;
  /** `false`: answers cannot tell the permits left (`routeRateLimiter` then omits them). */
  readonly knowsRemaining?: boolean;
}

/** Tuning of a rate limiter's store link (option `storeOptions`). Durations in ms. */
export interface RateLimitStoreOptions {
  /** Bound of every store operation; past it the store counts as unavailable. Default 500. */
  timeout?: number;
  /** While unavailable, the store is probed (in the background) once per this. Default 5000. */
  retryInterval?: number;
  /**
   * While the store is unavailable: `"local"` (default) — this isolate's own
   * limiter with the same config decides (fleet-wide up to `isolates × limit`
   * per interval, plus, in the interval the outage starts, what the store had
   * admitted and permits still leased); `"reject"` — every take is denied.
   * (`"allow"` is refused: a rate limit is never unbounded.)
   */
  whenUnavailable?: "local" | "reject";
  /**
   * Permits an isolate takes from the store at once, per key (integer from 1
   * to the capacity; default 1: every take is one exact store operation). With
   * `lease: n` a take that finds no leased permit asks for up to `n` and keeps
   * the rest for the next takes of that key, so about one take in `n` makes a
   * round trip (one lease request per key in flight: concurrent takes
   * meanwhile take their own permit); in exchange any interval may admit up to
   * `isolates × (n − 1)` more than the limit (permits leased in one interval
   * used in the next). Calls that may wait (`maxWait`) never use leases.
   */
  lease?: number;
  /**
   * Leased permits not used within this many ms are dropped (never given
   * back: they count as taken). At most `interval`. Default
   * `min(1000, interval)`.
   */
  leaseTtl?: number;
}

/** @internal The option names of `storeOptions`. */
export const STORE_OPTIONS = optionNames<RateLimitStoreOptions>({
  timeout: 1,
  retryInterval: 1,
  whenUnavailable: 1,
  lease: 1,
  leaseTtl: 1,
});

/** @internal A store's answer, with a reservation's time in store time. */
export type StoreAnswer = TakeAnswer & { at?: number; repaired?: string; granted?: number };

/** @internal Refuses a store a rate limiter cannot use, naming the option `store`. */
export function checkRateLimitStore(where: string, store: unknown): RateLimitStore {
  const s = store as Partial<RateLimitStore> | null;
  if (typeof s !== "object" || s === null) {
    throw new TypeError(`${where}: option 'store' must be a store object, got ${String(store)}`);
  }
  if (s.kind === "advisory") {
    throw new TypeError(
      `${where}: option 'store' is advisory (Workers KV: eventually consistent, one write per second per key, no atomic update), so it cannot count rate limits; use durableObjectStore or denoKvStore`,
    );
  }
  if (s.kind !== "authoritative" || typeof s.run !== "function") {
    throw new TypeError(
      `${where}: option 'store' cannot count rate limits: expected an authoritative store with run(key, op) (durableObjectStore, denoKvStore, MemoryStore)`,
    );
  }
  return s as RateLimitStore;
}

const isCount = (v: unknown) => typeof v === "number" && v >= 0 && v < Infinity;

/** @internal Checks a store's answer; throws a `TypeError` if malformed. */
export function parseAnswer(raw: unknown): StoreAnswer {
  const a = raw as Partial<StoreAnswer> | null;
  if (
    typeof a !== "object" || a === null || typeof a.allowed !== "boolean" ||
    !isCount(a.limit) || !isCount(a.remaining) || !isCount(a.resetAfter) ||
    !isCount(a.retryAfter) || (a.at !== undefined && !isCount(a.at))
  ) {
    throw new TypeError("malformed rate limit answer from the store");
  }
  const r: StoreAnswer = {
    allowed: a.allowed,
    limit: a.limit!,
    remaining: a.remaining!,
    resetAfter: a.resetAfter!,
    retryAfter: a.retryAfter!,
  };
  if (a.at !== undefined) r.at = a.at;
  if (a.granted !== undefined) {
    if (!Number.isSafeInteger(a.granted) || a.granted < 0) {
      throw new TypeError("malformed rate limit answer from the store");
    }
    r.granted = a.granted;
  }
  if (typeof a.repaired === "string") r.repaired = a.repaired.slice(0, 200);
  return r;
}
