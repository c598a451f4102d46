/**
 * Circuit breaker: CLOSED → OPEN → HALF_OPEN, with a named registry.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { CircuitState } from "./circuit_state.ts";
import { Scope, start } from "./context.ts";
import { CircuitOpenError } from "./errors.ts";
import { getDefaultLogger, type Logger } from "./logger.ts";
import { createPolicy, type Policy } from "./policy.ts";
import {
  checkFunction,
  checkNumber,
  checkObject,
  checkString,
  type ErrorClass,
  errorMatcher,
} from "./validate.ts";

/** Why a breaker changed state. */
export type TransitionReason =
  | "failure_threshold"
  | "reset_timeout"
  | "half_open_failure"
  | "recovered"
  | "manual_open"
  | "isolated"
  | "reset";

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
  /** Consecutive failures counted when it happened. */
  readonly failureCount: number;
  /** The new generation (increments on every transition). */
  readonly generation: number;
}

/** Options of {@linkcode circuitBreaker}. Durations are in milliseconds. */
export interface CircuitBreakerOptions {
  /**
   * Registry name: breakers created with the same name are the same breaker.
   * Without a name the breaker is private (not registered) and takes the name
   * of the first function it wraps.
   */
  name?: string;
  /** Consecutive failures that open the circuit. Integer >= 1. Default 5. */
  failureThreshold?: number;
  /** How long the circuit stays OPEN before trial calls. Default 60000. */
  resetTimeout?: number;
  /**
   * HALF_OPEN: at most this many trial calls run at once, and this many
   * successes close the circuit. Integer >= 1. Default 3.
   */
  halfOpenMaxCalls?: number;
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
  /** Milliseconds until trial calls are allowed; 0 unless OPEN. */
  timeUntilReset: number;
  /** Trial calls running now (HALF_OPEN). */
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
  /** Increments on every transition. */
  generation: number;
  /** Configuration in force. */
  failureThreshold: number;
  /** Configuration in force. */
  resetTimeout: number;
  /** Configuration in force. */
  halfOpenMaxCalls: number;
}

/**
 * A circuit breaker: a {@linkcode Policy} plus state inspection and control.
 * Obtain one with {@linkcode circuitBreaker} or {@linkcode getCircuitBreaker}.
 */
export interface CircuitBreaker extends Policy {
  /** Registry name. */
  readonly name: string;
  /** Current state; reading it has no side effects. */
  readonly state: CircuitState;
  /** A snapshot of counters and configuration. */
  getStats(): CircuitStats;
  /** Milliseconds until trial calls are allowed: 0 unless OPEN. */
  getTimeUntilReset(): number;
  /** Closes the circuit and clears every counter. */
  reset(): void;
  /** Opens the circuit now, as if the threshold was reached. */
  open(): void;
  /** Holds the circuit OPEN until `reset()` or the returned release function. */
  isolate(): () => void;
  /** Subscribes to transitions; returns an unsubscribe function. */
  onStateChange(listener: (event: StateChangeEvent) => void): () => void;
}

const W = "circuitBreaker";
const REJECT = -1;

class Breaker {
  name: string;
  readonly threshold: number;
  readonly resetTimeout: number;
  readonly halfOpenMax: number;
  readonly opts: CircuitBreakerOptions;
  readonly clock: Clock;
  readonly listeners = new Set<(e: StateChangeEvent) => void>();
  state: CircuitState = CircuitState.CLOSED;
  gen = 0;
  failures = 0;
  successes = 0;
  inFlight = 0;
  openedAt = 0;
  isolated = 0;
  totalCalls = 0;
  totalSuccesses = 0;
  totalFailures = 0;
  totalRejections = 0;
  late = 0;
  countsAsFailure: (e: unknown) => boolean;

