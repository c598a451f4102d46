/**
 * Circuit breaker: CLOSED → OPEN → HALF_OPEN, with a named registry.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { CircuitState } from "./circuit_state.ts";
import { type Scope, start, type Target } from "./context.ts";
import { CircuitOpenError } from "./errors.ts";
import { getDefaultLogger, type Logger } from "./logger.ts";
import { createPolicy, type Policy, policyProto } from "./policy.ts";
import type { CircuitStore } from "./store.ts";
import {
  LINK,
  type LinkedStore,
  REJECT,
  type StoreLink,
  type StoreOptions,
  type StoreStatusEvent,
} from "./store_sync.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  type ErrorClass,
  errorMatcher,
  optionNames,
} from "./validate.ts";

/** Why a breaker changed state. */
export type TransitionReason =
  | "failure_threshold"
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
  store?: CircuitStore;
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
  /** Milliseconds until trial calls are allowed: 0 unless OPEN, `Infinity` while isolated. */
  getTimeUntilReset(): number;
  /** Closes the circuit, ends every isolation and clears every counter. */
  reset(): void;
  /** Opens the circuit now, as if the threshold was reached. */
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
   */
  isolate(): () => void;
  /** Subscribes to transitions; returns an unsubscribe function. */
  onStateChange(listener: (event: StateChangeEvent) => void): () => void;
  /**
   * Sends outcomes not yet reported to the store, refreshes the local view,
   * and waits for background store work (a no-op without a store). On
   * Workers: `ctx.waitUntil(breaker.flush())`.
   */
  flush(): Promise<void>;
}

const W = "circuitBreaker";

/** The option names, checked by the compiler against {@linkcode CircuitBreakerOptions}. */
const NAMES = /* @__PURE__ */ optionNames<CircuitBreakerOptions>({
  name: 1,
  failureThreshold: 1,
  resetTimeout: 1,
  halfOpenMaxCalls: 1,
  countCallerAborts: 1,
  isFailure: 1,
  excludedErrors: 1,
  fallback: 1,
  onStateChange: 1,
  logger: 1,
  clock: 1,
  store: 1,
  storeKey: 1,
  storeOptions: 1,
  onStoreStatus: 1,
});

/** A half-open trial call: holds a permit until it settles or `resetTimeout` passes. */
interface Trial {
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

class Breaker {
  name: string;
  link: StoreLink | undefined;
  readonly threshold: number;
  readonly resetTimeout: number;
  readonly halfOpenMax: number;
  readonly opts: CircuitBreakerOptions;
  readonly clock: Clock;
  listeners: Set<(e: StateChangeEvent) => void> | undefined;
  state: CircuitState = CircuitState.CLOSED;
  gen = 0;
  failures = 0;
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
    const isolated = this.isolated > 0 && state === CircuitState.OPEN;
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
    let r: unknown;
    try {
      r = start(parent, fn, thisArg, args);
    } catch (e) {
      this.settle(token, this.outcome(e, parent));
      return Promise.reject(e);
    }
    // A synchronous function (or a thenable) settles on its eventual value too.
    const p = r instanceof Promise ? r : Promise.resolve(r);
    if (typeof token !== "number" || (parent !== undefined && parent.live)) {
      return this.settleOwn(p, token, parent);
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

  /**
   * A trial, or a call its caller may cancel: handlers of its own (in their
   * own frame, so that the common path allocates no closure context).
   */
  settleOwn(p: Promise<unknown>, token: Token, parent: Scope | undefined): Promise<unknown> {
    return p.then(
      (v) => {
        this.settle(token, "success");
        return v;
      },
      (e) => {
        this.settle(token, this.outcome(e, parent));
        throw e;
      },
    );
  }

  /** How a failed call counts: neutral when excluded or cancelled by its caller. */
  outcome(e: unknown, parent: Scope | undefined): "failure" | "neutral" {
    return !this.callerAborted(parent) && this.countsAsFailure(e) ? "failure" : "neutral";
  }

  #handlers:
    | { gen: number; ok: (v: unknown) => unknown; err: (e: unknown) => never }
    | undefined;

  #done(gen: number, v: unknown): unknown {
    this.record(gen, "success", false);
    return v;
  }

  #failed(gen: number, e: unknown): never {
    // Only calls no caller can cancel come here (see runLocal).
    this.record(gen, this.countsAsFailure(e) ? "failure" : "neutral", false);
    throw e;
  }

