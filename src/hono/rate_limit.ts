import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { systemClock } from "../clock.ts";
import { RateLimitedError } from "../errors.ts";
import type { HealthCheck } from "../health_check.ts";
import type { TakeAnswer } from "../rate_limit/algorithms.ts";
import { type RateLimiter, rateLimiter, type RateLimiterOptions } from "../rate_limit/limiter.ts";
import { checkFunction, checkKnownOptions, checkObject, optionNames } from "../validate.ts";
import { userKey } from "./route_group.ts";
import { problemResponse } from "./problem.ts";

/** Which rate-limit header fields a response carries. */
export type RateLimitHeaders = "draft-11" | "draft-7" | "draft-6" | "none";

/** Options of {@linkcode routeRateLimiter}. */
export interface RouteRateLimiterOptions extends Omit<RateLimiterOptions, "maxWait" | "store"> {
  /**
   * The client's key. **Required** (the platform is not known when the
   * middleware is built): e.g. `ipKey(c.req.header("cf-connecting-ip") ?? "unknown")`
   * on Workers, `ipKey(getConnInfo(c).remote.address ?? "")` on Node, Deno and
   * Bun, or a user or API-key id. Passed through `safeKey` before it reaches a
   * store, a log or a header.
   */
  key: (c: Context) => string | Promise<string>;
  /** Permits a request takes (default 1): e.g. heavier for a search. */
  cost?: (c: Context) => number | Promise<number>;
  /** Requests not counted (health probes, allow-listed clients); they carry no headers. */
  skip?: (c: Context) => boolean | Promise<boolean>;
  /**
   * An authoritative shared store (see `rateLimiter`); Workers KV is refused.
   * Its keys are `<storeKey>:<name>:<key>` (`storeKey` default `"route"`).
   */
  store?: RateLimiterOptions["store"];
  /**
   * The header fields: `"draft-11"` (default: `RateLimit-Policy` and
   * `RateLimit` of draft-ietf-httpapi-ratelimit-headers-11), `"draft-7"`
   * (combined `RateLimit: limit=…, remaining=…, reset=…`), `"draft-6"`
   * (`RateLimit-Limit`, `-Remaining`, `-Reset`), or `"none"`.
   */
  headers?: RateLimitHeaders;
  /**
   * Draft-11 only: add the partition key `pk`, a hash of the key (never the
   * key itself: it may be an address or a user id). Default false.
   */
  partitionKey?: boolean;
  /** The answer to a limited request. Default: 429 problem+json with `Retry-After`. */
  fallback?: (c: Context, error: RateLimitedError) => Response | Promise<Response>;
  /**
   * Registers a non-critical check `rateLimiter:<name>` on this `HealthCheck`:
   * degraded while the limiter is refusing requests (one within the last 10
   * s), with its stats as details.
   */
  health?: HealthCheck;
}

/** A route rate limiter middleware, with its limiter (for stats). */
export type RouteRateLimiter = MiddlewareHandler & { readonly limiter: RateLimiter };

const W = "routeRateLimiter";
const OPTIONS = optionNames<RouteRateLimiterOptions>({
  limit: 1,
  interval: 1,
  algorithm: 1,
  burst: 1,
  key: 1,
  cost: 1,
  skip: 1,
  name: 1,
  clock: 1,
  logger: 1,
  maxKeys: 1,
  store: 1,
  storeKey: 1,
  storeOptions: 1,
  onStoreStatus: 1,
  headers: 1,
  partitionKey: 1,
  fallback: 1,
  health: 1,
});
const HEADERS = ["draft-11", "draft-7", "draft-6", "none"];
const QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded";
/** How long after its last refusal a limiter still reports degraded. */
const LIMITING_MS = 10_000;

/** Seconds for a header: whole, rounded up. */
const seconds = (ms: number) => Math.ceil(ms / 1000);

/** The partition key: a hash of the key as an sf byte sequence (16 bytes of SHA-256). */
async function partition(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return `:${btoa(String.fromCharCode(...new Uint8Array(digest, 0, 16)))}:`;
}

/**
 * Rate limiting for routes: each request takes `cost(c)` permits (default 1)
 * from the limit of its `key(c)`; over the limit it gets 429
 * `application/problem+json` (problem type `quota-exceeded`,
 * `violated-policies`, `retryAfter` in seconds) with `Retry-After` in whole
 * seconds (>= 1), without running the rest of the chain. Every counted
 * response, allowed or limited, carries the fields of
 * draft-ietf-httpapi-ratelimit-headers-11:
 *
 * - `RateLimit-Policy: "<name>";q=<limit>;w=<interval in s>` — `w` is whole
 *   seconds, rounded up: a sub-second interval cannot be expressed.
 * - `RateLimit: "<name>";r=<remaining>;t=<seconds until reset>`.
 *
 * One limiter per middleware instance (exposed as `.limiter`); share the
 * instance to share the limit across routes, give it a `store` to share it
 * across isolates.
 *
 * @example 100 requests per minute per client address on Workers
 * ```ts
 * import { Hono } from "hono";
 * import { ipKey, routeRateLimiter } from "edge-resilience/hono";
 *
 * const app = new Hono();
 * app.use(
 *   "/api/*",
 *   routeRateLimiter({
 *     name: "api",
 *     limit: 100,
 *     interval: 60_000,
 *     key: (c) => ipKey(c.req.header("cf-connecting-ip") ?? "unknown"),
 *   }),
 * );
 * app.get("/api/items", (c) => c.json({ items: [] }));
 * ```
 */
