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
  /**
   * Sends outcomes not yet reported to the store, refreshes the local view,
   * and waits for background store work (a no-op without a store). On
   * Workers: `ctx.waitUntil(breaker.flush())`.
   */
  flush(): Promise<void>;
}

const W = "circuitBreaker";

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
  inFlight = 0;
  openedAt = 0;
  isolated = 0;
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
    const fallback = this.opts.fallback as ((...a: unknown[]) => unknown) | undefined;
    if (fallback) {
      try {
        return Promise.resolve(fallback.apply(thisArg, args as unknown[]));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return Promise.reject(CircuitOpenError.fast(this.name, left, state));
  }

  /** One call: the hot path (local state, CLOSED) reads no clock and allocates no scope. */
  run(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    if (this.link && !this.isolated) return this.link.run(fn, thisArg, args, parent);
    const gen = this.admit();
    if (gen === REJECT) {
      return this.reject(thisArg, args, this.left, this.state);
    }
    return this.runLocal(gen, fn, thisArg, args, parent);
  }

  runLocal(
    gen: number,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    let r: unknown;
    try {
      r = start(parent, fn, thisArg, args);
    } catch (e) {
      this.settle(gen, this.countsAsFailure(e) ? "failure" : "neutral");
      return Promise.reject(e);
    }
    // Settle handlers are made once per generation, not per call.
    let h = this.#handlers;
    if (!h || h.gen !== gen) {
      h = this.#handlers = {
        gen,
        ok: (v: unknown) => this.#done(gen, v),
        err: (e: unknown) => this.#failed(gen, e),
      };
    }
    // A synchronous function (or a thenable) settles on its eventual value too.
    return (r instanceof Promise ? r : Promise.resolve(r)).then(h.ok, h.err);
  }

  #handlers:
    | { gen: number; ok: (v: unknown) => unknown; err: (e: unknown) => never }
    | undefined;

  #done(gen: number, v: unknown): unknown {
    this.settle(gen, "success");
    return v;
  }

  #failed(gen: number, e: unknown): never {
    this.settle(gen, this.countsAsFailure(e) ? "failure" : "neutral");
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

  /** Admits a call: its generation token, or REJECT. CLOSED needs no clock. */
  admit(): number {
    if (this.state === CircuitState.CLOSED) {
      this.totalCalls++;
      return this.gen;
    }
    if (this.state === CircuitState.OPEN) {
      const left = this.remaining(this.clock.now());
      if (left > 0) {
        this.left = left; // for the rejection, without reading the clock again
        return REJECT;
      }
      this.transition(CircuitState.HALF_OPEN, "reset_timeout");
    }
    if (this.state === CircuitState.HALF_OPEN) {
      if (this.inFlight >= this.halfOpenMax) {
        this.left = 0;
        return REJECT;
      }
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
      timeUntilReset: this.remaining(now),
      halfOpenInFlight: v ? v.permits.length : this.inFlight,
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
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (core.isolated > 0) core.isolated--;
      if (core.isolated === 0) core.openedAt = core.clock.now();
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

const COMPARED = [
  "failureThreshold",
  "resetTimeout",
  "halfOpenMaxCalls",
  "isFailure",
  "fallback",
  "onStateChange",
  "logger",
  "clock",
  "store",
  "storeKey",
  "onStoreStatus",
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
