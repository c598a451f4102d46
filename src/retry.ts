/**
 * Retry with exponential backoff, a delay cap and jitter.
 *
 * @module
 */

import { backoffDelay, JITTERS, type JitterStrategy, type ResolvedBackoff } from "./backoff.ts";
import { type Clock, systemClock } from "./clock.ts";
import { Scope, start, type Target } from "./context.ts";
import { type Logger, logRepeated, printable } from "./logger.ts";
import { createPolicy, type Policy } from "./policy.ts";
import { isRefusal, refusalWait } from "./refusals.ts";
import type { RetryBudget } from "./retry_budget.ts";
import { emit, errorType, flags, now, outcomeOf, publish } from "./telemetry.ts";
import { created } from "./live_policies.ts";
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

/** What `onRetry` is told before each wait. */
export interface RetryEvent {
  /** The policy's name (or the wrapped function's). */
  readonly name: string;
  /** The attempt that just failed (1-based). */
  readonly attempt: number;
  /** Total attempts allowed. */
  readonly maxAttempts: number;
  /** Milliseconds the policy waits before the next attempt. */
  readonly delay: number;
  /** The error of the failed attempt (absent when a result was retried). */
  readonly error?: unknown;
  /** The result that `retryOnResult` rejected (absent for errors). */
  readonly result?: unknown;
}

/** Options of {@linkcode retry}. Durations are in milliseconds. */
export interface RetryOptions {
  /** Total calls, the first included. Integer >= 1. Default 3. */
  maxAttempts?: number;
  /** Delay before the 2nd attempt. Default 1000. */
  initialDelay?: number;
  /** Each further delay is multiplied by this (>= 1). Default 2. */
  backoffFactor?: number;
  /** Upper bound of every delay, jitter included. Default 60000. */
  maxDelay?: number;
  /** Randomisation of delays. Default `true` (±25%). */
  jitter?: JitterStrategy;
  /**
   * Which errors are retried: error classes (an array, or one class) or a
   * predicate. Default: every error. Others are thrown at once.
   */
  retryOn?: readonly ErrorClass[] | ErrorClass | ((error: unknown) => boolean);
  /**
   * Retry when the function *returns* a value for which this is true (e.g. a
   * `Response` with status 503). After the last attempt that value is returned.
   */
  retryOnResult?: (value: unknown) => boolean;
  /**
   * A server-suggested delay in ms for a failed attempt (e.g. from a
   * `Retry-After` header). When it returns a finite number >= 0, that
   * replaces the backoff delay, still capped by `maxDelay`.
   */
  delayHint?: (
    outcome: { error?: unknown; result?: unknown; attempt: number },
  ) => number | undefined;
  /** Called before each wait. */
  onRetry?: (event: RetryEvent) => void;
  /** Name used in logs and events (default: the wrapped function's name). */
  name?: string;
  /** Where the seed's log messages go (default: see `setDefaultLogger`). */
  logger?: Logger;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
  /** Source of randomness in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
  /**
   * A {@linkcode RetryBudget} shared with other policies: a retry it refuses
   * is not made (the last error is rethrown, or the last result returned).
   */
  budget?: RetryBudget;
}

/**
 * A {@linkcode Policy} made by {@linkcode retry}, with its resolved settings
 * as read-only properties named like the options (as `hedge`'s `delay` and
 * `timeout`'s `timeout`).
 */
export interface RetryPolicy extends Policy {
  /** Total calls, the first included. */
  readonly maxAttempts: number;
  /** Backoff before the 2nd call, in ms. */
  readonly initialDelay: number;
  /** Backoff multiplier. */
  readonly backoffFactor: number;
  /** Cap of every wait, in ms. */
  readonly maxDelay: number;
  /** The jitter strategy (`jitter: true` is `"proportional"`, `false` is `"none"`). */
  readonly jitter: ResolvedBackoff["jitter"];
}

