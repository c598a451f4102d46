/**
 * The rate limit as a store operation: what an authoritative store (Durable
 * Object, Deno KV, MemoryStore) runs atomically on a key's entry — read the
 * stored value, repair it if unreadable, bound it for clock skew, apply the
 * request with {@linkcode takePermits}, write the new value when it changed.
 *
 * @module
 */

import {
  capacity,
  checkRateLimitConfig,
  type LimitState,
  type RateLimitConfig,
  type TakeAnswer,
  takePermits,
  type TakeRequest,
  windowStart,
} from "./algorithms.ts";

/** The operation a rate limiter sends its store: one request for one key. */
export interface RateLimitOp {
  /** The operation's type in the store protocol. */
  type: "rate";
  /** What is asked (a take, a peek, a reset or a refund). */
  request: TakeRequest;
  /** The limiter's algorithm and limits (checked by the store). */
  config: RateLimitConfig;
}

/** A stored entry as read by {@linkcode readStoredLimit}. */
export interface StoredLimit {
  /** The state (`undefined`: fresh). */
  state: LimitState | undefined;
  /** Set when the stored value was unreadable and replaced by a fresh state: why. */
  repaired?: string;
}

/**
 * How far in the future a stored time may lie (clock skew between the
 * instances and the store, or a corrupt entry): `min(interval, 5000)` ms.
 *
 * @example
 * ```ts
 * import { rateLimitSkew } from "edge-resilience";
 *
 * console.log(rateLimitSkew(60_000)); // 5000
 * ```
 */
export function rateLimitSkew(interval: number): number {
  return Math.min(interval, 5000);
}

/** The longest `maxWait`: what a timer can hold. */
const MAX_WAIT = 2_147_483_647;
const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);
const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * Reads a stored entry for a limiter with `config`: `undefined`/`null` is a
 * fresh state; a value that is not a state of this algorithm (corrupt,
 * another version's, a window not on this interval's grid) is **repaired**: a
 * fresh state, with `repaired` saying why (the store then writes it, and the
 * limiter logs it once, then aggregated: one line with the count per repeat interval).
 *
 * @example
 * ```ts
 * import { readStoredLimit } from "edge-resilience";
 *
 * const config = { algorithm: "fixed-window" as const, limit: 5, interval: 1_000 };
 * console.log(readStoredLimit("{garbage", config).repaired); // "malformed rate limit state"
 * ```
 */
export function readStoredLimit(raw: unknown, config: RateLimitConfig): StoredLimit {
  if (raw === undefined || raw === null) return { state: undefined };
  const r = raw as Record<string, unknown>;
  const I = config.interval;
  const ok = typeof r === "object" && (
    config.algorithm === "token-bucket"
      ? r.kind === "tb" && num(r.at) && (r.at as number) >= 0 && num(r.level)
      : (r.kind === (config.algorithm === "fixed-window" ? "fw" : "sw") && count(r.start) &&
        (r.start as number) % I === 0 && count(r.count) &&
        (r.kind === "fw" || count(r.previous)))
  );
  if (!ok) return { state: undefined, repaired: "malformed rate limit state" };
  const state =
    (r.kind === "tb"
      ? { kind: "tb", at: r.at, level: r.level }
      : r.kind === "fw"
      ? { kind: "fw", start: r.start, count: r.count }
      : { kind: "sw", start: r.start, count: r.count, previous: r.previous }) as LimitState;
  return { state };
}

/**
 * Bounds a state read from a store at `now` (epoch ms): a time further in the
 * future than {@linkcode rateLimitSkew} plus one `interval` (a reservation's
 * `maxWait` is at most `interval`) is brought back, and a bucket's level to
 * `[−limit, burst]` tokens (a reservation's debt is at most `limit` tokens,
 * as `maxWait <= interval`). So no stored state blocks a key longer than
 * `interval + skew` past what its own permits explain. Pure: returns a copy.
 *
 * @example
 * ```ts
 * import { boundLimitState } from "edge-resilience";
 *
 * const config = { algorithm: "token-bucket" as const, limit: 5, interval: 1_000 };
 * console.log(boundLimitState({ kind: "tb", at: 1e15, level: 0 }, config, 0)); // { kind: "tb", at: 2000, level: 0 }
 * ```
 */
export function boundLimitState(
  s: LimitState,
  config: RateLimitConfig,
  now: number,
): LimitState {
  const skew = rateLimitSkew(config.interval);
  const I = config.interval;
  if (s.kind === "tb") {
    const level = Math.max(-config.limit * I, Math.min(s.level, capacity(config) * I));
    // (A reservation lies at most maxWait ahead: at most an interval, and a timer's range.)
    return { kind: "tb", at: Math.min(s.at, now + Math.min(I, MAX_WAIT) + skew), level };
  }
  const latest = windowStart(now + skew, I) + I;
  if (s.start <= latest) return { ...s };
  return { ...s, start: windowStart(now, I) };
}

