/**
 * edge-resilience: production resilience patterns — retry, circuit breaker,
 * timeout, fallback and health checks — for Deno, Cloudflare Workers, Node
 * and Bun, built on web standards only.
 *
 * @example The seed's "Combining Patterns", in TypeScript
 * ```ts
 * import { circuitBreaker, fallback, retry, timeout } from "edge-resilience";
 *
 * const cachedFallback = () => ({ cached: true });
 *
 * class Api {
 *   @circuitBreaker({ name: "api", failureThreshold: 5 })
 *   @retry({ maxAttempts: 3, initialDelay: 500 })
 *   @timeout(10_000)
 *   @fallback(cachedFallback)
 *   async reliableApiCall() {
 *     return (await fetch("https://api.example/data")).json();
 *   }
 * }
 * ```
 *
 * @module
 */

export { type Clock, systemClock, type TimerHandle } from "./src/clock.ts";
export { currentContext, type ResilienceContext } from "./src/context.ts";
export { CircuitState, HealthStatus } from "./src/circuit_state.ts";
export {
  BulkheadRejectedError,
  CircuitOpenError,
  RateLimitedError,
  ResilienceError,
  ResilienceTimeoutError,
} from "./src/errors.ts";
export { type Logger, setDefaultLogger, setLogRepeatInterval } from "./src/logger.ts";
export type { FallbackOf, Policy } from "./src/policy.ts";
export type { ErrorClass } from "./src/validate.ts";
export type { JitterStrategy } from "./src/backoff.ts";
export { retry, type RetryEvent, type RetryOptions, type RetryPolicy } from "./src/retry.ts";
export {
  type CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerOptions,
  type CircuitStats,
  clearCircuitBreakers,
  getCircuitBreaker,
  type IsolateOptions,
  listCircuitBreakers,
  removeCircuitBreaker,
  type StateChangeEvent,
  type TransitionReason,
  type WindowStats,
} from "./src/circuit_breaker.ts";
export {
  timeout,
  type TimeoutOptions,
  type TimeoutPolicy,
  withTimeout,
  type WithTimeoutOptions,
} from "./src/timeout.ts";
export {
  type AnyFunction,
  Fallback,
  fallback,
  type FallbackChainOptions,
  type FallbackOptions,
  type FallbackValues,
} from "./src/fallback.ts";
export {
  type CheckFunction,
  type CheckOutcome,
  type CheckResult,
  HealthCheck,
  type HealthCheckOptions,
  type HealthDict,
  type RegisterOptions,
  SystemHealth,
} from "./src/health_check.ts";
export { compose } from "./src/compose.ts";
export {
  type AdaptiveRejectedEvent,
  type AttemptEvent,
  type BreakerRejectedEvent,
  type BreakerTransitionEvent,
  type BudgetRefusedEvent,
  type BulkheadRejectedEvent,
  type CallEvent,
  type CallOutcome,
  type ChaosTelemetryEvent,
  type FallbackEvent,
  type HedgeEvent,
  type LimitChangedEvent,
  type PolicyCreatedEvent,
  type PolicyKind,
  type RateLimitAcquiredEvent,
  type RateLimitCanceledEvent,
  type RateLimitedEvent,
  type RetryTelemetryEvent,
  type StoreStatusTelemetryEvent,
  subscribe,
  type SubscribeOptions,
  type TelemetryEvent,
  type TelemetrySource,
  type TimeoutEvent,
} from "./src/telemetry.ts";
export { policies, type PolicyEntry } from "./src/live_policies.ts";
export {
  bulkhead,
  type BulkheadOptions,
  type BulkheadPolicy,
  type BulkheadStats,
} from "./src/bulkhead.ts";
export * from "./src/adaptive/mod.ts";
export {
  type RetryBudget,
  retryBudget,
  type RetryBudgetOptions,
  type RetryBudgetStats,
} from "./src/retry_budget.ts";
export { hedge, type HedgeOptions, type HedgePolicy } from "./src/hedge.ts";
export {
  acquirePermit,
  type Applied,
  applyCommand,
  applyOp,
  applyOutcomes,
  boundSharedState,
  type CircuitOp,
  type Command,
  initialSharedState,
  type Outcome,
  parseSharedState,
  type PermitAnswer,
  readStoredState,
  type SavedBuckets,
  type SavedWindow,
  type SharedConfig,
  type SharedRates,
  type SharedState,
  type SharedStore,
  sharedStore,
  skewAllowance,
  storeKey,
  type StoreOp,
  type StoreOptions,
  type StoreStatusEvent,
  withoutMark,
} from "./src/store.ts";
export { MemoryStore, type MemoryStoreOptions } from "./src/memory_store.ts";
export {
  chaos,
  ChaosError,
  type ChaosEvent,
  type ChaosOptions,
  type ChaosPolicy,
  type ChaosStats,
} from "./src/chaos.ts";
export {
  type RateLimiter,
  rateLimiter,
  type RateLimiterOptions,
  type RateLimiterStats,
} from "./src/rate_limit/limiter.ts";
export {
  checkRateLimitConfig,
  type LimitState,
  type RateLimitAlgorithm,
  type RateLimitConfig,
  type TakeAnswer,
  takePermits,
  type TakePermitsResult,
  type TakeRequest,
} from "./src/rate_limit/algorithms.ts";
export {
  boundLimitState,
  type RateLimitOp,
  rateLimitReducer,
  rateLimitSkew,
  readStoredLimit,
  type StoredLimit,
} from "./src/rate_limit/reducer.ts";
export { type RateLimitStore, type RateLimitStoreOptions } from "./src/rate_limit/store_port.ts";
