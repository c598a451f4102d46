// The events of the telemetry channel (src/telemetry.ts): a union discriminated by `type`.
import type { StateChangeEvent } from "./circuit_breaker/types.ts";
import type { ChaosEvent } from "./chaos.ts";
import type { RetryEvent } from "./retry.ts";
import type { StoreStatusEvent } from "./shared/status.ts";

/** The kinds of policy that report to the channel (their factory's name). */
export type PolicyKind =
  | "retry"
  | "circuitBreaker"
  | "timeout"
  | "fallback"
  | "bulkhead"
  | "hedge"
  | "retryBudget"
  | "rateLimiter"
  | "adaptiveConcurrency"
  | "chaos";

/**
 * How a call ended. `rejected`: it did not run (`CircuitOpenError`,
 * `BulkheadRejectedError`, `RateLimitedError`,
 * `AdaptiveConcurrencyRejectedError`); `cancelled`: the caller's own signal
 * aborted it (neutral, as breakers count it); `timeout`: a
 * `ResilienceTimeoutError`; `failure`: any other error.
 */
export type CallOutcome = "success" | "failure" | "rejected" | "timeout" | "cancelled";

/** Fields every event has: which policy sent it. */
export interface TelemetrySource<K extends PolicyKind = PolicyKind> {
  /** The policy's kind. */
  readonly kind: K;
  /**
   * The policy's name: its `name` option, or else its default name (its
   * kind; `"adaptive"` for `adaptiveConcurrency`, `"route"` for the route
   * middlewares' policies, `"resilientFetch"`) — one name per policy in every
   * event. (An unnamed breaker: the name of the first function it wraps, as
   * its `name` property says.)
   */
  readonly name: string;
}

/** A policy was created: `policy` holds it weakly (`deref()` is `undefined` once collected). */
export interface PolicyCreatedEvent extends TelemetrySource {
  /** Discriminant. */
  readonly type: "policy.created";
  /** The policy, held weakly. */
  readonly policy: WeakRef<object>;
}

/** A call through a policy settled (only to subscribers that asked for `{ calls: true }`). */
export interface CallEvent extends TelemetrySource {
  /** Discriminant. */
  readonly type: "call";
  /** How it ended. */
  readonly outcome: CallOutcome;
  /** How long it took, in milliseconds. */
  readonly duration: number;
  /**
   * The error's class name, when it failed (a value a breaker's
   * `isFailureResult` counted: its HTTP status as text, else
   * `"FailureResult"`; a route breaker's failing response: its status).
   */
  readonly errorType?: string;
}

/**
 * One attempt of a retry or a hedge settled (only with `{ calls: true }`, as
 * call events); a hedged attempt aborted because another won (or the caller
 * left) too, as `cancelled`.
 */
export interface AttemptEvent extends TelemetrySource<"retry" | "hedge"> {
  /** Discriminant. */
  readonly type: "attempt";
  /** The attempt's number (1-based). */
  readonly attempt: number;
  /** How long it took, in milliseconds. */
  readonly duration: number;
  /** How it ended. */
  readonly outcome: CallOutcome;
  /**
   * Whether the policy handled this outcome by another attempt: true when a
   * retry follows (its predicates retry it, an attempt is left, the retry
   * budget allows it); false for a success, the last attempt, an outcome not
   * retried, a retry the budget refused. Unlike Polly v8's (its predicate's
   * answer, true on a final failed attempt too), true counts the retries.
   * A hedge's attempt: failed while another attempt can still answer.
   */
  readonly handled: boolean;
  /** The error's class name, when it failed. */
  readonly errorType?: string;
}

/** A circuit breaker changed state (the same event `onStateChange` receives). */
export interface BreakerTransitionEvent extends TelemetrySource<"circuitBreaker"> {
  /** Discriminant. */
  readonly type: "breaker.transition";
  /** The transition. */
  readonly event: StateChangeEvent;
}

/** A breaker's or rate limiter's store became unavailable or recovered. */
export interface StoreStatusTelemetryEvent
  extends TelemetrySource<"circuitBreaker" | "rateLimiter"> {
  /** Discriminant. */
  readonly type: "store.status";
  /** The same event `onStoreStatus` receives. */
  readonly event: StoreStatusEvent;
}

