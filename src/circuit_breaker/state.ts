// A breaker: the state machine (machine.ts) run in place, plus what a policy
// adds around it — classifying each call's outcome once (success, failure,
// neutral; slow), the fallback, totals, listeners, instance isolation, and
// the store link when the circuit is shared (the link replicates this same
// machine; it never decides by other rules).
import { type Clock, systemClock } from "../clock.ts";
import { CircuitState } from "../circuit_state.ts";
import { type Scope, start, type Target } from "../context.ts";
import { CircuitOpenError } from "../errors.ts";
import { getDefaultLogger, guardedLogger, type Logger } from "../logger.ts";
import { LINK, type LinkedStore } from "../shared/link_symbol.ts";
import { emit, flags } from "../telemetry.ts";
import { checkFunction, checkObject, errorMatcher } from "../validate.ts";
import { announce } from "./events.ts";
import type { StoreLink } from "./link.ts";
import {
  CircuitMachine,
  FAILURE,
  NEUTRAL,
  REJECT,
  type Result,
  SUCCESS,
  type Token,
} from "./machine.ts";
import { W } from "./options.ts";
import { settingsFor } from "./settings.ts";
import type { Trip } from "./trip_options.ts";
import type {
  CircuitBreakerOptions,
  CircuitStats,
  StateChangeEvent,
  TransitionReason,
} from "./types.ts";

export type { Token };

export class Breaker extends CircuitMachine {
  name: string;
  link: StoreLink | undefined;
  readonly threshold: number;
  readonly trip: Trip;
  /** Option `slowCallDuration` (Infinity: no call is slow). */
  readonly slowAfter: number;
  /** The strategy counts outcomes by time (a time window): it needs the clock. */
  readonly timed: boolean;
  /** A success is a success and its duration does not matter (the fast path of CLOSED calls). */
  readonly plain: boolean;
  readonly opts: CircuitBreakerOptions;
  readonly clock: Clock;
  listeners: Set<(e: StateChangeEvent) => void> | undefined;
  /** Instance isolation handles not yet released. */
  isolated = 0;
  /** Incremented by `reset()`: older isolation handles no longer count. */
  isolations = 0;
  /** Option `countCallerAborts`. */
  readonly countAborts: boolean;
  totalCalls = 0;
  totalSuccesses = 0;
  totalFailures = 0;
  totalRejections = 0;
  /** Transitions are not announced (the link is replaying the store's state). */
  quiet = false;
  /** Excluded error classes, as a matcher (undefined when none). */
  readonly excluded: ((e: unknown) => boolean) | undefined;

  constructor(name: string, o: CircuitBreakerOptions) {
    const s = settingsFor(o);
    super(s, s.trip.strategy);
    this.name = name;
    this.opts = o;
    this.threshold = s.threshold;
    this.trip = s.trip;
    this.slowAfter = s.trip.slowAfter;
    this.timed = s.trip.strategy.timed;
    this.plain = s.trip.slowAfter === Infinity && o.isFailureResult === undefined;
    checkFunction(W, "isFailureResult", o.isFailureResult);
    if (o.countCallerAborts !== undefined && typeof o.countCallerAborts !== "boolean") {
      throw new TypeError(
        `${W}: option 'countCallerAborts' must be a boolean, got ${typeof o.countCallerAborts}`,
      );
    }
    this.countAborts = o.countCallerAborts === true;
    checkFunction(W, "isFailure", o.isFailure);
    checkFunction(W, "fallback", o.fallback);
    checkFunction(W, "onStateChange", o.onStateChange);
    checkObject(W, "logger", o.logger);
    checkObject(W, "clock", o.clock);
    const excluded = errorMatcher(W, "excludedErrors", o.excludedErrors);
    if (o.excludedErrors !== undefined && !Array.isArray(o.excludedErrors)) {
      throw new TypeError(`${W}: option 'excludedErrors' must be an array of error classes`);
    }
    this.excluded = excluded;
    this.clock = o.clock ?? systemClock;
    checkFunction(W, "onStoreStatus", o.onStoreStatus);
    if (o.store !== undefined) {
      // The link (and its checks of the store options) comes with the store: a breaker
      // without one does not load it.
      const link = (o.store as Partial<LinkedStore> | null)?.[LINK];
      if (typeof link !== "function") {
        throw new TypeError(
          `${W}: option 'store' must be a store of this library or one wrapped with sharedStore()`,
        );
      }
      this.link = link(this) as StoreLink;
    } else {
      for (const k of ["storeKey", "storeOptions", "onStoreStatus"] as const) {
        if (o[k] !== undefined) {
          throw new TypeError(`${W}: option '${k}' needs option 'store' (no store was given)`);
        }
      }
    }
  }