const RETRY_OPTIONS = /* @__PURE__ */ optionNames<RetryOptions>({
  maxAttempts: 1,
  initialDelay: 1,
  backoffFactor: 1,
  maxDelay: 1,
  jitter: 1,
  retryOn: 1,
  retryOnResult: 1,
  delayHint: 1,
  onRetry: 1,
  name: 1,
  logger: 1,
  clock: 1,
  random: 1,
  budget: 1,
});

/**
 * Retries a failing call with exponential backoff.
 *
 * The delay before attempt n+1 is `initialDelay × backoffFactor^(n-1)`,
 * randomised by `jitter` and capped by `maxDelay` (after jitter). The wait is
 * cancelled at once when the caller's signal aborts. After the last attempt
 * the last error itself is thrown (same identity, no wrapper). Each failed
 * attempt's context signal is aborted, so work it left running is cancelled.
 *
 * A {@linkcode CircuitOpenError} (a breaker inside this retry rejected the
 * attempt without running it) is never retried blindly: retry waits its
 * `timeUntilReset` (or the backoff delay, whichever is longer) when that fits
 * within `maxDelay`, and otherwise throws it at once. Delays are always
 * finite: `initialDelay: 0` gives 0 whatever the factor and attempt number.
 * A {@linkcode RateLimitedError} is treated alike (its `retryAfter`); neither
 * refusal reached an upstream, so neither costs retry budget.
 *
 * Logs (seed wording): warn `Attempt i/N failed for NAME: E. Retrying in
 * D.DDs`, error `All R retries failed for NAME: E` where R = N - 1 retries
 * (`1 retry failed for NAME: E` with `maxAttempts: 2`, `No retries for NAME
 * after 1 failure: E` with `maxAttempts: 1`).
 *
 * @example Wrapper, decorator and execute
 * ```ts
 * import { retry } from "edge-resilience";
 *
 * const fetchJson = retry({ maxAttempts: 3, initialDelay: 500 })(
 *   async (url: string) => (await fetch(url)).json(),
 * );
 *
 * class Api {
 *   @retry({ maxAttempts: 5, jitter: "full", retryOn: [TypeError] })
 *   async data() {
 *     return (await fetch("https://example.com/data")).json();
 *   }
 * }
 *
 * const res = await retry({ retryOnResult: (r) => (r as Response).status >= 500 })
 *   .execute(({ signal }) => fetch("https://example.com", { signal }));
 * ```
 */