  /** Milliseconds left in OPEN at `now` (0 once elapsed, Infinity if isolated). */
  remaining(now: number): number {
    const v = this.link?.view;
    if (v && !this.isolated) {
      return v.state === CircuitState.OPEN
        ? Math.max(0, this.resetTimeout - (this.clock.wallNow() - v.openedAt))
        : 0;
    }
    if (this.state !== CircuitState.OPEN) return 0;
    if (this.isolated) return Infinity;
    return Math.max(0, this.resetTimeout - (now - this.openedAt));
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

  settle(token: Token, outcome: "success" | "failure" | "neutral"): void {
    if (typeof token === "number") {
      this.record(token, outcome, false);
      return;
    }
    // A trial frees its permit; past its resetTimeout it had given it back already.
    const i = this.trials.indexOf(token);
    if (i >= 0) this.trials.splice(i, 1);
    if (i < 0 || this.clock.now() - token.at > this.resetTimeout) {
      if (outcome === "success") this.totalSuccesses++;
      else if (outcome === "failure") this.totalFailures++;
      this.late++;
      return;
    }
    this.record(token.gen, outcome, true);
  }

  /** Counts the outcome of a call admitted in generation `gen` (`half`: a trial). */
  record(gen: number, outcome: "success" | "failure" | "neutral", half: boolean): void {
    if (outcome === "success") this.totalSuccesses++;
    else if (outcome === "failure") this.totalFailures++;
    if (gen !== this.gen) {
      this.late++;
      return;
    }
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
    if (to === CircuitState.OPEN) this.openedAt = this.clock.now();
    else this.failures = 0;
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
    const log = this.logger();
    const n = this.name;
    if (to === CircuitState.OPEN) {
      log.warn(
        reason === "failure_threshold"
          ? `Circuit breaker '${n}' OPEN after ${failureCount} failures`
          : reason === "half_open_failure"
          ? `Circuit breaker '${n}' OPEN after a failed trial call`
          : reason === "shared"
          ? `Circuit breaker '${n}' OPEN (shared: opened by another instance)`
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
      generation,
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
    if (this.listeners) { for (const l of this.listeners) notify(l); }
  }

  stats(): CircuitStats {
    const now = this.clock.now();
    const v = this.isolated ? undefined : this.link?.view;
    return {
      name: this.name,
      state: this.viewState(now),
      failureCount: v ? v.failures : this.failures,
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
    };
  }

  reset(): void {
    this.isolated = 0;
    this.isolations++;
    if (this.state !== CircuitState.CLOSED) this.transition(CircuitState.CLOSED, "reset");
    this.failures = 0;
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
  | "reject"
  | "runLocal"
  | "callerAborted"
>;

const CORE: unique symbol = Symbol("breaker");
type WithCore = { [CORE]: Breaker };

/** Methods of every breaker, shared through the prototype chain. */
const breakerProto = /* @__PURE__ */ Object.setPrototypeOf({
  get state(): CircuitState {
    const core = (this as unknown as WithCore)[CORE];
    return core.viewState(core.clock.now());
  },
  getStats(this: WithCore): CircuitStats {
    return this[CORE].stats();
  },
  getTimeUntilReset(this: WithCore): number {
    const core = this[CORE];
    return core.remaining(core.clock.now());
  },
  reset(this: WithCore): void {
    this[CORE].reset();
  },
  open(this: WithCore): void {
    const core = this[CORE];
    if (core.state !== CircuitState.OPEN) core.transition(CircuitState.OPEN, "manual_open");
    else core.openedAt = core.clock.now();
  },
  isolate(this: WithCore): () => void {
    const core = this[CORE];
    core.isolated++;
    if (core.state !== CircuitState.OPEN) core.transition(CircuitState.OPEN, "isolated");
    const epoch = core.isolations;
    let released = false;
    return () => {
      // Once, and not after reset() (which ended every isolation).
      if (released || epoch !== core.isolations) return;
      released = true;
      core.isolated--;
      // The last release: trial calls may start at once (see the JSDoc of isolate()).
      if (core.isolated === 0 && core.state === CircuitState.OPEN) {
        core.openedAt = -Infinity;
      }
    };
  },
  onStateChange(this: WithCore, listener: (e: StateChangeEvent) => void): () => void {
    checkFunction(W, "listener", listener);
    const core = this[CORE];
    (core.listeners ??= new Set()).add(listener);
    return () => void core.listeners?.delete(listener);
  },
  flush(this: WithCore): Promise<void> {
    return this[CORE].link?.flush() ?? Promise.resolve();
  },
}, policyProto);

const registry = new Map<string, { breaker: CircuitBreaker; options: CircuitBreakerOptions }>();

/**
 * Arrays and plain objects (`excludedErrors`, `storeOptions`) are compared by
 * content; anything else by identity: two closures with the same source are
 * still two functions (they may capture different things).
 */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (!isPlain(a) || !isPlain(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length &&
    ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

function isPlain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null || Array.isArray(v);
}

/** A value for a conflict message. */
const show = (v: unknown): string =>
  v === undefined
    ? "not set"
    : Array.isArray(v)
    ? `[${v.map((x) => (typeof x === "function" ? x.name : show(x)))}]`
    : typeof v === "function"
    ? "a function"
    : typeof v === "object" && v !== null
    ? "an object"
    : String(v);

/** The options (every one but `name`, from the option table) that differ. */
function differences(a: CircuitBreakerOptions, b: CircuitBreakerOptions): string[] {
  const out: string[] = [];
  for (const k of NAMES as readonly (keyof CircuitBreakerOptions)[]) {
    const x = a[k];
    const y = b[k];
    if (k === "name" || same(x, y)) continue;
    const kind = typeof x === typeof y && !Array.isArray(x) && show(x) === show(y) && show(x);
    out.push(
      `${k}: ${
        kind ? `a different ${kind.slice(kind.indexOf(" ") + 1)}` : `${show(x)} vs ${show(y)}`
      }`,
    );
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
 * Trial calls: a trial still running `resetTimeout` after it started gives
 * its permit back (a hanging trial cannot wedge the breaker) and its late
 * result is ignored; a trial admitted in an earlier half-open period holds
 * its permit until then, so at most `halfOpenMaxCalls` trials run at once.
 * Worked out from the clock when calls arrive: no timer per call.
 *
 * Cancellation: a call whose caller already gave up (its signal, or an
 * enclosing policy's, is aborted) rejects at once with the abort reason
 * without running or counting anything; a call that fails after its caller
 * cancelled it counts as neither failure nor success (see
 * `countCallerAborts`).
 *
 * Registry: `circuitBreaker({ name })` with only a name returns the
 * registered breaker of that name (or creates one with the defaults). With
 * more options, equal options return the same breaker: numbers, strings and
 * plain data (arrays, `storeOptions`) by value, functions and other objects
 * by identity (two closures with the same source are different functions).
 * Different options throw a `TypeError` naming the differences and saying
 * how to share or replace the breaker. Unknown option names are refused.
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
  checkKnownOptions(W, options, NAMES);
  const { name } = options;
  checkString(W, "name", name);
  if (name !== undefined) {
    const found = registry.get(name);
    if (found) {
      // Only a name: "the breaker of this name", whatever it was created with.
      if (Object.keys(options).length === 1) return found.breaker;
      const diff = differences(found.options, options);
      if (diff.length === 0) return found.breaker;
      throw new TypeError(
        `${W}: a breaker named '${name}' is already registered with other options (${
          diff.join("; ")
        }). Get it with circuitBreaker({ name: '${name}' }) alone, replace it after ` +
          `removeCircuitBreaker('${name}'), or choose another name.`,
      );
    }
  }
  const core = new Breaker(name ?? "anonymous", options);
  const breaker: CircuitBreaker = createPolicy<CircuitBreaker>(
    W,
    core,
    breakerProto,
    name === undefined ? (fn) => core.nameAfter(fn, breaker) : undefined,
    core.name, // the function's own `name` is the breaker's name
  );
  (breaker as unknown as { [CORE]: Breaker })[CORE] = core;
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

/**
 * Removes one breaker from the registry; returns whether it was there. The
 * breaker object keeps working for whoever holds it; a later
 * `circuitBreaker({ name })` creates a new one (e.g. with other options).
 *
 * @example
 * ```ts
 * import { circuitBreaker, removeCircuitBreaker } from "edge-resilience";
 *
 * circuitBreaker({ name: "search", failureThreshold: 5 });
 * removeCircuitBreaker("search");
 * const stricter = circuitBreaker({ name: "search", failureThreshold: 2 });
 * ```
 */
export function removeCircuitBreaker(name: string): boolean {
  return registry.delete(name);
}