  constructor(name: string, o: CircuitBreakerOptions) {
    this.name = name;
    this.opts = o;
    this.threshold = checkNumber(W, "failureThreshold", o.failureThreshold, 5, 1, {
      integer: true,
      max: Number.MAX_SAFE_INTEGER,
    });
    this.resetTimeout = checkNumber(W, "resetTimeout", o.resetTimeout, 60_000, 0);
    this.halfOpenMax = checkNumber(W, "halfOpenMaxCalls", o.halfOpenMaxCalls, 3, 1, {
      integer: true,
      max: Number.MAX_SAFE_INTEGER,
    });
    checkFunction(W, "isFailure", o.isFailure);
    checkFunction(W, "fallback", o.fallback);
    checkFunction(W, "onStateChange", o.onStateChange);
    checkObject(W, "logger", o.logger);
    checkObject(W, "clock", o.clock);
    const excluded = errorMatcher(W, "excludedErrors", o.excludedErrors);
    if (o.excludedErrors !== undefined && !Array.isArray(o.excludedErrors)) {
      throw new TypeError(`${W}: option 'excludedErrors' must be an array of error classes`);
    }
    const isFailure = o.isFailure;
    this.countsAsFailure = (e) => !(excluded?.(e)) && (isFailure ? isFailure(e) : true);
    this.clock = o.clock ?? systemClock;
  }

  /** Milliseconds left in OPEN at `now` (0 once elapsed, Infinity if isolated). */
  remaining(now: number): number {
    if (this.state !== CircuitState.OPEN) return 0;
    if (this.isolated) return Infinity;
    return Math.max(0, this.resetTimeout - (now - this.openedAt));
  }

  viewState(now: number): CircuitState {
    return this.state === CircuitState.OPEN && this.remaining(now) === 0
      ? CircuitState.HALF_OPEN
      : this.state;
  }

  /** Admits a call: its generation token, or REJECT. */
  admit(now: number): number {
    if (this.state === CircuitState.OPEN) {
      if (this.remaining(now) > 0) return REJECT;
      this.transition(CircuitState.HALF_OPEN, "reset_timeout");
    }
    if (this.state === CircuitState.HALF_OPEN) {
      if (this.inFlight >= this.halfOpenMax) return REJECT;
      this.inFlight++;
    }
    this.totalCalls++;
    return this.gen;
  }

  settle(gen: number, outcome: "success" | "failure" | "neutral"): void {
    if (outcome === "success") this.totalSuccesses++;
    else if (outcome === "failure") this.totalFailures++;
    if (gen !== this.gen) {
      this.late++;
      return;
    }
    const half = this.state === CircuitState.HALF_OPEN;
    if (half) this.inFlight--;
    if (outcome === "success") {
      this.failures = 0;
      this.successes++;
      if (half && this.successes >= this.halfOpenMax) {
        this.transition(CircuitState.CLOSED, "recovered");
      }
    } else if (outcome === "failure") {
      this.failures++;
      if (half) this.transition(CircuitState.OPEN, "half_open_failure");
      else if (this.failures >= this.threshold) {
        this.transition(CircuitState.OPEN, "failure_threshold");
      }
    }
  }

  transition(to: CircuitState, reason: TransitionReason): void {
    const from = this.state;
    const failureCount = this.failures;
    this.state = to;
    this.gen++;
    this.successes = 0;
    this.inFlight = 0;
    if (to === CircuitState.OPEN) this.openedAt = this.clock.now();
    else this.failures = 0;
    const log = this.opts.logger ?? getDefaultLogger();
    const n = this.name;
    if (to === CircuitState.OPEN) {
      log.warn(
        reason === "failure_threshold"
          ? `Circuit breaker '${n}' OPEN after ${failureCount} failures`
          : reason === "half_open_failure"
          ? `Circuit breaker '${n}' OPEN after a failed trial call`
          : `Circuit breaker '${n}' OPEN (${reason})`,
        { name: n, reason, failureCount },
      );
    } else if (to === CircuitState.HALF_OPEN) {
      log.info(`Circuit breaker '${n}' transitioning to HALF_OPEN`, { name: n });
    } else {
      log.info(
        reason === "recovered"
          ? `Circuit breaker '${n}' CLOSED - service recovered`
          : `Circuit breaker '${n}' CLOSED - reset`,
        { name: n, reason },
      );
    }
    const event: StateChangeEvent = {
      name: n,
      from,
      to,
      reason,
      failureCount,
      generation: this.gen,
    };
    const notify = (l: (e: StateChangeEvent) => void) => {
      try {
        l(event);
      } catch (e) {
        log.error(`Circuit breaker '${n}' state listener threw: ${String(e)}`, {
          name: n,
          error: e,
        });
      }
    };
    if (this.opts.onStateChange) notify(this.opts.onStateChange);
    for (const l of this.listeners) notify(l);
  }