export function retry(options: RetryOptions = {}): RetryPolicy {
  const W = "retry";
  checkKnownOptions(W, options, RETRY_OPTIONS);
  const maxAttempts = checkNumber(W, "maxAttempts", options.maxAttempts, 3, 1, {
    integer: true,
    max: 10_000,
  });
  const b: ResolvedBackoff = {
    initialDelay: checkNumber(W, "initialDelay", options.initialDelay, 1000, 0),
    backoffFactor: checkNumber(W, "backoffFactor", options.backoffFactor, 2, 1, {
      max: 1_000,
    }),
    maxDelay: checkNumber(W, "maxDelay", options.maxDelay, 60_000, 0),
    jitter: "proportional",
  };
  if (b.initialDelay > b.maxDelay) {
    throw new RangeError(
      `${W}: option 'initialDelay' (${b.initialDelay}) must not exceed option 'maxDelay' (${b.maxDelay})`,
    );
  }
  const j = options.jitter === undefined ? true : options.jitter;
  if (j === true) b.jitter = "proportional";
  else if (j === false) b.jitter = "none";
  else if (typeof j === "string" && JITTERS.includes(j)) {
    b.jitter = j as ResolvedBackoff["jitter"];
  } else {
    throw new TypeError(
      `${W}: option 'jitter' must be a boolean or one of ${JITTERS.join(", ")}, got ${String(j)}`,
    );
  }
  const shouldRetry = errorMatcher(W, "retryOn", options.retryOn) ?? (() => true);
  const { retryOnResult, onRetry, name, logger, delayHint } = options;
  checkFunction(W, "retryOnResult", retryOnResult);
  checkFunction(W, "delayHint", delayHint);
  checkFunction(W, "onRetry", onRetry);
  checkString(W, "name", name);
  checkObject(W, "logger", logger);
  checkObject(W, "clock", options.clock);
  checkFunction(W, "random", options.random);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const budget = options.budget;
  /** Its name in every event and metric: the `name` option, else its kind (never per call). */
  const tname = name ?? W;
  if (
    budget !== undefined &&
    (typeof budget?.tryRetry !== "function" || typeof budget.recordAttempt !== "function")
  ) {
    throw new TypeError(`${W}: option 'budget' must be a RetryBudget (see retryBudget())`);
  }

  /**
   * Emits the `attempt` event of a settled attempt (only while call events are
   * asked for). `handled`: another attempt follows it — the predicates retry it,
   * an attempt is left, the budget allowed it and a refusal's wait fits (never asked
   * twice: a subscriber changes nothing the user's functions see).
   */
  function attemptSettled(
    label: string,
    attempt: number,
    t0: number,
    failed: boolean,
    error: unknown,
    parent: Scope | undefined,
    handled: boolean,
  ): void {
    emit(
      failed
        ? {
          type: "attempt",
          kind: "retry",
          name: label,
          attempt,
          duration: now() - t0,
          outcome: outcomeOf(error, parent?.aborted === true),
          handled,
          errorType: errorType(error),
        }
        : {
          type: "attempt",
          kind: "retry",
          name: label,
          attempt,
          duration: now() - t0,
          outcome: "success",
          handled,
        },
    );
  }

  /**
   * Handles the outcome of `attempt` and runs the next attempts (the slow
   * path: only once an attempt failed or its result is to be retried).
   */
  async function after(
    t0: number,
    attempt: number,
    failed: boolean,
    error: unknown,
    value: unknown,
    scope: Scope,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
    operation: string,
  ): Promise<unknown> {
    let previous = b.initialDelay;
    for (;;) {
      const label = name ?? operation;
      // The attempt event says whether another attempt follows (`handled`): reported once the
      // decision is final (predicates, attempts left, the budget, a refusal's wait).
      if (failed) {
        scope.abort(error);
        scope.dispose();
        const retryable = shouldRetry(error) && !parent?.aborted;
        if (!retryable || attempt >= maxAttempts) {
          if (flags.calls) attemptSettled(tname, attempt, t0, true, error, parent, false);
          if (!retryable) throw error;
          logRepeated(
            logger,
            clock,
            "error",
            gaveUp(label, attempt - 1, error),
            { name: label, attempts: attempt, error },
            `retry ${label} failed`,
          );
          throw error;
        }
      } else {
        scope.dispose();
        const again = retryOnResult !== undefined && attempt < maxAttempts && retryOnResult(value);
        if (!again) {
          if (flags.calls) attemptSettled(tname, attempt, t0, false, undefined, parent, false);
          return value;
        }
      }
      // A call an open circuit, a rate limiter or a concurrency limiter refused reached no
      // upstream: its retry costs no budget.
      const refused = failed ? refusalWait(error) : undefined;
      if (
        budget && refused === undefined && !(failed && isRefusal(error)) && !budget.tryRetry()
      ) {
        if (flags.calls) attemptSettled(tname, attempt, t0, failed, error, parent, false);
        logRepeated(
          logger,
          clock,
          "warn",
          `Retry budget exhausted for ${label}: not retrying after attempt ${attempt}`,
          { name: label, attempt },
          `retry ${label} budget`,
        );
        if (failed) throw error;
        return value;
      }
      let delay = backoffDelay(b, attempt, previous, random());
      if (delayHint) {
        const hint = delayHint(failed ? { error, attempt } : { result: value, attempt });
        if (typeof hint === "number" && hint >= 0 && Number.isFinite(hint)) {
          delay = Math.min(hint, b.maxDelay);
        }
      }
      if (refused !== undefined) {
        // Never retry an open circuit (or a rate limit) blindly: wait until it lets a call
        // through, if that fits within maxDelay; otherwise give up now (waiting longer is the
        // caller's choice).
        const wait = refused;
        if (!(wait <= b.maxDelay)) {
          if (flags.calls) attemptSettled(tname, attempt, t0, true, error, parent, false);
          throw error;
        }
        if (wait > delay) delay = wait;
      }
      if (flags.calls) attemptSettled(tname, attempt, t0, failed, error, parent, true);
      previous = delay;
      const event: RetryEvent = failed
        ? { name: label, attempt, maxAttempts, delay, error }
        : { name: label, attempt, maxAttempts, delay, result: value };
      logRepeated(
        logger,
        clock,
        "warn",
        `Attempt ${attempt}/${maxAttempts} failed for ${label}: ${
          failed ? describe(error) : describeResult(value)
        }. Retrying in ${(delay / 1000).toFixed(2)}s`,
        { ...event },
        `retry ${label} ${attempt}`,
      );
      // One emission: the channel and `onRetry`, guarded as every hook.
      if (flags.on || onRetry !== undefined) {
        publish(
          "retry",
          "retry",
          tname,
          event,
          onRetry,
          undefined,
          logger,
          `retry '${label}' onRetry`,
        );
      }
      if (delay > 0) await sleep(clock, delay, parent);
      attempt++;
      if (parent?.aborted) throw parent.reason;
      scope = new Scope(parent, attempt);
      if (flags.calls) t0 = now();
      try {
        value = await start(scope, fn, thisArg, args);
        failed = false;
      } catch (e) {
        failed = true;
        error = e;
      }
    }
  }

  const policy = createPolicy<RetryPolicy>(W, {
    name,
    run: (fn, thisArg, args, parent, operation) => {
      // The first attempt without an async frame: most calls succeed.
      if (parent?.aborted) return Promise.reject(parent.reason);
      budget?.recordAttempt();
      const scope = new Scope(parent, 1);
      const t0 = flags.calls ? now() : 0;
      let r: unknown;
      try {
        r = start(scope, fn, thisArg, args);
      } catch (e) {
        return after(t0, 1, true, e, undefined, scope, fn, thisArg, args, parent, operation);
      }
      return Promise.resolve(r).then(
        (v) =>
          retryOnResult && maxAttempts > 1
            ? after(t0, 1, false, undefined, v, scope, fn, thisArg, args, parent, operation)
            : (flags.calls &&
              attemptSettled(tname, 1, t0, false, undefined, parent, false),
              scope.dispose(),
              v),
        (e) => after(t0, 1, true, e, undefined, scope, fn, thisArg, args, parent, operation),
      );
    },
  });
  Object.defineProperties(policy, {
    maxAttempts: { value: maxAttempts, enumerable: true },
    initialDelay: { value: b.initialDelay, enumerable: true },
    backoffFactor: { value: b.backoffFactor, enumerable: true },
    maxDelay: { value: b.maxDelay, enumerable: true },
    jitter: { value: b.jitter, enumerable: true },
  });
  created(W, tname, policy);
  return policy;
}

