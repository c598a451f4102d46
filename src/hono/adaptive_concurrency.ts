import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { AdaptiveConcurrencyRejectedError } from "../adaptive/errors.ts";
import {
  adaptiveConcurrency,
  type AdaptiveConcurrencyOptions,
  type AdaptiveConcurrencyPolicy,
  adaptiveSettings,
} from "../adaptive/policy.ts";
import { systemClock } from "../clock.ts";
import type { HealthCheck } from "../health_check.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  optionNames,
} from "../validate.ts";
import { safeKey, userKey } from "./route_group.ts";
import { problemResponse } from "./problem.ts";

/** Options of {@linkcode routeAdaptiveConcurrency}. */
export interface RouteAdaptiveConcurrencyOptions extends AdaptiveConcurrencyOptions {
  /**
   * Which limiter a request belongs to; default: one limiter for every
   * request through this middleware. Return, say, the tenant or the upstream
   * to learn one limit per key (keys are shortened by `safeKey` in names).
   * Anything but a non-empty string fails the request with a `TypeError`
   * naming `key`, as `routeRateLimiter`'s does. Keys show in limiter names
   * (logs, 503 bodies, health details, metrics): never derive one from a
   * secret (a token, a cookie); use a tenant id or an upstream host.
   */
  key?: (c: Context) => string;
  /**
   * How many per-key limiters are kept (default 1,000). Beyond it the least
   * recently used idle one is dropped (or, when none is idle, the least
   * recently used: its running requests still end normally).
   */
  maxKeys?: number;
  /** Seconds in the `Retry-After` header of the 503 answer. Integer >= 0. Default 1. */
  retryAfter?: number;
  /**
   * The answer when a request is shed. Default: 503 with `Retry-After` and an
   * RFC 9457 problem body.
   */
  fallback?: (c: Context, error: AdaptiveConcurrencyRejectedError) => Response | Promise<Response>;
  /**
   * Registers a non-critical check `adaptive:<name>` on this `HealthCheck`:
   * degraded while shedding (a request was refused within the last 10 s),
   * with the limiters' figures as details.
   */
  health?: HealthCheck;
}

/** A route adaptive concurrency middleware, with its limiters. */
export type RouteAdaptiveConcurrency = MiddlewareHandler & {
  /** The limiter of `key` (without a `key` option: of every request, whatever is passed). */
  limiter(key?: string): AdaptiveConcurrencyPolicy | undefined;
  /** The keys of the limiters held now, least recently used first. */
  keys(): string[];
};

const W = "routeAdaptiveConcurrency";
const OPTIONS = optionNames<RouteAdaptiveConcurrencyOptions>({
  initialLimit: 1,
  minLimit: 1,
  maxLimit: 1,
  algorithm: 1,
  maxQueue: 1,
  queueTimeout: 1,
  sampleWindow: 1,
  minSamples: 1,
  probeInterval: 1,
  name: 1,
  clock: 1,
  logger: 1,
  onLimitChange: 1,
  key: 1,
  maxKeys: 1,
  retryAfter: 1,
  fallback: 1,
  health: 1,
});
/** How long after its last refusal the middleware still reports degraded. */
const SHEDDING_MS = 10_000;

/** Thrown through the limiter for a request answered with a timeout (a congestion sample). */
const ANSWERED_TIMEOUT = Object.freeze({ name: "TimeoutError", answered: true });

/** A timeout, told by its fields (`ResilienceTimeoutError`, `TimeoutError`). */
function isTimeout(e: unknown): boolean {
  const o = e as { name?: unknown; timeout?: unknown; operation?: unknown } | null | undefined;
  return o?.name === "TimeoutError" ||
    (typeof o?.timeout === "number" && typeof o.operation === "string");
}

/**
 * Adaptive concurrency for routes: requests run the rest of the chain while
 * fewer than the learned limit are in flight (see `adaptiveConcurrency`); the
 * others wait in the optional queue or get 503 with `Retry-After` and an
 * RFC 9457 `application/problem+json` body, without running the handler. Each
 * request's latency is a sample; a request that ended in a timeout (a
 * timeout error Hono handled, or a 504 answer such as `routeTimeout`'s) is a
 * congestion signal; a
 * client that disconnects while queued leaves the queue at once (499, no
 * sample), and so does a request an outer `routeTimeout` answered while it
 * waited (the queue follows `c.var.signal` when one is set).
 *
 * Put it first of the route's policies, like `routeBulkhead`: a request shed
 * for capacity should cost nothing else.
 *
 * @example One learned limit for the API, one per tenant for the reports
 * ```ts
 * import { Hono } from "hono";
 * import { HealthCheck } from "edge-resilience";
 * import { healthHandler, routeAdaptiveConcurrency } from "edge-resilience/hono";
 *
 * const health = new HealthCheck();
 * const app = new Hono();
 * app.use("/api/*", routeAdaptiveConcurrency({ name: "api", minLimit: 5, maxLimit: 500, health }));
 * app.use(
 *   "/reports/*",
 *   routeAdaptiveConcurrency({
 *     name: "reports",
 *     key: (c) => c.req.header("x-tenant") ?? "anonymous",
 *     maxKeys: 200,
 *     algorithm: "vegas",
 *   }),
 * );
 * app.get("/api/items", (c) => c.json({ items: [] }));
 * app.get("/health", healthHandler(health));
 * ```
 */
