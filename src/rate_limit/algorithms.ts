/**
 * The rate-limit algorithms as pure, serialisable functions: one
 * implementation for the local limiter and every authoritative store. State is
 * plain JSON; time is passed in (`now`, ms: the limiter's clock locally, the
 * store's wall time when shared).
 *
 * Arithmetic is exact on integer times: a token bucket counts in units of
 * `1 / interval` token (it refills `limit` units per ms), and the sliding
 * window compares `previous × (interval − elapsed) + (count + cost) × interval`
 * with `limit × interval`, all integers; so no rounding ever admits one permit
 * too many (the `limit: 1` sliding-window bug @upstash/ratelimit shipped).
 *
 * @module
 */

/** Which algorithm a limiter uses. */
export type RateLimitAlgorithm = "token-bucket" | "sliding-window" | "fixed-window";

/** What the algorithms need of a limiter's settings (what a store is sent). */
export interface RateLimitConfig {
  /** The algorithm. */
  algorithm: RateLimitAlgorithm;
  /** Permits per `interval`. Integer >= 1. */
  limit: number;
  /** The interval, ms. Integer >= 1. */
  interval: number;
  /** Token bucket only: the bucket's size (default `limit`). */
  burst?: number;
  /**
   * Sent to a store: how long the limiter waits for the operation (ms, its
   * `storeOptions.timeout`). A store that retries contention (Deno KV, Redis:
   * a lost compare-and-set) gives up before it. Not part of the algorithm.
   */
  timeout?: number;
}

/** One request to a limiter's state. */
export interface TakeRequest {
  /** Permits asked for. Integer >= 1, at most the capacity (`burst`, or `limit`). */
  cost: number;
  /** Answer as a take would, consuming nothing. */
  peek?: boolean;
  /** Forget the key's state (the answer is then a fresh key's peek). */
  reset?: boolean;
  /**
   * Reserve the permits when they are available within this many ms (at most
   * `interval`): the answer is then allowed with `retryAfter` the wait.
   */
  maxWait?: number;
  /**
   * Give back `cost` permits reserved for this time (the `at` of the take that
   * reserved them), e.g. a waiting call that was cancelled. Windows: to the
   * window that holds them, if it is still counted. Token bucket: to the
   * bucket as it will be after the last reservation, capped at `burst` (a
   * permit may be lost that way, never created).
   */
  refund?: number;
  /**
   * Take up to this many permits (an integer from `cost` to the capacity) if
   * they are available now: a batch for an isolate's lease. The result's
   * `granted` says how many were taken. Not with `maxWait`.
   */
  upTo?: number;
}

/** The answer to a take or a peek. Durations in ms. */
export interface TakeAnswer {
  /** Whether the permits were granted (for a peek: would be). */
  allowed: boolean;
  /** The configured `limit`. */
  limit: number;
  /** Permits a take of cost 1 could still get now, after this one. */
  remaining: number;
  /** Until the key's state is back to a fresh one (full bucket, empty windows). */
  resetAfter: number;
  /**
   * Denied: until a take of the same cost would be granted (if nothing else is
   * taken meanwhile). Granted: 0, or the wait of a reservation (`maxWait`).
   */
  retryAfter: number;
}

/** A key's state, as stored (plain JSON). Token bucket: `level` is tokens × `interval`. */
export type LimitState =
  | { kind: "tb"; at: number; level: number }
  | { kind: "fw"; start: number; count: number }
  | { kind: "sw"; start: number; count: number; previous: number };

/** What {@linkcode takePermits} returns. */
export interface TakePermitsResult {
  /** The new state (`undefined`: fresh, nothing to keep). */
  state: LimitState | undefined;
  /** The answer. */
  answer: TakeAnswer;
  /** Granted: when the permits may be used (now, or later for a reservation). */
  at: number;
  /** Permits taken: `cost`, more with `upTo`, or 0 (denied, peek, reset, refund). */
  granted: number;
}

