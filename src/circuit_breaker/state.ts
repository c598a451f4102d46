// The state machine of one breaker: admission (CLOSED, OPEN, HALF_OPEN with
// trial permits), outcomes and the generation rule, transitions, stats. The
// registry and the breaker object around it live next door.
import { type Clock, systemClock } from "../clock.ts";
import { CircuitState } from "../circuit_state.ts";
import { type Scope, start, type Target } from "../context.ts";
import { CircuitOpenError } from "../errors.ts";
import { getDefaultLogger, type Logger } from "../logger.ts";
import { LINK, type LinkedStore, REJECT, type StoreLink } from "../store_sync.ts";
import { checkFunction, checkNumber, checkObject, errorMatcher } from "../validate.ts";
import { announce } from "./events.ts";
import { W } from "./options.ts";
import { CLOSE, type FailureStrategy, REOPEN } from "./strategy.ts";
import { type Trip, tripFor } from "./trip_options.ts";
import type {
  CircuitBreakerOptions,
  CircuitStats,
  StateChangeEvent,
  TransitionReason,
} from "./types.ts";

/** A half-open trial call: holds a permit until it settles or `resetTimeout` passes. */
export interface Trial {
  /** The generation that admitted it. */
  readonly gen: number;
  /** When it started (monotonic ms). */
  readonly at: number;
}

/**
 * @internal What `admit()` hands an admitted call: its generation (a CLOSED
 * call), or its trial (HALF_OPEN). REJECT when rejected.
 */
export type Token = number | Trial;

export class Breaker {
  name: string;
  link: StoreLink | undefined;
  readonly threshold: number;
  readonly resetTimeout: number;
  /** Option `maxResetTimeout`: the longest open duration (resetTimeout: never grows). */
  readonly maxReset: number;
  /** The open duration in force: doubles on each reopen from HALF_OPEN, up to maxReset. */
  openFor: number;
  /** With a store: the trip rules as options gave them (the store runs them too). */
  readonly trip: Trip | undefined;
  /** Option `slowCallDuration` (Infinity: no call is slow). */
  readonly slowAfter: number;
  /** The strategy counts outcomes by time (a time window): it needs the clock. */
  readonly timed: boolean;
  /** A success is a success and its duration does not matter (the fast path of CLOSED calls). */
  readonly plain: boolean;
  readonly halfOpenMax: number;
  readonly opts: CircuitBreakerOptions;
  readonly clock: Clock;
  listeners: Set<(e: StateChangeEvent) => void> | undefined;
  state: CircuitState = CircuitState.CLOSED;
  gen = 0;
  /** When CLOSED opens (and the failure count of stats and events). */
  readonly strategy: FailureStrategy;
  successes = 0;
  /** Trials holding a permit (any generation; expired ones are dropped lazily). */
  trials: Trial[] = [];
  openedAt = 0;
  /** Isolation handles not yet released. */
  isolated = 0;
  /** Incremented by `reset()`: older isolation handles no longer count. */
  isolations = 0;
  /** Option `countCallerAborts`. */
  readonly countAborts: boolean;
  totalCalls = 0;
  totalSuccesses = 0;
  totalFailures = 0;
  totalRejections = 0;
  late = 0;
  /** Milliseconds until reset computed by the last rejecting `admit()`. */
  left = 0;
  /** Excluded error classes, as a matcher (undefined when none). */
  readonly excluded: ((e: unknown) => boolean) | undefined;

