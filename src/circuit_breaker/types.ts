/**
 * The public types of the circuit breaker: options, events, stats and the
 * breaker object itself.
 *
 * @module
 */

import type { CircuitState } from "../circuit_state.ts";
import type { Clock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import type { Policy } from "../policy.ts";
import type { SharedStore } from "../shared/port.ts";
import type { SharedRates } from "./shared_rules.ts";
import type { StoreOptions, StoreStatusEvent } from "./link_options.ts";
import type { ErrorClass } from "../validate.ts";
import type { WindowStats } from "./strategy.ts";

export type { WindowStats };

/** Why a breaker changed state. */
export type TransitionReason =
  | "failure_threshold"
  | "failure_rate"
  | "slow_call_rate"
  | "reset_timeout"
  | "half_open_failure"
  | "recovered"
  | "manual_open"
  | "isolated"
  | "reset"
  | "shared";

/** Emitted on every state transition. */
export interface StateChangeEvent {
  /** Breaker name. */
  readonly name: string;
  /** State before. */
  readonly from: CircuitState;
  /** State after. */
  readonly to: CircuitState;
  /** What caused it. */
  readonly reason: TransitionReason;
  /** Failures counted when it happened: in a row, or in the window (rate mode). */
  readonly failureCount: number;
  /** The new generation (increments on every transition). */
  readonly generation: number;
  /**
   * With a store: `true` when the transition was learned from the shared
   * circuit (made by the fleet's state machine, from every instance's
   * outcomes or an operator's command anywhere); `false` when this
   * instance's own copy made it (its own evidence, at once).
   */
  readonly remote: boolean;
}

/** Options of {@linkcode circuitBreaker}. Durations are in milliseconds. */
export interface CircuitBreakerOptions {
  /**
   * Registry name: breakers created with the same name are the same breaker.
   * Without a name the breaker is private (not registered) and takes the name
   * of the first function it wraps.
   */
  name?: string;
  /**
   * Consecutive failures that open the circuit. Integer >= 1. Default 5.
   * With `failureRateThreshold` alone only the rate trips; with both, either
   * does.
   */
  failureThreshold?: number;
  /**
   * Rate mode: the circuit opens when failures / calls in the window is at
   * least this, once the window holds `minimumThroughput` calls. A fraction
   * in (0, 1], e.g. 0.5. A close starts a fresh window. In HALF_OPEN the
   * circuit closes when the failure rate of `halfOpenMaxCalls` trials is
   * below it, and reopens otherwise (as soon as that is certain).
   */
  failureRateThreshold?: number;
  /**
   * Count window: the rate is over the last this many calls. Integer 1 …
   * 100000. At most one of `windowCalls` and `windowDuration`; with neither,
   * the rate is over the last 100 calls. A count window costs no clock read.
   */
  windowCalls?: number;
  /**
   * Time window: the rate is over the calls that ended in the last this many
   * ms, counted in `windowBuckets` buckets (the current bucket and the ones
   * before it). Rotated from the clock as calls arrive (no timer): after an
   * idle gap old calls no longer count. It reads the wall clock
   * (`clock.wallNow()`, `Date.now()`) once per call: a clock stepped back
   * counts into the newest bucket, one stepped forward ages the window.
   * No default (see `windowCalls`).
   */
  windowDuration?: number;
  /** Buckets of the time window (integer 1 … 1000). Default 10. */
  windowBuckets?: number;
  /**
   * Least calls in the window before a rate can trip. Integer >= 1. Default
   * 20 (or `windowCalls`, if smaller).
   */
  minimumThroughput?: number;
  /**
   * A call that takes at least this many ms is slow, whether it succeeds or
   * fails (needs `slowCallRateThreshold`).
   */
  slowCallDuration?: number;
  /**
   * The circuit opens when slow calls / calls in the window is at least
   * this (a fraction in (0, 1]; needs `slowCallDuration`), once the window
   * holds `minimumThroughput` calls. In HALF_OPEN, trials at or above it
   * reopen the circuit.
   */
  slowCallRateThreshold?: number;
  /**
   * A returned value that counts as a failure although nothing was thrown
   * (e.g. a `Response` with status >= 500). The value is still returned.
   */
  isFailureResult?: (value: unknown) => boolean;
  /**
   * When set, each reopening from HALF_OPEN (a failed trial) without a close
   * in between doubles the open duration, up to this (ms, >= `resetTimeout`);
   * a close brings it back to `resetTimeout`. Default: no growth.
   */
  maxResetTimeout?: number;
  /**
   * How long the circuit stays OPEN before trial calls, and how long a trial
   * call holds its permit at most. Default 60000. Only ever compared with the
   * clock (no timer), so any value from 0 to `Number.MAX_SAFE_INTEGER` works
   * (e.g. 30 days).
   */
  resetTimeout?: number;
  /**
   * HALF_OPEN: at most this many trial calls run at once (counting trials of
   * earlier half-open periods still running), and this many successes close
   * the circuit. Integer >= 1. Default 3.
   */
  halfOpenMaxCalls?: number;
  /**
   * Whether a call that fails because its caller cancelled it (the caller's
   * signal, or an enclosing policy such as an outer `timeout`, aborted before
   * the call settled) counts as a failure. Default `false`: the caller's own
   * cancellation says nothing about the service, so it counts as neither
   * failure nor success and a trial call returns its permit (as Polly v8
   * does). A `timeout` *inside* the breaker is the breaker's business and
   * always counts.
   */
  countCallerAborts?: boolean;
  /** Which errors count as failures (default: all but `excludedErrors`). */
  isFailure?: (error: unknown) => boolean;
  /** Error classes that pass through without counting as failures. */
  excludedErrors?: readonly ErrorClass[];
  /**
   * Called with the call's own arguments instead of throwing
   * `CircuitOpenError` when the breaker rejects a call. Not used when the
   * call itself fails (compose `fallback()` for that).
   */
  fallback?: (...args: never[]) => unknown;
  /** Called on every state transition. */
  onStateChange?: (event: StateChangeEvent) => void;
  /** Where transition messages go (default: see `setDefaultLogger`). */
  logger?: Logger;
  /** Monotonic time source (tests pass a `FakeClock`). */
  clock?: Clock;
  /**
   * Shares the circuit through a state store (Durable Object, Workers KV,
   * Deno KV, `MemoryStore`) instead of keeping it in this isolate only.
   */
  store?: SharedStore;
  /** The breaker's key in the store. Default: `name` (required with a store). */
  storeKey?: string;
  /** Timeouts, batching and the behaviour while the store is unavailable. */
  storeOptions?: StoreOptions;
  /** Called when the store becomes unavailable (once per outage) and when it recovers. */
  onStoreStatus?: (event: StoreStatusEvent) => void;
}

/** A snapshot of a breaker, from {@linkcode CircuitBreaker.getStats}. */
export interface CircuitStats {
  /** Breaker name. */
  name: string;
  /** Current state (HALF_OPEN once the reset timeout has passed). */
  state: CircuitState;
  /** Consecutive failures (CLOSED) or failed trials (HALF_OPEN). */
  failureCount: number;
  /** Successes since the last transition (HALF_OPEN: trials that succeeded). */
  successCount: number;
  /**
   * Milliseconds until trial calls are allowed; 0 unless OPEN. `null` while
   * isolated (held open by hand: no reset is due), so that stats stay
   * JSON-safe.
   */
  timeUntilReset: number | null;
  /**
   * Trial calls holding a permit now: admitted in HALF_OPEN (this half-open
   * period or an earlier one), not settled, and started at most
   * `resetTimeout` ago.
   */
  halfOpenInFlight: number;
  /** Calls that ran, since creation or `reset()`. */
  totalCalls: number;
  /** Of those, successes. */
  totalSuccesses: number;
  /** Of those, failures (excluded errors not included). */
  totalFailures: number;
  /** Calls rejected without running. */
  totalRejections: number;
  /** Results ignored because they arrived after a transition. */
  lateResults: number;
  /** True while held open by `isolate()`. */
  isolated: boolean;
  /** With a `store`: whether it is usable now (else the local state decides). Absent without one. */
  storeAvailable?: boolean;
  /** Increments on every transition. */
  generation: number;
  /** Configuration in force: failures in a row that open (`null`: rate mode only, no run trips). */
  failureThreshold: number | null;
  /** Rate mode: the rate rules in force (absent in consecutive mode). */
  rates?: SharedRates;
  /** Configuration in force. */
  resetTimeout: number;
  /** Configuration in force. */
  halfOpenMaxCalls: number;
  /** The open duration in force (ms): `resetTimeout`, doubled by reopenings up to `maxResetTimeout`. */
  openDuration: number;
  /**
   * Rate mode: the window's calls, failures and slow calls, and the rates
   * (0 while empty). Absent in consecutive mode.
   */
  window?: WindowStats;
  /**
   * The last transition: to which state, why, and when (epoch ms); `null`
   * before the first. With a store: the shared circuit's last transition,
   * wherever it happened.
   */
  lastTransition: { to: CircuitState; reason: TransitionReason; at: number } | null;
}

/** Options of {@linkcode CircuitBreaker.isolate}. */
export interface IsolateOptions {
  /**
   * `"instance"` (default): this breaker object only — with a store, this
   * instance rejects every call while the others go on with the shared
   * circuit. `"fleet"` (needs a `store`): the shared circuit is held OPEN
   * for every instance until the handle is released or `reset()` is called
   * anywhere.
   */
  scope?: "instance" | "fleet";
}

/**
 * A circuit breaker: a {@linkcode Policy} plus state inspection and control.
 * Obtain one with {@linkcode circuitBreaker} or {@linkcode getCircuitBreaker}.
 */
export interface CircuitBreaker<X = never> extends Policy<X> {
  /** Registry name. */
  readonly name: string;
  /** Current state; reading it has no side effects. */
  readonly state: CircuitState;
  /** A snapshot of counters and configuration. */
  getStats(): CircuitStats;
  /** Milliseconds until trial calls are allowed: 0 unless OPEN, `Infinity` while isolated. */
  getTimeUntilReset(): number;
  /**
   * Closes the circuit, ends every isolation and clears every counter. With
   * a store it acts on the shared circuit: every instance follows within its
   * `storeOptions.refreshInterval` (event reason `reset`).
   */
  reset(): void;
  /**
   * Opens the circuit now, as if the threshold was reached (event reason
   * `manual_open`). With a store it opens the shared circuit: every instance
   * follows within its `storeOptions.refreshInterval`.
   */
  open(): void;
  /**
   * Holds the circuit OPEN (tripping it if needed) until every returned
   * release function was called, or `reset()`. Calls are rejected with a
   * {@linkcode CircuitOpenError} whose `isolated` is true.
   *
   * When the last handle is released the circuit is due at once: the next
   * calls are trial calls (HALF_OPEN, at most `halfOpenMaxCalls`), and
   * `halfOpenMaxCalls` successes close it. The release says the dependency
   * should be back, so waiting another `resetTimeout` would reject traffic
   * the operator just allowed; closing at once (as cockatiel does) would send
   * full traffic to a dependency nobody has tried yet. Trials are the same
   * check the breaker makes after any open period. A release function works
   * once (further calls do nothing) and not after `reset()`.
   *
   * Scope (see {@linkcode IsolateOptions}): by default this instance only;
   * `{ scope: "fleet" }` holds the shared circuit for every instance (one
   * hold: its release, or any `reset()`, ends it).
   */
  isolate(options?: IsolateOptions): () => void;
  /** Subscribes to transitions; returns an unsubscribe function. */
  onStateChange(listener: (event: StateChangeEvent) => void): () => void;
  /**
   * Sends outcomes not yet reported to the store, refreshes the local view,
   * and waits for background store work (a no-op without a store). On
   * Workers: `ctx.waitUntil(breaker.flush())`.
   */
  flush(): Promise<void>;
}
