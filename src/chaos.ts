/**
 * Fault injection (chaos engineering): a policy that, for a chosen fraction
 * of calls, throws a fault, adds latency, answers a made-up outcome or runs a
 * side effect, so that the retry, breaker, timeout and fallback around it can
 * be seen to work.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { type ResilienceContext, Scope, start, type Target } from "./context.ts";
import { createPolicy, type Policy } from "./policy.ts";
import { flags, publish } from "./telemetry.ts";
import { created } from "./live_policies.ts";
import { withoutStack } from "./scheduler.ts";
import { checkFunction, checkKnownOptions, optionNames } from "./validate.ts";
import {
  chaosDelay,
  ChaosError,
  type ChaosStats,
  checkChaosCommon,
  clampDelay,
  clampRate,
} from "./chaos/shared.ts";

export { ChaosError, type ChaosStats };

/** What `onInject` is told when a call is picked for injection, before anything is done. */
export interface ChaosEvent {
  /** The chaos policy's name. */
  readonly name: string;
  /** The operation (the wrapped function's name). */
  readonly operation: string;
  /** The attempt number of the nearest enclosing retry (1 without one). */
  readonly attempt: number;
  /** The delay injected before the rest, in ms (0: none). */
  readonly latency: number;
  /** The fault that will be thrown (absent when none is). */
  readonly fault?: unknown;
  /** True when the outcome replaces the call. */
  readonly outcome: boolean;
  /** True when the behaviour runs. */
  readonly behavior: boolean;
}

/** Options of {@linkcode chaos}; `X` is what `outcome` returns. Durations are in ms. */
export interface ChaosOptions<X = never> {
  /**
   * Fraction of the enabled calls picked for injection, 0..1 (0.05: one call
   * in twenty). Required: there is no default. A function is asked per call;
   * its answer is clamped to 0..1 (NaN is 0).
   */
  injectionRate: number | ((context: ResilienceContext) => number);
  /**
   * Whether chaos is on, checked per call before anything else (a disabled
   * call draws no random number). Default `true`: the required
   * `injectionRate` is the switch; pass a function to follow a flag. It is
   * synchronous: a function answering a promise fails the call with a
   * `TypeError` (a promise would otherwise count as true).
   */
  enabled?: boolean | ((context: ResilienceContext) => boolean);
  /**
   * Thrown instead of calling: `true` throws a {@linkcode ChaosError}; an
   * error object is thrown as is (the same object every time); a function is
   * called per injection and what it returns is thrown (`undefined` or
   * `null`: no fault this time, the call runs).
   */
  fault?: true | Error | ((context: ResilienceContext) => unknown);
  /**
   * Delay before the call (or before the fault or outcome), in ms. A
   * function is asked per injection; an answer that is not a number > 0
   * means no delay. The delay ends at once, with the reason, when the caller
   * or an enclosing timeout aborts.
   */
  latency?: number | ((context: ResilienceContext) => number);
  /**
   * Returned instead of calling (its type joins the wrapper's result type, as
   * a fallback's does). Not with `fault`.
   */
  outcome?: (context: ResilienceContext) => X;
  /**
   * A side effect run (and awaited) first, before the delay and the call. If
   * it throws, the call fails with its error.
   */
  behavior?: (context: ResilienceContext) => void | PromiseLike<void>;
  /** Called once per injected call, before anything is done. */
  onInject?: (event: ChaosEvent) => void;
  /** Name used in errors, events and stats. Default `"chaos"`. */
  name?: string;
  /** Time source for `latency` (tests pass a `FakeClock`). */
  clock?: Clock;
  /** Source of randomness in [0, 1). Default `Math.random`; seed it in tests. */
  random?: () => number;
}

/** A {@linkcode Policy} made by {@linkcode chaos}; `X` is what its outcome returns. */
export interface ChaosPolicy<X = never> extends Policy<X> {
  /** The policy's name. */
  readonly name: string;
  /** Counts so far. */
  getStats(): ChaosStats;
}

const W = "chaos";
const OPTIONS = /* @__PURE__ */ optionNames<ChaosOptions>({
  injectionRate: 1,
  enabled: 1,
  fault: 1,
  latency: 1,
  outcome: 1,
  behavior: 1,
  onInject: 1,
  name: 1,
  clock: 1,
  random: 1,
});