const ALGORITHMS: readonly string[] = ["token-bucket", "sliding-window", "fixed-window"];
const MAX = Number.MAX_SAFE_INTEGER;
const isInt = (v: unknown, min: number) =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min;

/**
 * @internal The largest number of permits one take may ask for: `burst` (token bucket)
 * or `limit` (windows).
 */
export function capacity(config: RateLimitConfig): number {
  return config.algorithm === "token-bucket" ? config.burst ?? config.limit : config.limit;
}

/**
 * Checks a config (as a store receives it); throws a `TypeError` naming what
 * is wrong. `limit × interval` and `burst × interval` must be safe integers
 * (the exact arithmetic counts in those units).
 *
 * @example
 * ```ts
 * import { checkRateLimitConfig } from "edge-resilience";
 *
 * checkRateLimitConfig({ algorithm: "fixed-window", limit: 10, interval: 1_000 }); // ok
 * ```
 */
export function checkRateLimitConfig(config: unknown): RateLimitConfig {
  const c = config as Partial<RateLimitConfig> | null;
  if (typeof c !== "object" || c === null || !ALGORITHMS.includes(c.algorithm as string)) {
    throw new TypeError("rate limit config: unknown algorithm");
  }
  if (!isInt(c.limit, 1) || !isInt(c.interval, 1) || c.limit! * c.interval! > MAX) {
    throw new TypeError("rate limit config: limit and interval must be integers >= 1");
  }
  if (c.burst !== undefined) {
    if (c.algorithm !== "token-bucket") {
      throw new TypeError("rate limit config: burst is for the token bucket only");
    }
    if (!isInt(c.burst, 1) || c.burst! * c.interval! > MAX) {
      throw new TypeError("rate limit config: burst must be an integer >= 1");
    }
  }
  return c as RateLimitConfig;
}

/** `floor(a / b)` exactly, for safe integers (`b` > 0). */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

/** `ceil(a / b)` exactly, for safe integers (`b` > 0). */
function ceilDiv(a: number, b: number): number {
  return -floorDiv(-a, b);
}

/** @internal The start of the window holding `t` (the epoch grid of the clock). */
export function windowStart(t: number, interval: number): number {
  return Math.floor(t / interval) * interval;
}

/**
 * @internal A state brought to `now`: the bucket refilled, the windows rolled. A window
 * that starts later than `now` is a reservation's (kept).
 */
export function advance(
  s: LimitState | undefined,
  config: RateLimitConfig,
  now: number,
): LimitState {
  const I = config.interval;
  if (config.algorithm === "token-bucket") {
    const cap = capacity(config) * I;
    if (s?.kind !== "tb") return { kind: "tb", at: now, level: cap };
    if (now <= s.at) return { kind: "tb", at: s.at, level: Math.min(s.level, cap) };
    return { kind: "tb", at: now, level: Math.min(cap, s.level + (now - s.at) * config.limit) };
  }
  const g = windowStart(now, I);
  if (config.algorithm === "fixed-window") {
    if (s?.kind !== "fw" || s.start < g) return { kind: "fw", start: g, count: 0 };
    return { kind: "fw", start: s.start, count: s.count };
  }
  if (s?.kind !== "sw") return { kind: "sw", start: g, count: 0, previous: 0 };
  if (s.start >= g) return { kind: "sw", start: s.start, count: s.count, previous: s.previous };
  return { kind: "sw", start: g, count: 0, previous: s.start === g - I ? s.count : 0 };
}

/**
 * @internal Whether a state brought to `now` is a fresh one (full bucket,
 * empty windows). A window reserved ahead is not: the current one is full.
 */
export function isFresh(s: LimitState, config: RateLimitConfig, now: number): boolean {
  if (s.kind === "tb") return s.at <= now && s.level >= capacity(config) * config.interval;
  return s.start <= now && s.count === 0 && (s.kind === "fw" || s.previous === 0);
}