  constructor(name: string, o: CircuitBreakerOptions) {
    this.name = name;
    this.opts = o;
    this.threshold = checkNumber(W, "failureThreshold", o.failureThreshold, 5, 1, {
      integer: true,
      max: Number.MAX_SAFE_INTEGER,
    });
    // Only compared with the clock, never handed to a timer: no 2^31-1 limit.
    this.resetTimeout = checkNumber(W, "resetTimeout", o.resetTimeout, 60_000, 0, {
      max: Number.MAX_SAFE_INTEGER,
    });
    this.openFor = this.resetTimeout;
    this.maxReset = o.maxResetTimeout === undefined
      ? this.resetTimeout
      : checkNumber(W, "maxResetTimeout", o.maxResetTimeout, undefined, this.resetTimeout, {
        max: Number.MAX_SAFE_INTEGER,
      });
    const trip = tripFor(o, this.threshold);
    this.trip = o.store !== undefined ? trip : undefined;
    this.strategy = trip.strategy;
    this.slowAfter = trip.slowAfter;
    this.timed = trip.strategy.timed;
    this.plain = trip.slowAfter === Infinity && o.isFailureResult === undefined;
    checkFunction(W, "isFailureResult", o.isFailureResult);
    this.halfOpenMax = checkNumber(W, "halfOpenMaxCalls", o.halfOpenMaxCalls, 3, 1, {
      integer: true,
      max: Number.MAX_SAFE_INTEGER,
    });
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
          `${W}: option 'store' must be a store of this library or one wrapped with circuitStore()`,
        );
      }
      this.link = link(this);
    }
  }

  logger(): Logger {
    return this.opts.logger ?? getDefaultLogger();
  }

  /**
   * Whether the call's caller cancelled it (its scope, the caller's signal or
   * an enclosing policy, aborted) and such calls do not count.
   */
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
  reject(
    thisArg: unknown,
    args: readonly unknown[],
    left: number,
    state: CircuitState,
  ): Promise<unknown> {
    this.totalRejections++;
    const isolated = this.isolated > 0;
    const fallback = this.opts.fallback as ((...a: unknown[]) => unknown) | undefined;
    if (fallback) {
      try {
        return Promise.resolve(fallback.apply(thisArg, args as unknown[]));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return Promise.reject(CircuitOpenError.fast(this.name, left, state, isolated));
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
    if (this.link && !this.isolated) return this.link.run(fn, thisArg, args, parent);
    const token = this.admit();
    if (token === REJECT) {
      return this.reject(thisArg, args, this.left, this.state);
    }
    return this.runLocal(token, fn, thisArg, args, parent);
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
      this.settle(token, this.outcome(e, parent), 0);
      return Promise.reject(e);
    }
    // A synchronous function (or a thenable) settles on its eventual value too.
    const p = r instanceof Promise ? r : Promise.resolve(r);
    if (typeof token !== "number" || (parent !== undefined && parent.live)) {
      return this.settleOwn(p, token, parent, 0);
    }
    const gen = token;
    // Settle handlers are made once per generation, not per call.
    let h = this.#handlers;
    if (!h || h.gen !== gen) {
      h = this.#handlers = {
        gen,
        ok: (v: unknown) => this.#done(gen, v),
        err: (e: unknown) => this.#failed(gen, e),
      };
    }
    return p.then(h.ok, h.err);
  }

  /** A call whose duration counts (slow calls): handlers of its own, with its start time. */
  runTimed(
    token: Token,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    // Trials carry their start in the token.
    const t0 = typeof token === "number" ? this.clock.now() : 0;
    let r: unknown;
    try {
      r = start(parent, fn, thisArg, args);
    } catch (e) {
      this.settle(token, this.outcome(e, parent), t0);
      return Promise.reject(e);
    }
    return this.settleOwn(r instanceof Promise ? r : Promise.resolve(r), token, parent, t0);
  }

  /**
   * A trial, or a call its caller may cancel: handlers of its own (in their
   * own frame, so that the common path allocates no closure context).
   */
  settleOwn(
    p: Promise<unknown>,
    token: Token,
    parent: Scope | undefined,
    t0: number,
  ): Promise<unknown> {
    return p.then(
      (v) => {
        this.settle(token, this.resultOutcome(v), t0);
        return v;
      },
      (e) => {
        this.settle(token, this.outcome(e, parent), t0);
        throw e;
      },
    );
  }

  /** How a returned value counts: a failure when `isFailureResult` says so. */
  resultOutcome(v: unknown): "success" | "failure" {
    const f = this.opts.isFailureResult;
    return f !== undefined && f(v) ? "failure" : "success";
  }

  /** How a failed call counts: neutral when excluded or cancelled by its caller. */
  outcome(e: unknown, parent: Scope | undefined): "failure" | "neutral" {
    return !this.callerAborted(parent) && this.countsAsFailure(e) ? "failure" : "neutral";
  }

  #handlers:
    | { gen: number; ok: (v: unknown) => unknown; err: (e: unknown) => never }
    | undefined;

  #done(gen: number, v: unknown): unknown {
    // The common case written out here (not through record()): short enough to inline.
    if (gen === this.gen && this.plain) {
      this.totalSuccesses++;
      this.successes++;
      // A time window counts by wall time: Date.now() costs less than performance.now().
      const why = this.strategy.success(this.timed ? this.clock.wallNow() : 0);
      if (why !== undefined) this.transition(CircuitState.OPEN, why);
      return v;
    }
    this.record(gen, this.opts.isFailureResult ? this.resultOutcome(v) : "success", false, 0);
    return v;
  }

  #failed(gen: number, e: unknown): never {
    // Only calls no caller can cancel come here (see runLocal).
    this.record(gen, this.countsAsFailure(e) ? "failure" : "neutral", false, 0);
    throw e;
  }

  /** Milliseconds left in OPEN at `now` (0 once elapsed, Infinity if isolated). */
  remaining(now: number): number {
    const v = this.link?.view;
    if (v && !this.isolated) {
      return v.state === CircuitState.OPEN
        ? Math.max(0, (v.openFor ?? this.resetTimeout) - (this.clock.wallNow() - v.openedAt))
        : 0;
    }
    if (this.state !== CircuitState.OPEN) return 0;
    if (this.isolated) return Infinity;
    return Math.max(0, this.openFor - (now - this.openedAt));
  }

  viewState(now: number): CircuitState {
    const state = (!this.isolated && this.link?.view?.state) || this.state;
    return state === CircuitState.OPEN && this.remaining(now) === 0
      ? CircuitState.HALF_OPEN
      : state;
  }

  /**
   * Trials holding a permit at `now`: a trial still running more than
   * `resetTimeout` after it started gives its permit back (dropped here).
   */
  running(now: number): number {
    const t = this.trials;
    if (t.length > 0 && now - t[0].at > this.resetTimeout) {
      this.trials = t.filter((x) => now - x.at <= this.resetTimeout);
    }
    return this.trials.length;
  }

  /** Admits a call: its token (generation or trial), or REJECT. CLOSED needs no clock. */
  admit(): Token {
    if (this.state === CircuitState.CLOSED) {
      this.totalCalls++;
      return this.gen;
    }
    const now = this.clock.now();
    if (this.state === CircuitState.OPEN) {
      const left = this.remaining(now);
      if (left > 0) {
        this.left = left; // for the rejection, without reading the clock again
        return REJECT;
      }
      this.transition(CircuitState.HALF_OPEN, "reset_timeout");
    }
    // HALF_OPEN: trials of earlier half-open periods still running count too.
    if (this.running(now) >= this.halfOpenMax) {
      this.left = 0;
      return REJECT;
    }
    const trial: Trial = { gen: this.gen, at: now };
    this.trials.push(trial);
    this.totalCalls++;
    return trial;
  }

  /** Counts a call's outcome (`t0`: when a CLOSED call started, for slow calls). */
  settle(token: Token, outcome: "success" | "failure" | "neutral", t0: number): void {
    if (typeof token === "number") {
      this.record(token, outcome, false, t0);
      return;
    }
    // A trial frees its permit; past its resetTimeout it had given it back already.
    const i = this.trials.indexOf(token);
    if (i >= 0) this.trials.splice(i, 1);
    // (Only an expired trial can be missing from `trials`: expiry is what drops one.)
    if (this.clock.now() - token.at > this.resetTimeout) {
      if (outcome === "success") this.totalSuccesses++;
      else if (outcome === "failure") this.totalFailures++;
      this.late++;
      return;
    }
    this.record(token.gen, outcome, true, token.at);
  }

  /**
   * Counts the outcome of a call admitted in generation `gen` (`half`: a
   * trial) that started at `t0` (monotonic ms; read only for slow calls).
   * The strategy decides; this machine only moves.
   */
  record(
    gen: number,
    outcome: "success" | "failure" | "neutral",
    half: boolean,
    t0: number,
  ): void {
    if (outcome === "success") this.totalSuccesses++;
    else if (outcome === "failure") this.totalFailures++;
    if (gen !== this.gen) {
      this.late++;
      return;
    }
    if (outcome === "neutral") return;
    const failed = outcome === "failure";
    if (!failed) this.successes++;
    let now = 0;
    // Slow calls are timed by the monotonic clock; a time window counts by wall time.
    const slow = this.slowAfter !== Infinity && this.clock.now() - t0 >= this.slowAfter;
    if (this.timed) now = this.clock.wallNow();
    if (half) {
      const verdict = this.strategy.trial(failed, slow, this.halfOpenMax);
      if (verdict === REOPEN) this.transition(CircuitState.OPEN, "half_open_failure");
      else if (verdict === CLOSE) this.transition(CircuitState.CLOSED, "recovered");
    } else {
      const why = this.strategy.record(failed, slow, now);
      if (why !== undefined) this.transition(CircuitState.OPEN, why);
    }
  }

  transition(to: CircuitState, reason: TransitionReason): void {
    // While isolated, the shared state (a store outage adopting the last view, a broadcast)
    // does not move the circuit: only a release or reset() ends an isolation.
    if (reason === "shared" && this.isolated > 0) return;
    const from = this.state;
    const failureCount = this.strategy.failures;
    this.state = to;
    this.gen++;
    this.successes = 0;
    if (to === CircuitState.OPEN) {
      // Reopened without a close in between: the open duration doubles, up to maxResetTimeout.
      if (reason === "half_open_failure") this.openFor = Math.min(this.openFor * 2, this.maxReset);
      this.openedAt = this.clock.now();
    } else {
      if (to === CircuitState.CLOSED) this.openFor = this.resetTimeout;
      this.strategy.reset();
    }
    this.emit(from, to, reason, failureCount, this.gen);
    if (reason !== "shared") this.link?.localTransition(to, this.gen);
  }

  emit(
    from: CircuitState,
    to: CircuitState,
    reason: TransitionReason,
    failureCount: number,
    generation: number,
  ): void {
    announce(this, from, to, reason, failureCount, generation);
  }

  stats(): CircuitStats {
    const now = this.clock.now();
    const v = this.isolated ? undefined : this.link?.view;
    // With an authoritative store, the shared window of every instance's calls.
    const w = v ? this.link!.windowStats() : this.strategy.window(this.clock.wallNow());
    return {
      name: this.name,
      state: this.viewState(now),
      // Rate mode: the (shared) window's failures, as a local breaker counts them.
      failureCount: v
        ? (w && this.trip!.rates!.failureRateThreshold !== undefined ? w.failures : v.failures)
        : this.strategy.failures,
      successCount: v ? v.successes : this.successes,
      timeUntilReset: this.isolated > 0 ? null : this.remaining(now),
      halfOpenInFlight: v ? v.permits.length : this.running(now),
      totalCalls: this.totalCalls,
      totalSuccesses: this.totalSuccesses,
      totalFailures: this.totalFailures,
      totalRejections: this.totalRejections,
      lateResults: this.late,
      isolated: this.isolated > 0,
      ...(this.link ? { storeAvailable: this.link.available } : {}),
      generation: v ? v.generation : this.gen,
      failureThreshold: this.threshold,
      resetTimeout: this.resetTimeout,
      halfOpenMaxCalls: this.halfOpenMax,
      openDuration: v ? v.openFor ?? this.resetTimeout : this.openFor,
      ...(w ? { window: w } : {}),
    };
  }

  reset(): void {
    this.isolated = 0;
    this.isolations++;
    if (this.state !== CircuitState.CLOSED) this.transition(CircuitState.CLOSED, "reset");
    this.strategy.reset();
    this.successes = 0;
    this.totalCalls = this.totalSuccesses = this.totalFailures = 0;
    this.totalRejections = this.late = 0;
  }
}

/** @internal What the store link uses of a breaker: its local state machine. */
export type BreakerCore = Pick<
  Breaker,
  | "name"
  | "clock"
  | "opts"
  | "threshold"
  | "resetTimeout"
  | "halfOpenMax"
  | "state"
  | "openedAt"
  | "left"
  | "totalCalls"
  | "totalSuccesses"
  | "totalFailures"
  | "logger"
  | "admit"
  | "remaining"
  | "transition"
  | "emit"
  | "countsAsFailure"
  | "resultOutcome"
  | "trip"
  | "maxReset"
  | "slowAfter"
  | "openFor"
  | "reject"
  | "runLocal"
  | "callerAborted"
>;