/** Settles with `p`, or rejects at once with the reason when `scope` aborts first. */
function untilAbort(p: unknown, scope: Scope | undefined): Promise<unknown> {
  const work = Promise.resolve(p);
  if (!scope?.live) return work;
  return new Promise((resolve, reject) => {
    const off = scope.onAbort(reject);
    work.then((v) => {
      off();
      resolve(v);
    }, (e) => {
      off();
      reject(e);
    });
  });
}

type Fn<R> = (context: ResilienceContext) => R;

/** The state of one chaos policy; its `run` is the policy's runner (no closure per call). */
class Monkey {
  calls = 0;
  enabledCalls = 0;
  injected = 0;
  faults = 0;
  delays = 0;
  outcomes = 0;
  behaviors = 0;

  constructor(
    readonly name: string,
    readonly rate: number | Fn<number>,
    readonly enabled: boolean | Fn<boolean>,
    readonly fault: unknown,
    readonly latency: number | Fn<number> | undefined,
    readonly outcome: Fn<unknown> | undefined,
    readonly behavior: Fn<unknown> | undefined,
    readonly onInject: ((event: ChaosEvent) => void) | undefined,
    readonly clock: Clock,
    readonly random: () => number,
  ) {}

  run(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
    operation: string,
  ): Promise<unknown> {
    if (parent?.aborted) return Promise.reject(parent.reason);
    this.calls++;
    // The context the option functions see: the call's own, or a fresh one.
    let ctx = parent;
    try {
      const en = this.enabled;
      if (en !== true) {
        const on = en !== false && en(ctx ??= new Scope());
        if (typeof on === "object" && on !== null) notAPromise(on);
        if (!on) return pass(parent, fn, thisArg, args);
      }
      this.enabledCalls++;
      const r = this.rate;
      const rate = typeof r === "number" ? r : clampRate(r(ctx ??= new Scope()));
      if (!(this.random() < rate)) return pass(parent, fn, thisArg, args);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.inject(fn, thisArg, args, parent, operation, ctx ?? new Scope());
  }

  async inject(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
    operation: string,
    ctx: Scope,
  ): Promise<unknown> {
    this.injected++;
    const l = this.latency;
    const ms = l === undefined ? 0 : typeof l === "number" ? l : clampDelay(l(ctx));
    const f = this.fault;
    const fault = f === true
      ? withoutStack(() => new ChaosError(this.name, operation))
      : typeof f === "function"
      ? (f as Fn<unknown>)(ctx)
      : f;
    if (this.onInject || flags.on) {
      const event: ChaosEvent = {
        name: this.name,
        operation,
        attempt: ctx.attempt,
        latency: ms,
        ...(fault == null ? {} : { fault }),
        outcome: this.outcome !== undefined,
        behavior: this.behavior !== undefined,
      };
      publish(
        "chaos",
        "chaos",
        this.name,
        event,
        this.onInject,
        undefined,
        undefined,
        `chaos '${this.name}' onInject`,
      );
    }
    if (this.behavior) {
      this.behaviors++;
      await untilAbort(this.behavior(ctx), parent);
    }
    if (ms > 0) {
      await chaosDelay(this.clock, ms, parent);
      this.delays++;
    }
    if (parent?.aborted) throw parent.reason;
    if (fault != null) {
      this.faults++;
      throw fault;
    }
    if (this.outcome) {
      this.outcomes++;
      return this.outcome(ctx);
    }
    return start(parent, fn, thisArg, args);
  }

  stats(): ChaosStats {
    return {
      name: this.name,
      calls: this.calls,
      enabled: this.enabledCalls,
      injected: this.injected,
      faults: this.faults,
      delays: this.delays,
      outcomes: this.outcomes,
      behaviors: this.behaviors,
    };
  }
}

/**
 * An `enabled` function answering a promise (an `async` gate, as `routeChaos`
 * takes): a promise is truthy, so it would turn chaos on whatever it resolves
 * to. The call fails instead, naming the option.
 */
function notAPromise(on: object): void {
  if (typeof (on as { then?: unknown }).then === "function") {
    (on as PromiseLike<unknown>).then(undefined, () => {}); // its own rejection: not unhandled
    throw new TypeError(`${W}: option 'enabled' must answer a boolean, not a promise`);
  }
}

/** Runs the call as if there were no chaos policy (a sync throw becomes a rejection). */
function pass(
  parent: Scope | undefined,
  fn: Target,
  thisArg: unknown,
  args: readonly unknown[],
): Promise<unknown> {
  try {
    return Promise.resolve(start(parent, fn, thisArg, args));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Injects chaos into a fraction of calls, to prove that what surrounds them
 * copes: the retry retries, the breaker opens, the timeout fires, the
 * fallback answers. Modelled on Polly v8's chaos strategies (Simmy).
 *
 * Per call: `enabled` is checked (off: the call runs untouched, no random
 * number drawn); then one number is drawn from `random`, and the call is
 * injected when it is below `injectionRate`. An injected call gets, in this
 * order, every kind configured:
 *
 * 1. `behavior` runs and is awaited;
 * 2. `latency` waits (cancelled at once, timer cleared, when the caller's
 *    signal or an enclosing timeout aborts: never past their deadline);
 * 3. `fault` is thrown, or `outcome` is returned, instead of calling; with
 *    neither, the call runs (late, or after the side effect).
 *
 * One draw decides all the kinds together, so "slow, then failing" is one
 * policy; for independent rates per kind, compose several chaos policies
 * (Polly's model: one strategy per kind, each with its own draw).
 *
 * How it differs from Polly: `injectionRate` has no default (Polly's is
 * 0.001) and `enabled` is synchronous; an outcome is a value (a fault is a
 * separate option); a `fault` or `outcome` with `latency` or `behavior` in
 * one policy is allowed.
 *
 * Put it innermost — right around the call, inside retry, breaker and
 * timeouts — to play a failing dependency that the policies above must
 * survive (see docs/testing.md, "prove your fallback works").
 *
 * @example A tenth of the calls fail, a tenth of the rest are 2 s slow
 * ```ts
 * import { chaos, compose, retry } from "edge-resilience";
 *
 * const on = (globalThis as { CHAOS?: string }).CHAOS === "on";
 * const getUser = compose(
 *   retry({ maxAttempts: 3, initialDelay: 100 }),
 *   chaos({ injectionRate: 0.1, enabled: on, fault: true }),
 *   chaos({ injectionRate: 0.1, enabled: on, latency: 2_000 }),
 * )(async (id: string) => ({ id }));
 * await getUser("42");
 * ```
 *
 * @example A made-up outcome, deterministic in a test
 * ```ts
 * import { chaos } from "edge-resilience";
 *
 * const busy = chaos({
 *   injectionRate: 1,
 *   random: () => 0,
 *   outcome: () => new Response(null, { status: 503 }),
 * });
 * const res = await busy.execute(({ signal }) => fetch("https://example.com", { signal }));
 * console.log(res.status); // 503
 * ```
 */
export function chaos<X = never>(options: ChaosOptions<X>): ChaosPolicy<Awaited<X>> {
  checkKnownOptions(W, options, OPTIONS);
  if (options === undefined) {
    throw new TypeError(`${W}: option 'injectionRate' is required`);
  }
  checkChaosCommon(W, options, false);
  const { fault, outcome, behavior } = options;
  if (fault !== undefined && fault !== true) {
    if (typeof fault === "function") {
      const proto = (fault as { prototype?: unknown }).prototype;
      if ((fault as unknown) === Error || proto instanceof Error) {
        throw new TypeError(
          `${W}: option 'fault' is an error class: pass an error (new ${
            fault.name || "Error"
          }()) or a function making one (() => new ${fault.name || "Error"}())`,
        );
      }
    } else if (typeof fault !== "object" || fault === null) {
      throw new TypeError(
        `${W}: option 'fault' must be true, an error or a function returning one, got ${
          fault === null ? "null" : typeof fault
        }`,
      );
    }
  }
  checkFunction(W, "outcome", outcome);
  checkFunction(W, "behavior", behavior);
  if (fault !== undefined && outcome !== undefined) {
    throw new TypeError(
      `${W}: options 'fault' and 'outcome' exclude each other (both replace the call); use two chaos policies`,
    );
  }
  if (
    fault === undefined && outcome === undefined && behavior === undefined &&
    options.latency === undefined
  ) {
    throw new TypeError(
      `${W}: nothing to inject: give at least one of 'fault', 'latency', 'outcome' or 'behavior'`,
    );
  }
  const name = options.name ?? W;
  const m = new Monkey(
    name,
    options.injectionRate,
    options.enabled ?? true,
    fault,
    options.latency,
    outcome as Fn<unknown> | undefined,
    behavior as Fn<unknown> | undefined,
    options.onInject,
    options.clock ?? systemClock,
    options.random ?? Math.random,
  );
  const policy = createPolicy<ChaosPolicy<Awaited<X>>>(W, m, undefined, undefined, name);
  Object.defineProperty(policy, "getStats", { value: () => m.stats() });
  created(W, name, policy);
  return policy;
}