function describeResult(v: unknown): string {
  const status = (v as { status?: unknown } | null)?.status;
  return typeof status === "number" ? `status ${status}` : "unwanted result";
}

/** The error line of a retry giving up after `retries` retries (seed wording, counted right). */
function gaveUp(label: string, retries: number, error: unknown): string {
  const e = describe(error);
  if (retries === 0) return `No retries for ${label} after 1 failure: ${e}`;
  if (retries === 1) return `1 retry failed for ${label}: ${e}`;
  return `All ${retries} retries failed for ${label}: ${e}`;
}

/** Any thrown value as text: never throws (a null-prototype object has no `toString`). */
function describe(e: unknown): string {
  if (e instanceof Error) {
    try {
      return `${e.name}: ${e.message}`;
    } catch { /* a throwing getter: below */ }
  }
  return printable(e);
}

/** Waits `ms`; rejects with the abort reason as soon as `scope` aborts. */
function sleep(clock: Clock, ms: number, scope?: Scope): Promise<void> {
  return new Promise((resolve, reject) => {
    let off: (() => void) | undefined;
    const t = clock.setTimeout(() => {
      off?.();
      resolve();
    }, ms);
    if (scope) {
      off = scope.onAbort((reason) => {
        clock.clearTimeout(t);
        reject(reason);
      });
    }
  });
}
