/**
 * Timeouts that really abort: the context signal is aborted with a
 * {@linkcode ResilienceTimeoutError} when the deadline passes.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import {
  callIn,
  type ResilienceContext,
  Scope,
  start,
  type Target,
  underSignal,
  WITH_CONTEXT,
} from "./context.ts";
import { ResilienceTimeoutError } from "./errors.ts";
import { type Logger, logRepeated } from "./logger.ts";
import { createPolicy, type Policy } from "./policy.ts";
import { emit, flags } from "./telemetry.ts";
import { created } from "./live_policies.ts";
import { addDeadline, cancelDeadline, withoutStack } from "./scheduler.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "./validate.ts";

/** Options of {@linkcode timeout}; `X` is what `fallback` returns. */
export interface TimeoutOptions<X = unknown> {
  /**
   * Called with the call's own arguments when the deadline passes; its result
   * becomes the call's result (and its type part of the wrapper's result
   * type). Without it the call rejects with {@linkcode ResilienceTimeoutError}.
   * Never called for the caller's own cancellation.
   */
  fallback?: (...args: never[]) => X;
  /** Replaces the default error message. */
  errorMessage?: string;
  /** Operation name for the error and log (default: the function's name). */
  name?: string;
  /** Where the timeout warning goes (default: see `setDefaultLogger`). */
  logger?: Logger;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
}

/** A {@linkcode Policy} made by {@linkcode timeout}; `X` is what its fallback returns. */
export interface TimeoutPolicy<X = never> extends Policy<X> {
  /** The deadline in milliseconds. */
  readonly timeout: number;
}

const W = "timeout";
const TIMEOUT_OPTIONS = /* @__PURE__ */ optionNames<TimeoutOptions>({
  fallback: 1,
  errorMessage: 1,
  name: 1,
  logger: 1,
  clock: 1,
});
const WITH_TIMEOUT_OPTIONS = /* @__PURE__ */ optionNames<WithTimeoutOptions<unknown>>({
  fallbackValue: 1,
  signal: 1,
  name: 1,
  clock: 1,
});

/**
 * @internal Runs `invoke` in a new scope under a deadline of `ms`; used by
 * {@linkcode timeout} and {@linkcode withTimeout}. On expiry the scope is
 * aborted with the timeout error and `onTimeout(error)` decides the outcome.
 */
export function runWithDeadline<T>(
  clock: Clock,
  ms: number,
  parent: Scope | undefined,
  operation: string,
  errorMessage: string | undefined,
  fn: Target,
  thisArg: unknown,
  args: readonly unknown[],
  onTimeout: (error: ResilienceTimeoutError) => T | PromiseLike<T>,
): Promise<T> {
  if (parent?.aborted) return Promise.reject(parent.reason);
  const scope = new Scope(parent, undefined, undefined, true);
  let resolve!: (v: T | PromiseLike<T>) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  let settled = false;
  let offParent: (() => void) | undefined;
  const finish = () => {
    settled = true;
    cancelDeadline(clock, deadline);
    offParent?.();
    scope.dispose();
  };
  const deadline = addDeadline(clock, ms, () => {
    if (settled) return;
    const error = withoutStack(() =>
      new ResilienceTimeoutError(operation, ms, { message: errorMessage })
    );
    scope.abort(error);
    finish();
    try {
      resolve(onTimeout(error));
    } catch (e) {
      reject(e);
    }
  });
  // The caller giving up ends the wait at once (the work is aborted too).
  if (parent?.live) {
    offParent = parent.onAbort((reason) => {
      if (settled) return;
      scope.abort(reason);
      finish();
      reject(reason);
    });
  }
  let work: unknown;
  try {
    work = start(scope, fn, thisArg, args);
  } catch (e) {
    if (!settled) {
      finish();
      reject(e);
    }
    return result;
  }
  Promise.resolve(work as T).then(
    (v) => {
      if (settled) return;
      finish();
      resolve(v);
    },
    (e) => {
      if (settled) return;
      finish();
      reject(e);
    },
  );
  return result;
}

