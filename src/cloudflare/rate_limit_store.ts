import { type Clock, systemClock } from "../clock.ts";
import type { RateLimitConfig, TakeAnswer } from "../rate_limit/algorithms.ts";
import type { RateLimitOp } from "../rate_limit/reducer.ts";
import type { RateLimitStore } from "../rate_limit/store_port.ts";
import { checkKnownOptions, checkNumber, checkObject, optionNames } from "../validate.ts";

/** Cloudflare's Rate Limiting binding (structural: the one method used). */
export interface RateLimitBindingLike {
  /** Counts one request of `key`; `success: false` when over the binding's limit. */
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/** Options of {@linkcode cloudflareRateLimitStore}: the binding's own `simple` settings. */
export interface CloudflareRateLimitStoreOptions {
  /** The binding's `simple.limit`: requests per period. Integer >= 1. Required. */
  limit: number;
  /** The binding's `simple.period`, in seconds: 10 or 60. Required. */
  period: number;
  /** Time source (the position in the period). */
  clock?: Clock;
}

const W = "cloudflareRateLimitStore";
const OPTIONS = optionNames<CloudflareRateLimitStoreOptions>({ limit: 1, period: 1, clock: 1 });

/**
 * A rate limiter's store backed by Cloudflare's
 * [Rate Limiting binding](https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/)
 * (`[[ratelimits]]` in wrangler.toml): no Durable Object, no storage, a
 * counter Cloudflare keeps per location. The binding is configured in
 * wrangler.toml and answers only `{ success }`, so:
 *
 * - the limiter must say what the binding does: `algorithm: "fixed-window"`,
 *   `limit` equal to its `simple.limit`, `interval` equal to its
 *   `simple.period` (10 or 60 s) — anything else is refused at construction
 *   with a `TypeError` naming `store`;
 * - `remaining` is not known: an admitted take reports `limit − cost` (an
 *   upper bound), a denied one 0, and `routeRateLimiter` sends no `RateLimit`
 *   field on admitted responses (only `RateLimit-Policy`; on a 429,
 *   `r=0`);
 * - `resetAfter` and `retryAfter` assume periods on the epoch grid (as
 *   miniflare counts; Cloudflare does not document its alignment);
 * - a take of cost `n` is `n` calls of the binding (those that succeeded
 *   stay counted when a later one fails); `peek` answers without calling it
 *   (the binding cannot look without counting) and `reset` cannot clear it
 *   (only this isolate's caches are forgotten).
 *
 * Cloudflare counts per location and documents the counts as approximate:
 * use it for abuse limits, a Durable Object (`durableObjectStore`) for
 * exact quotas. A binding error counts as a store outage (see
 * `storeOptions.whenUnavailable`).
 *
 * @example 100 requests per minute per client address, counted by Cloudflare
 * ```ts
 * import { Hono, type MiddlewareHandler } from "hono";
 * import { cloudflareRateLimitStore, type RateLimitBindingLike } from "edge-resilience/cloudflare";
 * import { ipKey, routeRateLimiter } from "edge-resilience/hono";
 *
 * // wrangler.toml:
 * //   [[ratelimits]]
 * //   name = "API_LIMIT"
 * //   namespace_id = "1001"
 * //   simple = { limit = 100, period = 60 }
 * type Env = { Bindings: { API_LIMIT: RateLimitBindingLike } };
 *
 * const app = new Hono<Env>();
 * let limit: MiddlewareHandler | undefined; // one per isolate, made at its first request
 * app.use("/api/*", (c, next) => {
 *   limit ??= routeRateLimiter({
 *     name: "api",
 *     algorithm: "fixed-window",
 *     limit: 100,
 *     interval: 60_000,
 *     key: (c) => ipKey(c.req.header("cf-connecting-ip") ?? "anon"),
 *     store: cloudflareRateLimitStore(c.env.API_LIMIT, { limit: 100, period: 60 }),
 *   });
 *   return limit(c, next);
 * });
 * ```
 */
export function cloudflareRateLimitStore(
  binding: RateLimitBindingLike,
  options: CloudflareRateLimitStoreOptions,
): RateLimitStore {
  if (!binding || typeof (binding as Partial<RateLimitBindingLike>).limit !== "function") {
    throw new TypeError(`${W}: expected a Rate Limiting binding (with limit({ key }))`);
  }
  checkObject(W, "options", options);
  if (options === undefined) {
    throw new TypeError(`${W}: options 'limit' and 'period' (the binding's own) are required`);
  }
  checkKnownOptions(W, options, OPTIONS);
  const limit = checkNumber(W, "limit", options.limit, undefined, 1, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  if (options.period !== 10 && options.period !== 60) {
    throw new RangeError(
      `${W}: option 'period' must be 10 or 60 (seconds: the only periods Cloudflare accepts), got ${
        JSON.stringify(options.period)
      }`,
    );
  }
  const period = options.period * 1000;
  const clock = options.clock ?? systemClock;
  const answer = (allowed: boolean, remaining: number): TakeAnswer => {
    const left = period - (clock.wallNow() % period);
    return { allowed, limit, remaining, resetAfter: left, retryAfter: allowed ? 0 : left };
  };
  return {
    kind: "authoritative",
    knowsRemaining: false,
    checkConfig(config: RateLimitConfig) {
      const wrong = config.algorithm !== "fixed-window"
        ? `algorithm is ${JSON.stringify(config.algorithm)}, not "fixed-window"`
        : config.limit !== limit
        ? `limit is ${config.limit}, the binding's is ${limit}`
        : config.interval !== period
        ? `interval is ${config.interval} ms, the binding's period is ${period} ms`
        : undefined;
      if (wrong !== undefined) {
        throw new TypeError(
          `${W} counts what its binding is configured for (fixed-window, ${limit} per ${
            period / 1000
          } s): the limiter's ${wrong}`,
        );
      }
    },
    async run(key: string, op: RateLimitOp): Promise<TakeAnswer> {
      const { cost, peek, reset, refund } = op.request;
      if (peek || reset || refund !== undefined) return answer(true, limit);
      for (let i = 0; i < cost; i++) {
        const r = await binding.limit({ key });
        if (typeof r !== "object" || r === null || typeof r.success !== "boolean") {
          throw new TypeError("malformed answer from the Rate Limiting binding");
        }
        if (!r.success) return answer(false, 0);
      }
      return answer(true, limit - cost);
    },
  };
}