/** Sliding window: whether `cost` fits at `t` (`start <= t < start + interval`). */
function fitsSliding(
  s: { start: number; count: number; previous: number },
  L: number,
  I: number,
  cost: number,
  t: number,
): boolean {
  return s.previous * (I - (t - s.start)) + (s.count + cost) * I <= L * I;
}

/**
 * The earliest time at or after `now` when `cost` permits fit in `s` (which
 * `advance` brought to `now`), with nothing else taken meanwhile.
 */
function earliest(s: LimitState, config: RateLimitConfig, cost: number, now: number): number {
  const L = config.limit;
  const I = config.interval;
  if (s.kind === "tb") {
    const need = cost * I;
    const t = Math.max(now, s.at);
    return s.level >= need ? t : t + ceilDiv(need - s.level, L);
  }
  const t0 = Math.max(now, s.start);
  if (s.kind === "fw") return s.count + cost <= L ? t0 : s.start + I;
  if (fitsSliding(s, L, I, cost, t0)) return t0;
  // Later in this window: previous × (I − e) <= (L − count − cost) × I.
  const room = (L - s.count - cost) * I;
  if (room >= 0 && s.previous > 0) {
    const e = I - floorDiv(room, s.previous);
    if (e < I) return Math.max(t0, s.start + e);
  }
  // In the next window, where this window's count weighs as the previous one.
  const next = s.start + I;
  const e = s.count === 0 ? 0 : Math.max(0, I - floorDiv((L - cost) * I, s.count));
  return next + e; // (e = I: the window after, where nothing weighs)
}

/**
 * The state with `cost` permits taken at `t` (a time `earliest` gave). Changes
 * `s` itself: it is `advance`'s fresh copy.
 */
function taken(s: LimitState, config: RateLimitConfig, cost: number, t: number): LimitState {
  const I = config.interval;
  if (s.kind === "tb") {
    // Taken at t: the bucket refills (capped) until then, and the state is dated t, so a
    // reservation rounded up to whole ms wastes no refill it did not use.
    if (t > s.at) {
      s.level = Math.min(capacity(config) * I, s.level + (t - s.at) * config.limit);
      s.at = t;
    }
    s.level -= cost * I;
    return s;
  }
  const W = windowStart(t, I);
  if (W !== s.start) {
    if (s.kind === "sw") s.previous = W === s.start + I ? s.count : 0;
    s.start = W;
    s.count = 0;
  }
  s.count += cost;
  return s;
}

/** The state with a reservation for `at` given back. */
function refunded(s: LimitState, config: RateLimitConfig, cost: number, at: number): LimitState {
  if (s.kind === "tb") {
    const cap = capacity(config) * config.interval;
    return { kind: "tb", at: s.at, level: Math.min(cap, s.level + cost * config.interval) };
  }
  const W = windowStart(at, config.interval);
  if (s.start === W) return { ...s, count: Math.max(0, s.count - cost) };
  if (s.kind === "sw" && s.start === W + config.interval) {
    return { ...s, previous: Math.max(0, s.previous - cost) };
  }
  return s; // its window is over: nothing to give back
}

// What `describe` found (module variables: no array per answer).
let remainingNow = 0;
let untilFresh = 0;

/** Remaining permits of cost 1 at `now` and time until fresh, for the answer. */
function describe(s: LimitState, config: RateLimitConfig, now: number): void {
  const L = config.limit;
  const I = config.interval;
  if (s.kind === "tb") {
    const cap = capacity(config) * I;
    remainingNow = s.level > 0 && s.at <= now ? floorDiv(s.level, I) : 0;
    untilFresh = Math.max(0, s.at - now) + ceilDiv(cap - s.level, L);
  } else if (s.start > now) {
    // The current window is full (a reservation moved the state ahead).
    remainingNow = 0;
    untilFresh = s.start + I - now;
  } else if (s.kind === "fw") {
    remainingNow = Math.max(0, L - s.count);
    untilFresh = s.count > 0 ? s.start + I - now : 0;
  } else {
    const free = L * I - s.previous * (I - (now - s.start)) - s.count * I;
    remainingNow = Math.max(0, floorDiv(free, I));
    untilFresh = s.count > 0 ? s.start + 2 * I - now : s.previous > 0 ? s.start + I - now : 0;
  }
}