/**
 * Limits a call to `ms` milliseconds. At the deadline the context signal is
 * aborted (reason: a {@linkcode ResilienceTimeoutError}), so `fetch(url, {
 * signal })` is really cancelled; then the call rejects with that error, or
 * resolves with `fallback(...sameArguments)`. A `ResilienceTimeoutError`
 * thrown by the work itself is passed through, never mistaken for ours.
 *
 * A caller whose signal has already aborted gets nothing run: the call
 * rejects at once with `signal.reason`. A caller aborting later rejects the
 * call at once with that reason (the work is aborted too); the `fallback` is
 * not used for it. Nested timeouts: the earliest deadline wins, and its error
 * is the one thrown.
 *
 * Logs (seed wording, ms): warn `Timeout after Nms: OP`.
 *
 * @example Decorator with a fallback, and execute with the signal
 * ```ts
 * import { timeout } from "edge-resilience";
 *
 * class Cache {
 *   @timeout(5_000, { fallback: () => "default_value" })
 *   async quickLookup(key: string): Promise<string> {
 *     return key;
 *   }
 * }
 *
 * const res = await timeout(10_000).execute(({ signal }) =>
 *   fetch("https://example.com", { signal })
 * );
 * ```
 */
export function timeout<X = never>(
  ms: number,
  options: TimeoutOptions<X> = {},
): TimeoutPolicy<Awaited<X>> {
  checkNumber(W, "ms", ms, undefined, 0, { exclusiveMin: true });
  checkKnownOptions(W, options, TIMEOUT_OPTIONS);
  const { fallback, errorMessage, name, logger } = options;
  checkFunction(W, "fallback", fallback);
  checkString(W, "errorMessage", errorMessage);
  checkString(W, "name", name);
  checkObject(W, "logger", logger);
  checkObject(W, "clock", options.clock);
  const clock = options.clock ?? systemClock;
  const fb = fallback as ((...args: unknown[]) => unknown) | undefined;
  const policy = createPolicy<TimeoutPolicy<Awaited<X>>>(W, {
    name,
    run: (fn, thisArg, args, parent, operation) => {
      const op = name ?? operation;
      return runWithDeadline(clock, ms, parent, op, errorMessage, fn, thisArg, args, (error) => {
        if (flags.on) emit({ type: "timeout", kind: "timeout", name: name ?? W, timeout: ms });
        logRepeated(logger, clock, "warn", `Timeout after ${ms}ms: ${op}`, {
          operation: op,
          timeout: ms,
        });
        if (!fb) throw error;
        // The fallback runs with the same arguments (and `this`).
        return callIn(parent ?? new Scope(), fb, thisArg, args) as never;
      });
    },
  });
  (policy as { timeout: number }).timeout = ms;
  created(W, name ?? W, policy);
  return policy;
}

/** Options of {@linkcode withTimeout}. */
export interface WithTimeoutOptions<F> {
  /**
   * Returned instead of throwing when the deadline passes. Any value is
   * valid, `undefined` and `null` included: it is used when the key is present.
   */
  fallbackValue?: F;
  /** The caller's signal: its abort rejects at once and aborts the work. */
  signal?: AbortSignal;
  /** Operation name for the error (default `"withTimeout"`). */
  name?: string;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
}

/**
 * A one-off timeout. Pass a promise (which cannot be cancelled, only raced)
 * or a function that receives the context, whose signal is aborted at the
 * deadline.
 *
 * @example
 * ```ts
 * import { withTimeout } from "edge-resilience";
 *
 * const value = await withTimeout(
 *   ({ signal }) => fetch("https://example.com", { signal }).then((r) => r.text()),
 *   10_000,
 *   { fallbackValue: "timeout_default" },
 * );
 * ```
 */
export function withTimeout<T, F = never>(
  work: PromiseLike<T> | ((context: ResilienceContext) => T | PromiseLike<T>),
  ms: number,
  options: WithTimeoutOptions<F> = {},
): Promise<T | F> {
  const w = "withTimeout";
  checkNumber(w, "ms", ms, undefined, 0, { exclusiveMin: true });
  checkKnownOptions(w, options, WITH_TIMEOUT_OPTIONS);
  checkString(w, "name", options.name);
  checkObject(w, "clock", options.clock);
  checkObject(w, "signal", options.signal);
  const hasFallback = "fallbackValue" in options;
  return underSignal(options.signal, (parent) =>
    runWithDeadline<T | F>(
      options.clock ?? systemClock,
      ms,
      parent,
      options.name ?? w,
      undefined,
      typeof work === "function" ? work as Target : () => work,
      undefined,
      typeof work === "function" ? WITH_CONTEXT : [],
      (error) => {
        if (hasFallback) return options.fallbackValue as F;
        throw error;
      },
    ));
}