  stats(): CircuitStats {
    const now = this.clock.now();
    return {
      name: this.name,
      state: this.viewState(now),
      failureCount: this.failures,
      successCount: this.successes,
      timeUntilReset: this.remaining(now),
      halfOpenInFlight: this.inFlight,
      totalCalls: this.totalCalls,
      totalSuccesses: this.totalSuccesses,
      totalFailures: this.totalFailures,
      totalRejections: this.totalRejections,
      lateResults: this.late,
      isolated: this.isolated > 0,
      generation: this.gen,
      failureThreshold: this.threshold,
      resetTimeout: this.resetTimeout,
      halfOpenMaxCalls: this.halfOpenMax,
    };
  }

  reset(): void {
    this.isolated = 0;
    if (this.state !== CircuitState.CLOSED) this.transition(CircuitState.CLOSED, "reset");
    this.failures = 0;
    this.successes = 0;
    this.totalCalls = this.totalSuccesses = this.totalFailures = 0;
    this.totalRejections = this.late = 0;
  }
}

const registry = new Map<string, { breaker: CircuitBreaker; options: CircuitBreakerOptions }>();

const COMPARED = [
  "failureThreshold",
  "resetTimeout",
  "halfOpenMaxCalls",
  "isFailure",
  "fallback",
  "onStateChange",
  "logger",
  "clock",
] as const;

function differences(a: CircuitBreakerOptions, b: CircuitBreakerOptions): string[] {
  const out: string[] = [];
  for (const k of COMPARED) {
    if (a[k] !== b[k]) out.push(`${k}: ${String(a[k])} vs ${String(b[k])}`);
  }
  const ea = a.excludedErrors ?? [];
  const eb = b.excludedErrors ?? [];
  if (ea.length !== eb.length || ea.some((c, i) => c !== eb[i])) {
    out.push("excludedErrors differ");
  }
  return out;
}

/**
 * Creates (or returns the registered) circuit breaker.
 *
 * Consecutive failures reaching `failureThreshold` open the circuit; while
 * OPEN calls fail fast with {@linkcode CircuitOpenError} (or the `fallback`
 * is called with the same arguments). The OPEN → HALF_OPEN move is computed
 * from the monotonic clock when a call arrives: no timers. In HALF_OPEN at
 * most `halfOpenMaxCalls` trial calls run at once (others are rejected),
 * `halfOpenMaxCalls` successes close the circuit, and any failure re-opens
 * it. Results of calls admitted before a transition are ignored.
 *
 * Registry: a second `circuitBreaker({ name })` with equal options returns
 * the same breaker; with different options it throws a `TypeError` naming
 * the differences.
 *
 * Logs (seed wording): info `Circuit breaker 'NAME' transitioning to
 * HALF_OPEN`, warn `Circuit breaker 'NAME' OPEN after N failures`, info
 * `Circuit breaker 'NAME' CLOSED - service recovered`.
 *
 * @example
 * ```ts
 * import { circuitBreaker, getCircuitBreaker } from "edge-resilience";
 *
 * const breaker = circuitBreaker({
 *   name: "external_api",
 *   failureThreshold: 5,
 *   resetTimeout: 60_000,
 *   halfOpenMaxCalls: 3,
 *   fallback: () => ({ status: "cached" }),
 * });
 * const getData = breaker(async () => (await fetch("https://api.example")).json());
 * await getData();
 *
 * const same = getCircuitBreaker("external_api")!;
 * console.log(same.state, same.getStats().failureCount, same.getTimeUntilReset());
 * ```
 */
