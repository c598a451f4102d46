import type { Context, MiddlewareHandler, Next } from "hono";
import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import {
  type CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerOptions,
} from "../circuit_breaker.ts";
import { CircuitOpenError } from "../errors.ts";
import { checkFunction, checkString } from "../validate.ts";
import { problemResponse, waitUntil } from "./problem.ts";

/** Options of {@linkcode routeCircuitBreaker}. */
export interface RouteCircuitBreakerOptions
  extends Omit<CircuitBreakerOptions, "name" | "fallback" | "isFailure"> {
  /**
   * Prefix of the breaker names in the registry. Default `"route"`. With a
   * `store`, the store key is `route:<key>` for every instance, so all
   * instances (isolates, servers) of the app share each route's circuit.
   */
  name?: string;
  /**
   * Which breaker a request belongs to: one per route by default
   * (`"GET /users/:id"`); return an upstream's host to share one per upstream.
   */
  key?: (c: Context) => string;
  /**
   * Whether the outcome counts as a failure. Default: the handler threw
   * (`error` is set) or the response status is 5xx.
   */
  isFailure?: (response: Response, error: Error | undefined) => boolean;
  /**
   * The answer while the breaker rejects calls. Default: 503 with
   * `Retry-After` (whole seconds until reset) and an RFC 9457 problem body.
   */
  fallback?: (c: Context, error: CircuitOpenError) => Response | Promise<Response>;
}

/** Thrown inside the breaker to record a failing response; never escapes. Built once. */
const FAILED_RESPONSE = { failedResponse: true };
type Guarded = (c: Context, next: Next) => Promise<void>;

const defaultIsFailure = (res: Response, error: Error | undefined) =>
  error !== undefined || res.status >= 500;

/**
 * The 503 answer of an open breaker: `Retry-After` in whole seconds (at least
 * 1; absent while the breaker is isolated) and an RFC 9457 problem body.
 *
 * @example
 * ```ts
 * import { CircuitOpenError } from "edge-resilience";
 * import { circuitOpenResponse } from "edge-resilience/hono";
 *
 * const res = circuitOpenResponse(new CircuitOpenError("api", 2_500, "open"));
 * console.log(res.status, res.headers.get("retry-after")); // 503 "3"
 * ```
 */
export function circuitOpenResponse(error: CircuitOpenError): Response {
  const headers = new Headers();
  let retryAfter: number | undefined;
  if (Number.isFinite(error.timeUntilReset)) {
    retryAfter = Math.max(1, Math.ceil(error.timeUntilReset / 1000));
    headers.set("retry-after", String(retryAfter));
  }
  return problemResponse({
    title: "Service Unavailable",
    status: 503,
    detail: error.message,
    breaker: error.breakerName,
    state: error.state,
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  }, headers);
}

/**
 * A circuit breaker for routes. Thrown errors and 5xx responses count as
 * failures; while the breaker is open (or half-open with every trial in use)
 * the route answers 503 with `Retry-After` and an RFC 9457
 * `application/problem+json` body — or the configured fallback response —
 * without running the handler.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { routeCircuitBreaker } from "edge-resilience/hono";
 *
 * const app = new Hono();
 * app.use(
 *   "/api/*",
 *   routeCircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000, halfOpenMaxCalls: 2 }),
 * );
 * app.get("/api/data", async (c) => c.json(await (await fetch("https://upstream.example")).json()));
 * ```
 */
export function routeCircuitBreaker(
  options: RouteCircuitBreakerOptions = {},
): MiddlewareHandler {
  const W = "routeCircuitBreaker";
  const { name = "route", key, isFailure = defaultIsFailure, fallback, ...breakerOptions } =
    options;
  checkString(W, "name", name);
  checkFunction(W, "key", key);
  checkFunction(W, "isFailure", isFailure);
  checkFunction(W, "fallback", fallback);
  // Validate the breaker options now, at setup (an unnamed breaker is not registered).
  circuitBreaker({
    ...breakerOptions,
    ...(breakerOptions.store ? { storeKey: breakerOptions.storeKey ?? "route:setup" } : {}),
  });
  /** Per key: the breaker, and the route guarded by it (built once, no closure per request). */
  const guards = new Map<string, { breaker: CircuitBreaker; run: Guarded }>();
  const keyOf = key ?? ((c: Context) => `${c.req.method} ${routePath(c, -1)}`);
  const guard = async (c: Context, next: Next) => {
    await next();
    if (isFailure(c.res, c.error)) throw FAILED_RESPONSE;
  };

  return createMiddleware(async (c, next) => {
    const k = keyOf(c);
    let g = guards.get(k);
    if (!g) {
      // With a store, every instance of the app shares the route's circuit: the store key
      // is the route key (`name` only tells this instance's breakers apart locally).
      const breaker = circuitBreaker({
        ...breakerOptions,
        name: `${name}:${k}`,
        ...(breakerOptions.store ? { storeKey: breakerOptions.storeKey ?? `route:${k}` } : {}),
      });
      g = { breaker, run: breaker(guard) };
      guards.set(k, g);
    }
    try {
      await g.run(c, next);
    } catch (e) {
      if (breakerOptions.store) waitUntil(c, g.breaker.flush());
      if (e === FAILED_RESPONSE) return; // the failing response goes out as it is
      if (e instanceof CircuitOpenError) {
        return fallback ? await fallback(c, e) : circuitOpenResponse(e);
      }
      throw e;
    }
    // With a shared store, outcomes are reported in the background (waitUntil on Workers).
    if (breakerOptions.store) waitUntil(c, g.breaker.flush());
  });
}
