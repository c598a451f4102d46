/**
 * Circuit and health status values, with the seed library's wire values.
 *
 * @module
 */

/**
 * The three states of a circuit breaker. The values are the strings used on
 * the wire and in stats (`"closed"`, `"open"`, `"half_open"`).
 *
 * @example
 * ```ts
 * import { CircuitState, circuitBreaker } from "edge-resilience";
 *
 * const breaker = circuitBreaker({ name: "api" });
 * console.log(breaker.state === CircuitState.CLOSED); // true
 * ```
 */
export const CircuitState = {
  /** Normal operation: calls run, consecutive failures are counted. */
  CLOSED: "closed",
  /** Failing fast: calls are rejected until the reset timeout passes. */
  OPEN: "open",
  /** Testing recovery: a limited number of trial calls run. */
  HALF_OPEN: "half_open",
} as const;

/** One of the {@linkcode CircuitState} values. */
export type CircuitState = typeof CircuitState[keyof typeof CircuitState];

/**
 * Health status values of checks and of the whole system.
 *
 * @example
 * ```ts
 * import { HealthCheck, HealthStatus } from "edge-resilience";
 *
 * const health = new HealthCheck({ version: "1.0.0" });
 * health.register("db", () => true);
 * const result = await health.runAll();
 * console.log(result.status === HealthStatus.HEALTHY); // true
 * ```
 */
export const HealthStatus = {
  /** Everything works. */
  HEALTHY: "healthy",
  /** Serving, with a non-critical component failing or degraded. */
  DEGRADED: "degraded",
  /** A critical component fails. */
  UNHEALTHY: "unhealthy",
  /** Nothing is known: no check is registered. */
  UNKNOWN: "unknown",
} as const;

/** One of the {@linkcode HealthStatus} values. */
export type HealthStatus = typeof HealthStatus[keyof typeof HealthStatus];
