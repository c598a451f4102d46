/**
 * Rate limiter: at most `limit` permits per `interval`, as a policy (a call
 * takes one permit, waits up to `maxWait` for it or is refused) and per key
 * (`take`, `peek`, `reset`), locally or shared through a store.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import { createPolicy, type Policy } from "../policy.ts";
import { created } from "../live_policies.ts";
import type { StoreStatusEvent } from "../shared/status.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "../validate.ts";
import {
  capacity,
  type RateLimitAlgorithm,
  type RateLimitConfig,
  type TakeAnswer,
} from "./algorithms.ts";
import { LocalLimits } from "./local.ts";
import { Limiter } from "./runner.ts";
import { RateLimitLink } from "./store_link.ts";
import type { RateLimitStore, RateLimitStoreOptions } from "./store_port.ts";

/** Options of {@linkcode rateLimiter}. Durations are in milliseconds. */
export interface RateLimiterOptions {
  /** Permits per `interval`. Integer >= 1. Required. */
  limit: number;
  /** The interval, ms. Integer from 1 to a year. Required. */
  interval: number;
  /**
   * `"token-bucket"` (default: `burst` tokens refilled at `limit` per
   * `interval`), `"sliding-window"` (weighted two-window approximation: any
   * span of `interval` admits fewer than `2 × limit`, each grid window at most
   * `limit`) or `"fixed-window"` (windows on the epoch grid of the clock).
   */
  algorithm?: RateLimitAlgorithm;
  /** Token bucket only: the bucket's size, the largest burst. Integer >= 1. Default `limit`. */
  burst?: number;
  /**
   * As a policy: a call whose permit comes within this many ms reserves it
   * and waits (cancellable by the caller's signal, which gives the permit
   * back); a longer wait is refused at once with {@linkcode RateLimitedError}.
   * At most `interval` (and 2^31 − 1). Default 0 (never wait).
   */
  maxWait?: number;
  /** Name used in errors, logs and stats. Default `"rateLimiter"`. */
  name?: string;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
  /** Where log messages go (default: see `setDefaultLogger`). */
  logger?: Logger;
  /**
   * Keys kept in this isolate (integer >= 1, default 10,000). Past it, keys
   * whose state is a fresh one are dropped first (that changes nothing), then
   * the least recently used (its limit restarts; logged once, counted in
   * `evicted`).
   */
  maxKeys?: number;
  /**
   * An authoritative shared store (`durableObjectStore`, `denoKvStore`,
   * `MemoryStore`): every take is one atomic store operation, so the limit
   * holds across isolates. Advisory stores (Workers KV) are refused.
   */
  store?: RateLimitStore;
  /** Prefix of this limiter's store keys. Default: `name`. */
  storeKey?: string;
  /** Store timeout, probe interval and what to do while it is unavailable. */
  storeOptions?: RateLimitStoreOptions;
  /** Told when the store becomes unavailable or recovers. */
  onStoreStatus?: (event: StoreStatusEvent) => void;
}

/** Counters of a rate limiter, from {@linkcode RateLimiter.getStats}. JSON-safe. */
export interface RateLimiterStats {
  /** The limiter's name. */
  name: string;
  /** Keys held in this isolate now. */
  keys: number;
  /** Calls and takes granted so far. */
  admitted: number;
  /** Calls and takes refused so far. */
  limited: number;
  /** Calls waiting for a reserved permit now. */
  waiting: number;
  /** Keys dropped by `maxKeys` while in use (their limits restarted). */
  evicted: number;
}