  /** A local breaker runs on the monotonic clock; a shared one on wall time (the store's). */
  override time(): number {
    return this.link === undefined ? this.clock.now() : this.clock.wallNow();
  }

  override changed(
    from: CircuitState,
    to: CircuitState,
    reason: TransitionReason,
    failures: number,
    remote = false,
  ): void {
    if (this.quiet) return;
    announce(this, from, to, reason, failures, this.gen, remote);
    this.link?.localTransition(to, reason);
  }

  /** Instance isolation holds OPEN too. */
  override remaining(now: number): number {
    if (this.isolated > 0 && this.state === CircuitState.OPEN) return Infinity;
    return super.remaining(now);
  }

  logger(): Logger {
    const own = this.opts.logger;
    if (own === undefined) return getDefaultLogger();
    return this.#logger ??= guardedLogger(own);
  }

  /** The breaker's own logger, guarded (made at its first log line). */
  #logger: Logger | undefined;

  /** Whether the call's caller cancelled it and such calls do not count. */
  callerAborted(parent: Scope | undefined): boolean {
    return parent !== undefined && !this.countAborts && parent.aborted;
  }

  /** Whether an error counts as a failure (not excluded, and `isFailure` agrees). */
  countsAsFailure(e: unknown): boolean {
    if (this.excluded?.(e)) return false;
    const isFailure = this.opts.isFailure;
    return isFailure ? isFailure(e) : true;
  }

  /** An unnamed breaker takes the name of the first function it wraps. */
  nameAfter(fn: { name: string }, policy: object): void {
    if (this.name === "anonymous" && fn.name) {
      this.name = fn.name;
      Object.defineProperty(policy, "name", { value: fn.name });
    }
  }