/**
 * Applies one request to a key's state at `now`: the limiter's whole
 * algorithm, pure (returns a new state; the input is not changed). A denied
 * take, a peek and a reservation's refund of a finished window consume
 * nothing. A state of another algorithm (or `undefined`) counts as fresh.
 *
 * - Token bucket: `burst` tokens, refilled at `limit` per `interval`.
 * - Fixed window: at most `limit` per window of the epoch grid
 *   (`[k × interval, (k + 1) × interval)`); bursts of up to `2 × limit` across
 *   a window boundary.
 * - Sliding window (the weighted two-window approximation): admits when
 *   `previous × (1 − elapsed / interval) + count + cost <= limit`. Its error
 *   bound: no grid window ever admits more than `limit`, and any span of
 *   `interval` ms admits fewer than `2 × limit` (the worst case: the previous
 *   window's permits all taken at its very end); with requests spread evenly
 *   it is exact.
 *
 * `cost` must be an integer from 1 to the capacity (else a `RangeError`).
 *
 * @example
 * ```ts
 * import { takePermits } from "edge-resilience";
 *
 * const config = { algorithm: "token-bucket" as const, limit: 2, interval: 1_000 };
 * let r = takePermits(undefined, { cost: 2 }, config, 0);
 * console.log(r.answer.allowed, r.answer.remaining); // true 0
 * r = takePermits(r.state, { cost: 1 }, config, 100);
 * console.log(r.answer.allowed, r.answer.retryAfter); // false 400
 * ```
 */
export function takePermits(
  state: LimitState | undefined,
  request: TakeRequest,
  config: RateLimitConfig,
  now: number,
): TakePermitsResult {
  const cost = request.cost;
  const cap = capacity(config);
  if (!Number.isSafeInteger(cost) || cost < 1 || cost > cap) {
    throw new RangeError(
      `rate limit: cost must be an integer from 1 to ${cap}, got ${String(cost)}`,
    );
  }
  if (request.reset) state = undefined;
  const s = advance(state, config, now);
  if (request.refund !== undefined) {
    const r = refunded(s, config, cost, request.refund);
    return result(r, config, now, false, 0, now, 0);
  }
  const t = earliest(s, config, cost, now);
  const wait = t - now;
  if (request.peek || request.reset) {
    // A peek leaves the state as it was (a fresh key keeps no entry).
    describe(s, config, now);
    return {
      state: request.reset ? undefined : state,
      answer: {
        allowed: wait === 0,
        limit: config.limit,
        remaining: remainingNow,
        resetAfter: untilFresh,
        retryAfter: Math.ceil(wait),
      },
      at: t,
      granted: 0,
    };
  }
  if (wait === 0) {
    let n = cost;
    const upTo = request.upTo;
    if (upTo !== undefined && upTo > cost) {
      describe(s, config, now); // what fits now: at least `cost`, as it fits
      n = Math.min(upTo, cap, remainingNow);
    }
    return result(taken(s, config, n, t), config, now, true, 0, t, n);
  }
  const maxWait = request.maxWait ?? 0;
  if (wait <= maxWait) {
    return result(taken(s, config, cost, t), config, now, true, wait, t, cost);
  }
  return result(state, config, now, false, wait, t, 0, s);
}

function result(
  next: LimitState | undefined,
  config: RateLimitConfig,
  now: number,
  allowed: boolean,
  wait: number,
  at: number,
  granted: number,
  view: LimitState = next!,
): TakePermitsResult {
  describe(view, config, now);
  return {
    state: next !== undefined && isFresh(next, config, now) ? undefined : next,
    answer: {
      allowed,
      limit: config.limit,
      remaining: remainingNow,
      resetAfter: untilFresh,
      retryAfter: Math.ceil(wait),
    },
    at,
    granted,
  };
}