export function routeAdaptiveConcurrency(
  options: RouteAdaptiveConcurrencyOptions = {},
): RouteAdaptiveConcurrency {
  checkKnownOptions(W, options, OPTIONS);
  const { key, maxKeys: given, retryAfter = 1, fallback, health, ...limiterOptions } = options;
  checkFunction(W, "key", key);
  if (given !== undefined && key === undefined) {
    throw new TypeError(`${W}: option 'maxKeys' needs option 'key' (one limiter per key)`);
  }
  const maxKeys = checkNumber(W, "maxKeys", given, 1000, 1, { integer: true, max: 1e9 });
  checkNumber(W, "retryAfter", retryAfter, 1, 0, { integer: true });
  checkFunction(W, "fallback", fallback);
  checkObject(W, "health", health);
  if (health !== undefined && typeof health.register !== "function") {
    throw new TypeError(`${W}: option 'health' must be a HealthCheck`);
  }
  const name = limiterOptions.name ?? "route";
  const make = (k: string | undefined) =>
    adaptiveConcurrency({ ...limiterOptions, name: k === undefined ? name : `${name}:${k}` });
  // Validated now (a bad option throws here, not at the first request); with a key, without
  // making a limiter (it would be listed by policies() and status pages, never used).
  const single = key ? (adaptiveSettings(limiterOptions), undefined) : make(undefined);
  const limiters = new Map<string, AdaptiveConcurrencyPolicy>();
  const limiterOf = (k: string): AdaptiveConcurrencyPolicy => {
    let l = limiters.get(k);
    if (l) {
      limiters.delete(k); // most recently used last
      limiters.set(k, l);
      return l;
    }
    if (limiters.size >= maxKeys) {
      let victim: string | undefined;
      for (const [k, held] of limiters) {
        const s = held.getStats();
        if (s.inFlight === 0 && s.queued === 0) {
          victim = k;
          break;
        }
      }
      victim ??= limiters.keys().next().value!;
      refusedBefore += limiters.get(victim)!.getStats().refused;
      limiters.delete(victim);
    }
    limiters.set(k, l = make(k));
    return l;
  };
  const keyOf = (c: Context): string => userKey(W, key!(c));
  let refusedBefore = 0; // refusals by limiters since dropped
  if (health) {
    const clock = limiterOptions.clock ?? systemClock;
    let seen = 0;
    let lastRefusal: number | undefined;
    health.register(`adaptive:${name}`, () => {
      const all = single ? [single] : [...limiters.values()];
      const stats = all.map((l) => l.getStats());
      const refused = refusedBefore + stats.reduce((n, s) => n + s.refused, 0);
      const now = clock.wallNow();
      if (refused !== seen) [seen, lastRefusal] = [refused, now];
      const shedding = lastRefusal !== undefined && now - lastRefusal < SHEDDING_MS;
      return {
        healthy: true,
        degraded: shedding,
        message: shedding
          ? `shedding load: ${refused} request${refused === 1 ? "" : "s"} refused so far`
          : "ok",
        ...(single ? stats[0] : { keys: stats.length, limiters: stats.slice(-20) }),
        refused,
      };
    }, { critical: false });
  }
  const mw = createMiddleware(async (c, next) => {
    const l = single ?? limiterOf(keyOf(c));
    // An outer routeTimeout's signal (its deadline and the client), else the client's: a
    // request answered 504 while queued leaves the queue instead of running for nobody.
    const signal = (c.get("signal") as AbortSignal | undefined) ?? c.req.raw.signal;
    try {
      await l.execute(async () => {
        await next();
        // A timeout already answered (Hono's error handling, or a 504 such as routeTimeout's)
        // is still the strongest congestion signal: tell the limiter, keep the answer.
        if ((c.error !== undefined && isTimeout(c.error)) || c.res.status === 504) {
          throw ANSWERED_TIMEOUT;
        }
      }, signal);
    } catch (e) {
      if (e === ANSWERED_TIMEOUT) return; // the answer is already made
      // The client left (or the outer deadline answered) while queued: nobody reads this
      // answer, nothing to log.
      if (signal?.aborted && e === signal.reason) return new Response(null, { status: 499 });
      if (!(e instanceof AdaptiveConcurrencyRejectedError)) throw e;
      if (fallback) return await fallback(c, e);
      return problemResponse({
        title: "Service Unavailable",
        status: 503,
        detail: e.message,
        limiter: e.limiterName,
        limit: e.limit,
        reason: e.reason,
        retryAfter,
      }, { "retry-after": String(retryAfter) });
    }
  });
  // Found by the key as `key(c)` gave it (or as `keys()` lists it, already shortened).
  const limiter = (k?: string) =>
    single ?? (k === undefined ? undefined : limiters.get(k) ?? limiters.get(safeKey(k)));
  const keys = () => (single ? [] : [...limiters.keys()]);
  return Object.assign(mw, { limiter, keys });
}