  /** Rejects a call: the fallback's answer, or a CircuitOpenError (no stack trace: fail fast). */
  reject(thisArg: unknown, args: readonly unknown[], left = this.left): Promise<unknown> {
    this.totalRejections++;
    if (flags.on) {
      emit({
        type: "breaker.rejected",
        kind: "circuitBreaker",
        name: this.name,
        timeUntilReset: left,
      });
    }
    const fallback = this.opts.fallback as ((...a: unknown[]) => unknown) | undefined;
    if (fallback) {
      try {
        return Promise.resolve(fallback.apply(thisArg, args as unknown[]));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return Promise.reject(
      CircuitOpenError.fast(this.name, left, this.state, this.isolated > 0 || this.held),
    );
  }

  /** Admits a call through this machine (counted when admitted). */
  admitCall(): Token {
    const token = this.admit();
    if (token !== REJECT) this.totalCalls++;
    return token;
  }

  /** One call: the hot path (local state, CLOSED) reads no clock and allocates no scope. */
  run(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    // A caller that already gave up: the work never starts, nothing is counted.
    if (parent !== undefined && parent.aborted) return Promise.reject(parent.reason);
    if (this.link !== undefined && this.isolated === 0) {
      return this.link.run(fn, thisArg, args, parent);
    }
    if (
      this.state !== CircuitState.CLOSED || !this.plain || (parent !== undefined && parent.live)
    ) {
      const token = this.admitCall();
      if (token === REJECT) return this.reject(thisArg, args);
      return this.runLocal(token, fn, thisArg, args, parent);
    }
    // The hot path (CLOSED, a plain success is a success, no caller that may cancel): written
    // out here, no clock, no closure per call.
    this.totalCalls++;
    const gen = this.gen;
    let r: unknown;
    try {
      r = start(parent, fn, thisArg, args);
    } catch (e) {
      this.finish(gen, this.outcome(e, parent), 0);
      return Promise.reject(e);
    }
    let h = this.#handlers;
    if (h === undefined || h.gen !== gen) h = this.#handlersFor(gen);
    return (r instanceof Promise ? r : Promise.resolve(r)).then(h.ok, h.err);
  }

  runLocal(
    token: Token,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    if (this.slowAfter !== Infinity) return this.runTimed(token, fn, thisArg, args, parent);
    let r: unknown;
    try {
      r = start(parent, fn, thisArg, args);
    } catch (e) {
      this.finish(token, this.outcome(e, parent), 0);
      return Promise.reject(e);
    }
    // A synchronous function (or a thenable) settles on its eventual value too.
    const p = r instanceof Promise ? r : Promise.resolve(r);
    if (
      typeof token !== "number" || (parent !== undefined && parent.live) ||
      this.link !== undefined
    ) {
      return this.settleOwn(p, token, parent, 0);
    }
    const gen = token;
    let h = this.#handlers;
    if (h === undefined || h.gen !== gen) h = this.#handlersFor(gen);
    return p.then(h.ok, h.err);
  }

  /** Settle handlers are made once per generation, not per call. */
  #handlersFor(
    gen: number,
  ): { gen: number; ok: (v: unknown) => unknown; err: (e: unknown) => never } {
    return this.#handlers = {
      gen,
      ok: (v: unknown) => this.#done(gen, v),
      err: (e: unknown) => this.#failed(gen, e),
    };
  }

  /** A call whose duration counts (slow calls): handlers of its own, with its start time. */
  runTimed(
    token: Token,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    const t0 = this.clock.now();
    let r: unknown;
    try {
      r = start(parent, fn, thisArg, args);
    } catch (e) {
      this.finish(token, this.outcome(e, parent), t0);
      return Promise.reject(e);
    }
    return this.settleOwn(r instanceof Promise ? r : Promise.resolve(r), token, parent, t0);
  }

  /**
   * A trial, a shared call, or a call its caller may cancel: handlers of its
   * own (in their own frame, so that the common path allocates no closure context).
   */
  settleOwn(
    p: Promise<unknown>,
    token: Token,
    parent: Scope | undefined,
    t0: number,
  ): Promise<unknown> {
    return p.then(
      (v) => {
        this.finish(token, this.resultOutcome(v), t0);
        return v;
      },
      (e) => {
        this.finish(token, this.outcome(e, parent), t0);
        throw e;
      },
    );
  }

  /** How a returned value counts: a failure when `isFailureResult` says so. */
  resultOutcome(v: unknown): Result {
    const f = this.opts.isFailureResult;
    return f !== undefined && f(v) ? FAILURE : SUCCESS;
  }

  /** How a failed call counts: neutral when excluded or cancelled by its caller. */
  outcome(e: unknown, parent: Scope | undefined): Result {
    return !this.callerAborted(parent) && this.countsAsFailure(e) ? FAILURE : NEUTRAL;
  }