/** A retry is scheduled (the same event `onRetry` receives). */
export interface RetryTelemetryEvent extends TelemetrySource<"retry"> {
  /** Discriminant. */
  readonly type: "retry";
  /** The retry. */
  readonly event: RetryEvent;
}

/** A timeout's deadline passed. */
export interface TimeoutEvent extends TelemetrySource<"timeout"> {
  /** Discriminant. */
  readonly type: "timeout";
  /** The deadline, in milliseconds. */
  readonly timeout: number;
}

/** A fallback answered in place of the primary. */
export interface FallbackEvent extends TelemetrySource<"fallback"> {
  /** Discriminant. */
  readonly type: "fallback";
  /** The class name of the error the fallback replaced. */
  readonly errorType: string;
}

/** A bulkhead refused a call. */
export interface BulkheadRejectedEvent extends TelemetrySource<"bulkhead"> {
  /** Discriminant. */
  readonly type: "bulkhead.rejected";
  /** Why. */
  readonly reason: "queue-full" | "queue-timeout";
}

/** A hedge launched another attempt. */
export interface HedgeEvent extends TelemetrySource<"hedge"> {
  /** Discriminant. */
  readonly type: "hedge";
  /** The number of the attempt launched (2 for the first hedge). */
  readonly attempt: number;
}

/** A rate limiter refused a call (never the client key: it is unbounded). */
export interface RateLimitedEvent extends TelemetrySource<"rateLimiter"> {
  /** Discriminant. */
  readonly type: "rate_limited";
  /** Milliseconds until a permit is expected. */
  readonly retryAfter: number;
}

/**
 * A rate limiter granted a permit, when the call uses it (after waiting
 * `waited` ms when it queued; a waiting call cancelled sends
 * `rate_limit.canceled` instead, never both).
 */
export interface RateLimitAcquiredEvent extends TelemetrySource<"rateLimiter"> {
  /** Discriminant. */
  readonly type: "rate_limit.acquired";
  /** Milliseconds the call waited for its permit (0: at once). */
  readonly waited: number;
}

/** A call waiting for a rate limiter's permit was cancelled by its caller. */
export interface RateLimitCanceledEvent extends TelemetrySource<"rateLimiter"> {
  /** Discriminant. */
  readonly type: "rate_limit.canceled";
}

/** An open (or isolated) circuit breaker refused a call. */
export interface BreakerRejectedEvent extends TelemetrySource<"circuitBreaker"> {
  /** Discriminant. */
  readonly type: "breaker.rejected";
  /** Milliseconds until it lets a trial call through (`Infinity` while isolated). */
  readonly timeUntilReset: number;
}

/** An adaptive concurrency limiter refused a call. */
export interface AdaptiveRejectedEvent extends TelemetrySource<"adaptiveConcurrency"> {
  /** Discriminant. */
  readonly type: "adaptive.rejected";
  /** Why. */
  readonly reason: "limit" | "queue-full" | "queue-timeout";
}

/** A retry budget refused a retry. */
export interface BudgetRefusedEvent extends TelemetrySource<"retryBudget"> {
  /** Discriminant. */
  readonly type: "budget.refused";
}

/** An adaptive concurrency limit changed. */
export interface LimitChangedEvent extends TelemetrySource<"adaptiveConcurrency"> {
  /** Discriminant. */
  readonly type: "limit.changed";
  /** The new limit. */
  readonly limit: number;
  /** The limit before. */
  readonly previous: number;
}

/** A chaos policy injected a fault (the same event its `onInject` receives). */
export interface ChaosTelemetryEvent extends TelemetrySource<"chaos"> {
  /** Discriminant. */
  readonly type: "chaos";
  /** The injection. */
  readonly event: ChaosEvent;
}

/** Every event of the channel: a union discriminated by `type`. */
export type TelemetryEvent =
  | PolicyCreatedEvent
  | CallEvent
  | AttemptEvent
  | BreakerTransitionEvent
  | BreakerRejectedEvent
  | StoreStatusTelemetryEvent
  | RetryTelemetryEvent
  | TimeoutEvent
  | FallbackEvent
  | BulkheadRejectedEvent
  | HedgeEvent
  | RateLimitedEvent
  | RateLimitAcquiredEvent
  | RateLimitCanceledEvent
  | BudgetRefusedEvent
  | LimitChangedEvent
  | AdaptiveRejectedEvent
  | ChaosTelemetryEvent;