/**
 * The rate limit's reducer in the store protocol: from the stored value, an
 * operation and the store's time, the value to store, the answer, and
 * whether to write. Pure. Throws a `TypeError` for a malformed operation
 * (the store reports it; the limiter counts it as a store fault).
 *
 * - A denied take or a peek writes nothing (unless the entry was repaired,
 *   or bounded by {@linkcode boundLimitState}: the bounded state is saved).
 * - A state equal to a fresh one is stored as `undefined` (the store may
 *   delete the entry).
 * - The answer carries `repaired` (why the stored value was replaced), for a
 *   reservation `at` (when its permits may be used, store time), and for a
 *   batch (`upTo`) `granted` (how many permits were taken).
 *
 * @example
 * ```ts
 * import { rateLimitReducer } from "edge-resilience";
 *
 * const entries = new Map<string, unknown>();
 * const op = {
 *   type: "rate" as const,
 *   request: { cost: 1 },
 *   config: { algorithm: "sliding-window" as const, limit: 10, interval: 60_000 },
 * };
 * const r = rateLimitReducer(entries.get("api:alice"), op, Date.now());
 * if (r.write) entries.set("api:alice", r.value);
 * console.log(r.answer.allowed, r.answer.remaining); // true 9
 * ```
 */
export function rateLimitReducer(
  stored: unknown,
  op: RateLimitOp,
  now: number,
): {
  value: unknown;
  answer: TakeAnswer & { repaired?: string; at?: number; granted?: number };
  write: boolean;
} {
  const o = op as Partial<RateLimitOp> | null;
  if (typeof o !== "object" || o === null || o.type !== "rate") {
    throw new TypeError("malformed rate limit operation");
  }
  const config = checkRateLimitConfig(o.config);
  const request = checkRequest(o.request, config);
  if (!num(now)) throw new TypeError("rate limit: now must be a finite number");
  const read = readStoredLimit(stored, config);
  const state = read.state && boundLimitState(read.state, config, now);
  // A stored time too far ahead (or a level out of range) is bounded AND saved: a denial or a
  // peek then writes the bounded state, so the entry stops blocking the key (other readers too).
  const bounded = read.state !== undefined && !sameState(read.state, state!);
  const r = takePermits(state, request, config, now);
  const answer: TakeAnswer & { repaired?: string; at?: number; granted?: number } = r.answer;
  if (read.repaired !== undefined) answer.repaired = read.repaired;
  // A reservation (maxWait): when, in the store's time, so that a refund finds its window.
  if (answer.allowed && answer.retryAfter > 0) answer.at = r.at;
  // A batch (upTo): how many permits were taken.
  if (request.upTo !== undefined) answer.granted = r.granted;
  // A peek or a denial returns the state it was given: the entry stays as it was.
  return {
    value: r.state,
    answer,
    write: r.state !== state || read.repaired !== undefined || bounded,
  };
}

/** Whether two states of one algorithm hold the same numbers. */
function sameState(a: LimitState, b: LimitState): boolean {
  if (a.kind === "tb") {
    const t = b as typeof a;
    return a.at === t.at && a.level === t.level;
  }
  const w = b as typeof a & { previous?: number };
  return a.start === w.start && a.count === w.count &&
    (a as { previous?: number }).previous === w.previous;
}

/**
 * @internal How long (ms from `now`) a stored state must be kept: until it
 * equals a fresh one (a bucket refilled, a window and the one after it past),
 * plus {@linkcode rateLimitSkew} for an instance whose clock is behind. A
 * store that expires entries (Redis, Deno KV) keeps a written state at least
 * this long (or its `expireIn`, when longer), so an expiry never restarts a
 * limit. A denial writes nothing and needs no more: the state it leaves is
 * the one written, whose life was counted then.
 */
export function rateLimitLife(s: LimitState, config: RateLimitConfig, now: number): number {
  const I = config.interval;
  const until = s.kind === "tb"
    ? Math.max(0, s.at - now) + Math.ceil((capacity(config) * I - s.level) / config.limit)
    : s.start + (s.kind === "fw" ? I : 2 * I) - now;
  return Math.ceil(Math.max(0, until)) + rateLimitSkew(I);
}

/** @internal Checks a request as a store receives it (also the Redis store's, before its script). */
export function checkRequest(request: unknown, config: RateLimitConfig): TakeRequest {
  const q = request as Partial<TakeRequest> | null;
  if (
    typeof q !== "object" || q === null || !count(q.cost) || q.cost! < 1 ||
    q.cost! > capacity(config) ||
    (q.peek !== undefined && typeof q.peek !== "boolean") ||
    (q.reset !== undefined && typeof q.reset !== "boolean") ||
    (q.maxWait !== undefined &&
      !(num(q.maxWait) && q.maxWait! >= 0 && q.maxWait! <= config.interval)) ||
    (q.refund !== undefined && !num(q.refund)) ||
    (q.upTo !== undefined &&
      (!count(q.upTo) || q.upTo! < q.cost! || q.upTo! > capacity(config) || q.maxWait))
  ) {
    throw new TypeError("malformed rate limit request");
  }
  const r: TakeRequest = { cost: q.cost! };
  if (q.peek) r.peek = true;
  if (q.reset) r.reset = true;
  if (q.maxWait) r.maxWait = q.maxWait;
  if (q.refund !== undefined) r.refund = q.refund;
  if (q.upTo !== undefined) r.upTo = q.upTo;
  return r;
}