export function routeRateLimiter(options: RouteRateLimiterOptions): RouteRateLimiter {
  checkKnownOptions(W, options, OPTIONS);
  if (options === undefined || typeof options.key !== "function") {
    throw new TypeError(
      `${W}: option 'key' is required: a function of the request giving the client's key (e.g. ipKey(c.req.header("cf-connecting-ip") ?? "unknown") on Workers); no default, as no header is trustworthy everywhere`,
    );
  }
  const {
    key,
    cost,
    skip,
    headers = "draft-11",
    partitionKey = false,
    fallback,
    health,
    ...limiterOptions
  } = options;
  checkFunction(W, "cost", cost);
  checkFunction(W, "skip", skip);
  checkFunction(W, "fallback", fallback);
  checkObject(W, "health", health);
  if (health !== undefined && typeof health.register !== "function") {
    throw new TypeError(`${W}: option 'health' must be a HealthCheck`);
  }
  if (!HEADERS.includes(headers)) {
    throw new TypeError(`${W}: option 'headers' must be one of ${HEADERS.join(", ")}`);
  }
  if (typeof partitionKey !== "boolean") {
    throw new TypeError(`${W}: option 'partitionKey' must be a boolean`);
  }
  const name = limiterOptions.name ?? "route";
  if (headers === "draft-11" && !/^[\x20-\x7e]+$/.test(name)) {
    throw new TypeError(
      `${W}: option 'name' must be printable ASCII (it is the policy's name in RateLimit headers)`,
    );
  }
  // Store keys: `<storeKey>:<name>:<key>`, so limiters of different names never share a count.
  const storeKey = limiterOptions.store
    ? `${limiterOptions.storeKey ?? "route"}:${name}`
    : limiterOptions.storeKey;
  const limiter = rateLimiter({ ...limiterOptions, name, storeKey });
  const { limit, interval } = limiter.config;
  const sfName = `"${name.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
  const policyField = headers === "draft-11"
    ? `${sfName};q=${limit};w=${seconds(interval)}`
    : `${limit};w=${seconds(interval)}`;
  // When the middleware last refused a request, on the limiter's clock (set as it refuses).
  const clock = limiterOptions.clock ?? systemClock;
  let lastRefusal: number | undefined;
  if (health) {
    health.register(`rateLimiter:${name}`, () => {
      const stats = limiter.getStats();
      const now = clock.now();
      const limiting = lastRefusal !== undefined && now - lastRefusal < LIMITING_MS;
      return {
        healthy: true,
        degraded: limiting,
        message: limiting
          ? `limiting: ${stats.limited} request${stats.limited === 1 ? "" : "s"} refused so far`
          : "ok",
        ...stats,
      };
    }, { critical: false });
  }

  // A store that cannot tell the permits left (Cloudflare's Rate Limiting binding): admitted
  // responses carry the policy only (`remaining` is required where it appears); a 429 has 0 left.
  const knowsRemaining = limiterOptions.store?.knowsRemaining !== false;

  /** The header fields of an answer. */
  const fields = async (k: string, a: TakeAnswer): Promise<[string, string][]> => {
    const reset = seconds(a.resetAfter);
    const known = knowsRemaining || !a.allowed;
    switch (headers) {
      case "draft-11": {
        const pk = partitionKey ? `;pk=${await partition(k)}` : "";
        const policy: [string, string] = ["RateLimit-Policy", policyField + pk];
        if (!known) return [policy];
        return [policy, ["RateLimit", `${sfName};r=${a.remaining};t=${reset}${pk}`]];
      }
      case "draft-7":
        if (!known) return [["RateLimit-Policy", policyField]];
        return [
          ["RateLimit-Policy", policyField],
          ["RateLimit", `limit=${a.limit}, remaining=${a.remaining}, reset=${reset}`],
        ];
      case "draft-6":
        return [
          ["RateLimit-Policy", policyField],
          ["RateLimit-Limit", String(a.limit)],
          ...(known ? [["RateLimit-Remaining", String(a.remaining)] as [string, string]] : []),
          ["RateLimit-Reset", String(reset)],
        ];
      default:
        return [];
    }
  };

  const mw = createMiddleware(async (c, next) => {
    if (skip && await skip(c)) return await next();
    const k = userKey(W, await key(c));
    const a = await limiter.take(k, cost ? await cost(c) : 1);
    const f = await fields(k, a);
    if (a.allowed) {
      await next();
      for (const [h, v] of f) c.header(h, v);
      return;
    }
    lastRefusal = clock.now();
    const error = RateLimitedError.fast(name, k, a.retryAfter, a.limit);
    const retryAfter = Math.max(1, seconds(a.retryAfter));
    let res: Response;
    if (fallback) res = await fallback(c, error);
    else {
      res = problemResponse({
        type: QUOTA_EXCEEDED,
        title: "Too Many Requests",
        status: 429,
        detail: `Rate limit '${name}' exceeded: ${limit} request${limit === 1 ? "" : "s"} per ${
          interval / 1000
        }s. Retry in ${retryAfter}s.`,
        "violated-policies": [name],
        limiter: name,
        retryAfter,
      }, { "retry-after": String(retryAfter) });
    }
    c.res = res;
    for (const [h, v] of f) c.header(h, v);
    return c.res;
  });
  return Object.assign(mw, { limiter });
}