export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  checkObject(W, "options", options);
  const { name } = options;
  checkString(W, "name", name);
  if (name !== undefined) {
    const found = registry.get(name);
    if (found) {
      const diff = differences(found.options, options);
      if (diff.length === 0) return found.breaker;
      throw new TypeError(
        `${W}: a breaker named '${name}' is already registered with other options (${
          diff.join("; ")
        }). Reuse it with getCircuitBreaker('${name}') or choose another name.`,
      );
    }
  }
  const core = new Breaker(name ?? "anonymous", options);
  const fallback = options.fallback as ((...args: unknown[]) => unknown) | undefined;
  let named = name !== undefined;
  const breaker = createPolicy<CircuitBreaker>(
    W,
    async (fn, thisArg, args, parent) => {
      const clock = core.clock;
      const gen = core.admit(clock.now());
      if (gen === REJECT) {
        core.totalRejections++;
        if (fallback) return await fallback.apply(thisArg, args as unknown[]) as never;
        throw new CircuitOpenError(core.name, core.remaining(clock.now()), core.state);
      }
      let value;
      try {
        value = await start(parent ?? new Scope(), fn, thisArg, args);
      } catch (e) {
        core.settle(gen, core.countsAsFailure(e) ? "failure" : "neutral");
        throw e;
      }
      core.settle(gen, "success");
      return value;
    },
    {
      get name() {
        return core.name;
      },
      get state() {
        return core.viewState(core.clock.now());
      },
      getStats: () => core.stats(),
      getTimeUntilReset: () => core.remaining(core.clock.now()),
      reset: () => core.reset(),
      open: () => {
        if (core.state !== CircuitState.OPEN) core.transition(CircuitState.OPEN, "manual_open");
        else core.openedAt = core.clock.now();
      },
      isolate: () => {
        core.isolated++;
        if (core.state !== CircuitState.OPEN) core.transition(CircuitState.OPEN, "isolated");
        let released = false;
        return () => {
          if (released) return;
          released = true;
          if (core.isolated > 0) core.isolated--;
          if (core.isolated === 0) core.openedAt = core.clock.now();
        };
      },
      onStateChange: (listener: (e: StateChangeEvent) => void) => {
        checkFunction(W, "listener", listener);
        core.listeners.add(listener);
        return () => void core.listeners.delete(listener);
      },
    },
    (fn) => {
      if (!named && fn.name) {
        core.name = fn.name;
        named = true;
      }
    },
  );
  if (name !== undefined) registry.set(name, { breaker, options });
  return breaker;
}

/**
 * Returns the registered breaker with this name, or `undefined`.
 *
 * @example
 * ```ts
 * import { circuitBreaker, getCircuitBreaker } from "edge-resilience";
 *
 * circuitBreaker({ name: "db" });
 * console.log(getCircuitBreaker("db")?.state); // "closed"
 * ```
 */
export function getCircuitBreaker(name: string): CircuitBreaker | undefined {
  return registry.get(name)?.breaker;
}

/**
 * Every registered breaker, in registration order (e.g. for a health page).
 *
 * @example
 * ```ts
 * import { listCircuitBreakers } from "edge-resilience";
 *
 * for (const b of listCircuitBreakers()) console.log(b.name, b.state);
 * ```
 */
export function listCircuitBreakers(): CircuitBreaker[] {
  return [...registry.values()].map((r) => r.breaker);
}

/**
 * Empties the registry (for tests). Existing breaker objects keep working
 * but are no longer returned by {@linkcode getCircuitBreaker}.
 *
 * @example
 * ```ts
 * import { clearCircuitBreakers } from "edge-resilience";
 *
 * clearCircuitBreakers();
 * ```
 */
export function clearCircuitBreakers(): void {
  registry.clear();
}