  /**
   * A call settled, its outcome classified once: totals, then the machine
   * (and, shared, the report to the store). `t0`: when it started, for slow calls.
   */
  finish(token: Token, result: Result, t0: number): void {
    if (result === SUCCESS) this.totalSuccesses++;
    else if (result === FAILURE) this.totalFailures++;
    const slow = this.slowAfter !== Infinity && result !== NEUTRAL &&
      this.clock.now() - t0 >= this.slowAfter;
    const link = this.link;
    if (link === undefined) {
      // A time window counts by wall time (as a shared one does): Date.now() costs less than
      // performance.now().
      this.settle(token, result, slow, this.timed ? this.clock.wallNow() : 0);
      return;
    }
    const at = this.clock.wallNow();
    const gen = this.gen;
    const failures = this.strategy.failures;
    // In this copy the outcome is newer than every outcome it holds (they were known before it
    // settled), whatever this clock says against the store's (whose times the copy holds): not
    // ordered before another instance's older success. The store gets this clock's time (moved
    // onto its own clock there).
    this.settle(token, result, slow, Math.max(at, this.lastSuccessAt, this.lastFailureAt));
    // Sent at once when it moved this instance's copy (a success can trip a rate), or when a
    // success ended a run of failures (in a row) this copy knew of: the store must hear the
    // evidence that moved the count, not in the next batch (a batched success would leave
    // the fleet's run of failures growing meanwhile).
    link.report(
      token,
      result,
      slow,
      at,
      this.gen !== gen || (failures > 0 && this.strategy.failures === 0),
    );
  }

  #handlers:
    | { gen: number; ok: (v: unknown) => unknown; err: (e: unknown) => never }
    | undefined;

  #done(gen: number, v: unknown): unknown {
    // The common case written out here: short enough to inline.
    if (gen === this.gen && this.plain) {
      this.totalSuccesses++;
      this.successes++;
      const why = this.strategy.success(this.timed ? this.clock.wallNow() : 0);
      if (why !== undefined) this.transition(CircuitState.OPEN, why);
      return v;
    }
    this.finish(gen, this.resultOutcome(v), 0);
    return v;
  }

  #failed(gen: number, e: unknown): never {
    // Only calls no caller can cancel come here (see runLocal).
    this.finish(gen, this.countsAsFailure(e) ? FAILURE : NEUTRAL, 0);
    throw e;
  }

  /** Opens the circuit now (a shared circuit: for every instance). */
  open(): void {
    this.command("open");
    this.link?.command("open");
  }

  /** Closes the circuit, ends every isolation, clears the counters (shared: for every instance). */
  reset(): void {
    this.isolated = 0;
    this.isolations++;
    this.command("reset");
    this.link?.command("reset");
    this.totalCalls = this.totalSuccesses = this.totalFailures = 0;
    this.totalRejections = this.late = 0;
  }

  stats(): CircuitStats {
    const now = this.time();
    const state = this.viewState(now);
    // Past its open duration the circuit reads HALF_OPEN: counts as after that transition.
    const due = state !== this.state;
    const rates = this.trip.rates;
    const w = due ? undefined : this.strategy.window(this.clock.wallNow());
    const isolated = this.isolated > 0 || this.held;
    const changedAt = this.reason === undefined
      ? undefined
      : this.link === undefined
      ? this.clock.wallNow() - (this.clock.now() - this.changedAt)
      : this.changedAt;
    return {
      name: this.name,
      state,
      failureCount: due ? 0 : this.strategy.failures,
      successCount: due ? 0 : this.successes,
      timeUntilReset: isolated ? null : this.remaining(now),
      halfOpenInFlight: this.running(now),
      totalCalls: this.totalCalls,
      totalSuccesses: this.totalSuccesses,
      totalFailures: this.totalFailures,
      totalRejections: this.totalRejections,
      lateResults: this.late,
      isolated,
      ...(this.link ? { storeAvailable: this.link.available } : {}),
      generation: this.gen,
      failureThreshold: Number.isFinite(this.trip.consecutive) ? this.trip.consecutive : null,
      ...(rates ? { rates: { ...rates } } : {}),
      resetTimeout: this.resetTimeout,
      halfOpenMaxCalls: this.halfOpenMax,
      openDuration: this.openFor,
      ...(rates
        ? {
          window: w ?? { calls: 0, failures: 0, slowCalls: 0, failureRate: 0, slowCallRate: 0 },
        }
        : {}),
      lastTransition: changedAt === undefined
        ? null
        : { to: this.state, reason: this.reason!, at: Math.round(changedAt) },
    };
  }
}