/** A {@linkcode Policy} made by {@linkcode rateLimiter}, with keyed limits. */
export interface RateLimiter extends Policy {
  /** The limiter's name. */
  readonly name: string;
  /** The resolved algorithm and limits. */
  readonly config: Readonly<RateLimitConfig>;
  /**
   * Takes `cost` permits (integer from 1 to the capacity, else a
   * `RangeError`) for `key`. Never rejects for limiting or store faults: a
   * denied take consumes nothing and says when to retry.
   */
  take(key: string, cost?: number): Promise<TakeAnswer>;
  /** The answer a take of cost 1 would get now, consuming nothing. */
  peek(key: string): Promise<TakeAnswer>;
  /** Forgets `key`'s state: its next take finds a fresh one. */
  reset(key: string): Promise<void>;
  /** Counters (JSON-safe). */
  getStats(): RateLimiterStats;
}

const W = "rateLimiter";
const OPTIONS = optionNames<RateLimiterOptions>({
  limit: 1,
  interval: 1,
  algorithm: 1,
  burst: 1,
  maxWait: 1,
  name: 1,
  clock: 1,
  logger: 1,
  maxKeys: 1,
  store: 1,
  storeKey: 1,
  storeOptions: 1,
  onStoreStatus: 1,
});
const ALGORITHMS = ["token-bucket", "sliding-window", "fixed-window"];
/** The longest interval: a year (daily and monthly quotas fit). */
const YEAR = 365 * 86_400_000;
function checkKey(key: unknown): string {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`${W}: key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
  return key;
}

/**
 * A rate limiter: at most `limit` permits per `interval`, by one of three
 * algorithms, with one pure implementation ({@linkcode takePermits}) for
 * this isolate and every shared store.
 *
 * - As a policy (wrapper, decorator, `execute`): a call takes one permit. A
 *   call whose permit comes within `maxWait` reserves it and waits on the
 *   shared deadline scheduler (the caller's signal cancels the wait at once
 *   and gives the permit back; the call never runs); a longer wait is
 *   refused at once, without a timer, with {@linkcode RateLimitedError}. So
 *   at most `maxWait × limit / interval` calls wait.
 * - Per key (`take`, `peek`, `reset`): answers `{ allowed, limit, remaining,
 *   resetAfter, retryAfter }` and never rejects for limiting or store faults.
 * - Keys are bounded by `maxKeys`; no timer, nothing per idle key but its
 *   entry (80–95 bytes plus the key string on V8, see docs/capacity.md).
 * - With a `store`, every take is one atomic store operation; while the
 *   store is unavailable, one probe per `storeOptions.retryInterval` and the
 *   local limiter answers (or every take is refused: `whenUnavailable: "reject"`).
 *
 * Place it outermost (with the bulkhead) to protect this process, or per
 * attempt, inside `retry` and just outside the breaker, to respect an
 * upstream's quota (`retry` waits a refusal's `retryAfter` when it fits in
 * `maxDelay`, at no budget cost). See docs/capacity.md.
 *
 * @example Client-side throttling: 10 calls per second, wait up to 1 s for a permit
 * ```ts
 * import { RateLimitedError, rateLimiter } from "edge-resilience";
 *
 * const quota = rateLimiter({ name: "geo", limit: 10, interval: 1_000, maxWait: 1_000 });
 * const geocode = quota(async (q: string) => (await fetch(`https://geo.example/?q=${q}`)).json());
 * try {
 *   await geocode("Paris");
 * } catch (e) {
 *   if (e instanceof RateLimitedError) console.log(`retry in ${e.retryAfter}ms`);
 * }
 * ```
 *
 * @example Per key: 100 requests per minute per user
 * ```ts
 * import { rateLimiter } from "edge-resilience";
 *
 * const perUser = rateLimiter({ name: "api", limit: 100, interval: 60_000, algorithm: "sliding-window" });
 * const answer = await perUser.take("user-42");
 * if (!answer.allowed) console.log(`429, retry in ${answer.retryAfter}ms`);
 * console.log(perUser.getStats()); // { name: "api", keys: 1, admitted: 1, limited: 0, waiting: 0, evicted: 0 }
 * ```
 */
export function rateLimiter(options: RateLimiterOptions): RateLimiter {
  checkKnownOptions(W, options, OPTIONS);
  if (options === undefined) {
    throw new TypeError(`${W}: options 'limit' and 'interval' are required`);
  }
  const algorithm = options.algorithm ?? "token-bucket";
  if (!ALGORITHMS.includes(algorithm)) {
    throw new TypeError(
      `${W}: option 'algorithm' must be one of ${ALGORITHMS.join(", ")}, got ${
        JSON.stringify(algorithm)
      }`,
    );
  }
  const limit = checkNumber(W, "limit", options.limit, undefined, 1, {
    integer: true,
    max: 1e9,
  });
  const interval = checkNumber(W, "interval", options.interval, undefined, 1, {
    integer: true,
    max: YEAR,
  });
  const config: RateLimitConfig = { algorithm, limit, interval };
  if (options.burst !== undefined) {
    if (algorithm !== "token-bucket") {
      throw new TypeError(
        `${W}: option 'burst' is for algorithm "token-bucket" only (got "${algorithm}")`,
      );
    }
    config.burst = checkNumber(W, "burst", options.burst, undefined, 1, {
      integer: true,
      max: 1e9,
    });
  }
  if (
    capacity(config) * interval > Number.MAX_SAFE_INTEGER ||
    limit * interval > Number.MAX_SAFE_INTEGER
  ) {
    throw new RangeError(`${W}: option 'limit' (or 'burst') × 'interval' must be at most 2^53 − 1`);
  }
  // (A wait is a timer: at most 2^31 − 1 ms.)
  const maxWait = checkNumber(W, "maxWait", options.maxWait, 0, 0, {
    max: Math.min(interval, 2_147_483_647),
  });
  checkString(W, "name", options.name);
  checkObject(W, "clock", options.clock);
  checkObject(W, "logger", options.logger);
  const maxKeys = checkNumber(W, "maxKeys", options.maxKeys, 10_000, 1, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  checkString(W, "storeKey", options.storeKey);
  checkFunction(W, "onStoreStatus", options.onStoreStatus);
  const name = options.name ?? W;
  const clock = options.clock ?? systemClock;
  let link: RateLimitLink | undefined;
  if (options.store !== undefined) {
    link = new RateLimitLink(
      W,
      name,
      options.store,
      options.storeKey ?? name,
      options.storeOptions,
      options.onStoreStatus,
      options.logger,
      clock,
      config,
      maxKeys,
    );
  } else {
    for (const o of ["storeKey", "storeOptions", "onStoreStatus"] as const) {
      if (options[o] !== undefined) throw new TypeError(`${W}: option '${o}' needs option 'store'`);
    }
  }
  const local = new LocalLimits(name, config, maxKeys, clock, options.logger);
  const l = new Limiter(name, config, local, link, maxWait);
  const policy = createPolicy<RateLimiter>(W, l, undefined, undefined, name);
  const cap = capacity(config);
  const checkCost = (cost: unknown) => {
    if (typeof cost !== "number" || !Number.isInteger(cost) || cost < 1 || cost > cap) {
      throw new RangeError(`${W}: cost must be an integer from 1 to ${cap}, got ${String(cost)}`);
    }
    return cost;
  };
  Object.defineProperties(policy, {
    config: { value: Object.freeze({ ...config }) },
    take: {
      value: (key: string, cost: number = 1) => {
        try {
          return l.take(checkKey(key), { cost: checkCost(cost) });
        } catch (e) {
          return Promise.reject(e);
        }
      },
    },
    peek: {
      value: (key: string) => {
        try {
          return l.take(checkKey(key), { cost: 1, peek: true });
        } catch (e) {
          return Promise.reject(e);
        }
      },
    },
    reset: {
      value: async (key: string) => {
        await l.take(checkKey(key), { cost: 1, reset: true });
      },
    },
    getStats: {
      value: (): RateLimiterStats => ({
        name,
        keys: local.size,
        admitted: l.admitted,
        limited: l.limited,
        waiting: l.waiting,
        evicted: local.evicted,
      }),
    },
  });
  created(W, name, policy);
  return policy;
}
