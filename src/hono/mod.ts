/**
 * Hono middleware applying edge-resilience to routes: a route timeout that
 * really aborts, a route circuit breaker answering 503 with `Retry-After`,
 * a fallback serving the last good response, a resilient upstream `fetch`,
 * and a health endpoint (seed JSON or `application/health+json`).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { HealthCheck } from "edge-resilience";
 * import {
 *   healthHandler,
 *   resilientFetch,
 *   type ResilienceEnv,
 *   routeCircuitBreaker,
 *   routeFallback,
 *   routeTimeout,
 * } from "edge-resilience/hono";
 *
 * const app = new Hono<ResilienceEnv>();
 * app.get(
 *   "/quote",
 *   routeFallback({ lastGood: true }),
 *   routeCircuitBreaker({ failureThreshold: 3, resetTimeout: 10_000 }),
 *   routeTimeout(5_000),
 *   async (c) => {
 *     const res = await resilientFetch("https://quotes.example/today", { signal: c.var.signal });
 *     return c.json(await res.json(), res.ok ? 200 : 502);
 *   },
 * );
 * app.get("/health", healthHandler(new HealthCheck({ version: "1.0.0" }), { breakers: true }));
 * ```
 *
 * @module
 */

export {
  type ResilienceEnv,
  type ResilienceVariables,
  routeTimeout,
  type RouteTimeoutOptions,
} from "./timeout.ts";
export {
  circuitOpenResponse,
  type RouteCircuitBreaker,
  routeCircuitBreaker,
  type RouteCircuitBreakerOptions,
} from "./circuit_breaker.ts";
export { type FallbackCause, routeFallback, type RouteFallbackOptions } from "./fallback.ts";
export {
  parseRetryAfter,
  resilientFetch,
  type ResilientFetchOptions,
  UpstreamCircuitOpenError,
} from "./fetch.ts";
export {
  type AppRoute,
  type CircuitSummary,
  healthHandler,
  type HealthHandlerOptions,
} from "./health.ts";
export { GatewayTimeoutError, type Problem } from "./problem.ts";
export { type RouteBulkhead, routeBulkhead, type RouteBulkheadOptions } from "./bulkhead.ts";
export {
  type RouteChaos,
  routeChaos,
  type RouteChaosEvent,
  type RouteChaosOptions,
  type RouteChaosStats,
} from "./chaos.ts";
export {
  type RouteAdaptiveConcurrency,
  routeAdaptiveConcurrency,
  type RouteAdaptiveConcurrencyOptions,
} from "./adaptive_concurrency.ts";
export {
  type RateLimitHeaders,
  type RouteRateLimiter,
  routeRateLimiter,
  type RouteRateLimiterOptions,
} from "./rate_limit.ts";
export { ipKey } from "./ip_key.ts";
