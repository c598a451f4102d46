/**
 * Hedging: when a call is slow, start another attempt of the same work in
 * parallel and take whichever succeeds first.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { Scope, start, type Target } from "./context.ts";
import { ResilienceError } from "./errors.ts";
import { createPolicy, type Policy } from "./policy.ts";
import { emit, errorType, flags, now, outcomeOf } from "./telemetry.ts";
import { created } from "./live_policies.ts";
import { addDeadline, cancelDeadline } from "./scheduler.ts";
import {
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "./validate.ts";

/** Options of {@linkcode hedge}. Durations are in milliseconds. */
export interface HedgeOptions {
  /**
   * Start another attempt when the previous one has not settled after this
   * long (> 0, at most 2^31 − 1). Required.
   */
  delay: number;
  /** Extra attempts at most (integer >= 1). Default 1. */
  maxHedges?: number;
  /** Name used in the abort reason of losing attempts. Default: the function's name. */
  name?: string;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
}

/** A {@linkcode Policy} made by {@linkcode hedge}. */
export interface HedgePolicy extends Policy {
  /** The hedging delay in milliseconds. */
  readonly delay: number;
  /** Extra attempts at most. */
  readonly maxHedges: number;
}

const W = "hedge";
const OPTIONS = optionNames<HedgeOptions>({ delay: 1, maxHedges: 1, name: 1, clock: 1 });

/** One hedged call: its attempts in flight and what they have answered. */
class HedgedCall {
  readonly scopes: Scope[] = [];
  readonly errors: unknown[] = [];
  inFlight = 0;
  started = 0;
  settled = false;
  deadline: unknown = undefined;
  offParent: (() => void) | undefined = undefined;
  /**
   * When each attempt started (only while call events are asked for); cleared
   * once its attempt event is out, so the losers still in flight are known.
   */
  starts: (number | undefined)[] | undefined = undefined;
  resolve!: (v: unknown) => void;
  reject!: (e: unknown) => void;
  readonly promise = new Promise((a, b) => {
    this.resolve = a;
    this.reject = b;
  });
  readonly next = () => {
    this.deadline = undefined;
    if (!this.settled) this.launch();
  };

  constructor(
    readonly spec: Hedging,
    readonly fn: Target,
    readonly thisArg: unknown,
    readonly args: readonly unknown[],
    readonly parent: Scope | undefined,
    readonly operation: string,
  ) {}

  launch(): void {
    const i = this.started++;
    const { spec } = this;
    if (this.started <= spec.maxHedges) {
      this.deadline = addDeadline(spec.clock, spec.delay, this.next);
    }
    const scope = new Scope(this.parent, undefined, undefined, true);
    this.scopes[i] = scope;
    if (flags.calls) (this.starts ??= [])[i] = now();
    if (flags.on) {
      if (i > 0) emit({ type: "hedge", kind: "hedge", name: this.spec.tname, attempt: i + 1 });
    }
    this.inFlight++;
    let work: unknown;
    try {
      work = start(scope, this.fn, this.thisArg, this.args);
    } catch (e) {
      this.failed(i, e);
      return;
    }
    Promise.resolve(work).then((v) => this.won(i, v), (e) => this.failed(i, e));
  }

  won(i: number, value: unknown): void {
    this.inFlight--;
    if (this.settled) return;
    if (flags.calls) this.attempt(i, undefined, false);
    this.finish(i);
    this.resolve(value);
  }

  failed(i: number, error: unknown): void {
    this.inFlight--;
    this.scopes[i].dispose();
    if (this.settled) return;
    if (flags.calls) this.attempt(i, error, true);
    this.errors.push(error);
    if (this.started <= this.spec.maxHedges) {
      // A failed attempt is replaced at once rather than after the delay.
      if (this.deadline !== undefined) cancelDeadline(this.spec.clock, this.deadline);
      this.deadline = undefined;
      this.launch();
      return;
    }
    if (this.inFlight > 0) return; // another attempt may still succeed
    this.finish(-1);
    const errors = this.errors;
    if (errors.length > 1 && error instanceof Error && error.cause === undefined) {
      Object.defineProperty(error, "cause", {
        value: new AggregateError(errors, `All ${errors.length} hedged attempts failed`),
        configurable: true,
        writable: true,
      });
    }
    this.reject(error);
  }

