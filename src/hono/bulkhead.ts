import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { bulkhead, type BulkheadOptions, type BulkheadPolicy } from "../bulkhead.ts";
import { systemClock } from "../clock.ts";
import { BulkheadRejectedError } from "../errors.ts";
import type { HealthCheck } from "../health_check.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  optionNames,
  optionsOf,
} from "../validate.ts";
import { problemResponse } from "./problem.ts";

/** Options of {@linkcode routeBulkhead}. */
export interface RouteBulkheadOptions extends BulkheadOptions {
  /** Seconds in the `Retry-After` header of the 503 answer. Integer >= 0. Default 1. */
  retryAfter?: number;
  /**
   * The answer when the bulkhead refuses a request. Default: 503 with
   * `Retry-After` and an RFC 9457 problem body.
   */
  fallback?: (c: Context, error: BulkheadRejectedError) => Response | Promise<Response>;
  /**
   * Registers a non-critical check `bulkhead:<name>` on this `HealthCheck`:
   * degraded while the bulkhead is shedding load (its last refusal was less
   * than 10 s ago, by `clock`), healthy otherwise, with the bulkhead's counts
   * as details.
   */
  health?: HealthCheck;
}

/** A route bulkhead middleware, with the bulkhead it uses (for its stats). */
export type RouteBulkhead = MiddlewareHandler & { readonly bulkhead: BulkheadPolicy };

const W = "routeBulkhead";
const OPTIONS = optionNames<RouteBulkheadOptions>({
  maxConcurrent: 1,
  maxQueue: 1,
  queueTimeout: 1,
  name: 1,
  clock: 1,
  retryAfter: 1,
  fallback: 1,
  health: 1,
});
/** How long after its last refusal a bulkhead still reports degraded. */
const SHEDDING_MS = 10_000;

/**
 * A bulkhead for routes: at most `maxConcurrent` requests run the rest of
 * the chain at once, `maxQueue` more wait (FIFO, at most `queueTimeout` ms),
 * and the others get 503 with `Retry-After` and an RFC 9457
 * `application/problem+json` body, without running the handler. A client that
 * disconnects while queued leaves the queue at once, and so does a request an
 * outer `routeTimeout` answered while it waited (the queue follows
 * `c.var.signal` when one is set). One bulkhead per
 * middleware instance: mount the same instance on several routes to share
 * a limit.
 *
 * Put it first of the route's policies: a request refused for capacity
 * should cost nothing else (no breaker call, no timeout).
 *
 * @example At most 50 requests at once to the search routes, 100 queued for 2 s
 * ```ts
 * import { Hono } from "hono";
 * import { HealthCheck } from "edge-resilience";
 * import { healthHandler, routeBulkhead } from "edge-resilience/hono";
 *
 * const health = new HealthCheck();
 * const app = new Hono();
 * app.use(
 *   "/search/*",
 *   routeBulkhead({ name: "search", maxConcurrent: 50, maxQueue: 100, queueTimeout: 2_000, health }),
 * );
 * app.get("/search/items", (c) => c.json({ items: [] }));
 * app.get("/health", healthHandler(health));
 * ```
 */
export function routeBulkhead(options: RouteBulkheadOptions): RouteBulkhead {
  checkKnownOptions(W, options, OPTIONS);
  if (options === undefined) throw new TypeError(`${W}: option 'maxConcurrent' is required`);
  const { retryAfter = 1, fallback, health, ...bulkheadOptions } = options;
  checkNumber(W, "retryAfter", retryAfter, 1, 0, { integer: true });
  checkFunction(W, "fallback", fallback);
  checkObject(W, "health", health);
  if (health !== undefined && typeof health.register !== "function") {
    throw new TypeError(`${W}: option 'health' must be a HealthCheck`);
  }
  const b = optionsOf(W, "bulkhead", () => bulkhead({ name: "route", ...bulkheadOptions }));
  if (health) {
    const clock = options.clock ?? systemClock;
    health.register(`bulkhead:${b.name}`, () => {
      const stats = b.getStats();
      const last = stats.lastRejectedAt;
      const shedding = last !== null && clock.now() - last < SHEDDING_MS;
      return {
        healthy: true,
        degraded: shedding,
        message: shedding ? `shedding load: ${stats.rejected} requests refused so far` : "ok",
        ...stats,
      };
    }, { critical: false });
  }
  const mw = createMiddleware(async (c, next) => {
    // An outer routeTimeout's signal (its deadline and the client), else the client's: a
    // request answered 504 while queued leaves the queue instead of running for nobody.
    const signal = (c.get("signal") as AbortSignal | undefined) ?? c.req.raw.signal;
    try {
      await b.execute(() => next(), signal);
    } catch (e) {
      // The client left (or the outer deadline answered) while queued: nobody reads this
      // answer, nothing to log.
      if (signal?.aborted && e === signal.reason) return new Response(null, { status: 499 });
      if (!(e instanceof BulkheadRejectedError)) throw e;
      if (fallback) return await fallback(c, e);
      return problemResponse({
        title: "Service Unavailable",
        status: 503,
        detail: e.message,
        bulkhead: e.bulkheadName,
        reason: e.reason,
        retryAfter,
      }, { "retry-after": String(retryAfter) });
    }
  });
  return Object.assign(mw, { bulkhead: b });
}