  /** Emits the `attempt` event of attempt `i` (only while subscribed). */
  attempt(i: number, error: unknown, failed: boolean): void {
    const t0 = this.starts?.[i];
    if (t0 !== undefined) this.starts![i] = undefined;
    const duration = t0 === undefined ? 0 : now() - t0;
    const n = i + 1;
    const name = this.spec.tname;
    emit(
      failed
        ? {
          type: "attempt",
          kind: "hedge",
          name,
          attempt: n,
          duration,
          outcome: outcomeOf(error, this.parent?.aborted === true),
          // Another attempt can still answer: one in flight or a hedge left.
          handled: this.inFlight > 0 || this.started <= this.spec.maxHedges,
          errorType: errorType(error),
        }
        : {
          type: "attempt",
          kind: "hedge",
          name,
          attempt: n,
          duration,
          outcome: "success",
          handled: false,
        },
    );
  }

  /** Settles: stops hedging and aborts every attempt but the winner. */
  finish(winner: number, reason?: unknown): void {
    this.settled = true;
    if (this.deadline !== undefined) cancelDeadline(this.spec.clock, this.deadline);
    this.deadline = undefined;
    this.offParent?.();
    for (let i = 0; i < this.scopes.length; i++) {
      if (i === winner) continue;
      // A loser still in flight: its attempt event says it was cancelled, with its duration.
      const t0 = this.starts?.[i];
      if (t0 !== undefined && flags.calls) {
        this.starts![i] = undefined;
        emit({
          type: "attempt",
          kind: "hedge",
          name: this.spec.tname,
          attempt: i + 1,
          duration: now() - t0,
          outcome: "cancelled",
          handled: false,
        });
      }
      reason ??= new ResilienceError(
        `Hedged attempt of '${this.spec.name ?? this.operation}' cancelled: another attempt won`,
      );
      this.scopes[i].abort(reason);
      this.scopes[i].dispose();
    }
    if (winner >= 0) this.scopes[winner].dispose();
  }
}

/** The configuration of one hedge policy; its `run` is the policy's runner. */
class Hedging {
  constructor(
    readonly delay: number,
    readonly maxHedges: number,
    readonly name: string | undefined,
    readonly clock: Clock,
  ) {}

  /** Its name in every event and metric: the `name` option, else its kind. */
  get tname(): string {
    return this.name ?? W;
  }

  run(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
    operation: string,
  ): Promise<unknown> {
    if (parent?.aborted) return Promise.reject(parent.reason);
    const call = new HedgedCall(this, fn, thisArg, args, parent, operation);
    if (parent?.live) {
      call.offParent = parent.onAbort((reason) => {
        if (call.settled) return;
        call.finish(-1, reason);
        call.reject(reason);
      });
    }
    call.launch();
    return call.promise;
  }
}

/**
 * Hedged calls, for tail latency: when an attempt has not settled after
 * `delay`, another attempt of the same work starts in parallel (up to
 * `maxHedges` extra), and the first success wins. Every other attempt still
 * in flight is then aborted through its context signal. An attempt that
 * fails is replaced at once by the next hedge, if any is left; when every
 * attempt has failed, the last error is thrown, with an `AggregateError` of
 * all of them as its `cause` (when it had none).
 *
 * **Only for idempotent work** (reads, GET/HEAD, or writes with an idempotency
 * key): the upstream may see the same request more than once. Put it outside
 * the circuit breaker and under a total timeout (Polly's order: total timeout
 * → retry → hedge → breaker → attempt timeout): each hedged attempt is then a
 * breaker call of its own, so an open breaker refuses hedges and a half-open
 * one lets no more than `halfOpenMaxCalls` of them through.
 *
 * No timer of its own: the delay uses the shared deadline scheduler, and it
 * is cancelled when the call settles first.
 *
 * @example Send a second request when the first takes more than 200 ms
 * ```ts
 * import { hedge } from "edge-resilience";
 *
 * const fast = hedge({ delay: 200, maxHedges: 1 });
 * const res = await fast.execute(({ signal }) => fetch("https://api.example/item/7", { signal }));
 * console.log(res.status);
 * ```
 */
export function hedge(options: HedgeOptions): HedgePolicy {
  checkKnownOptions(W, options, OPTIONS);
  if (options === undefined) throw new TypeError(`${W}: option 'delay' is required`);
  const delay = checkNumber(W, "delay", options.delay, undefined, 0, { exclusiveMin: true });
  const maxHedges = checkNumber(W, "maxHedges", options.maxHedges, 1, 1, {
    integer: true,
    max: 100,
  });
  checkString(W, "name", options.name);
  checkObject(W, "clock", options.clock);
  const spec = new Hedging(delay, maxHedges, options.name, options.clock ?? systemClock);
  const policy = createPolicy<HedgePolicy>(W, spec);
  Object.defineProperties(policy, {
    delay: { value: delay, enumerable: true },
    maxHedges: { value: maxHedges, enumerable: true },
  });
  created(W, options.name ?? W, policy);
  return policy;
}
