/**
 * Retry budgets: a cap on retries relative to first attempts, shared by
 * every retry policy that calls one upstream, so that retries cannot
 * multiply an outage.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { emit, flags } from "./telemetry.ts";
import { created } from "./live_policies.ts";
import {
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "./validate.ts";

/** Options of {@linkcode retryBudget}. Durations are in milliseconds. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per first attempt over the window: 0.1 lets retries add
   * at most 10% to the traffic. A number >= 0. Default 0.1 (gRPC's
   * retry-throttling ratio).
   */
  ratio?: number;
  /**
   * Retries always allowed per second, whatever the traffic, so that a
   * quiet service can still retry. A number >= 0. Default 10 (Finagle's).
   */
  minPerSecond?: number;
  /**
   * How far back attempts and retries count (kept in 10 buckets, so the
   * window slides in steps of a tenth). >= 10 ms. Default 10000 (Finagle's).
   */
  window?: number;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
  /** Name in telemetry events (`budget.refused`). Default `"retryBudget"`. */
  name?: string;
}

/** Counts over the current window, from {@linkcode RetryBudget.getStats}. JSON-safe. */
export interface RetryBudgetStats {
  /** First attempts in the window. */
  attempts: number;
  /** Retries granted in the window. */
  retries: number;
  /** Retries the budget would grant now. */
  available: number;
  /** Retries refused since the budget was made. */
  refused: number;
}

/**
 * A retry budget, made by {@linkcode retryBudget}: pass it to
 * `retry({ budget })` (or `resilientFetch`), and share one object between
 * every policy that calls the same upstream.
 */
export interface RetryBudget {
  /** Records a first attempt (retry policies call this). Never refused. */
  recordAttempt(): void;
  /**
   * Asks for one retry: true, and counted, while retries in the window stay
   * within `ratio` × attempts + `minPerSecond` × window seconds; else false.
   */
  tryRetry(): boolean;
  /** The window's counts now. */
  getStats(): RetryBudgetStats;
}

const W = "retryBudget";
const OPTIONS = optionNames<RetryBudgetOptions>({
  ratio: 1,
  minPerSecond: 1,
  window: 1,
  clock: 1,
  name: 1,
});
const BUCKETS = 10;

class Budget implements RetryBudget {
  readonly #attempts = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #sumAttempts = 0;
  #sumRetries = 0;
  #refused = 0;
  /** Index (time / bucket width) of the newest bucket. */
  #current: number;
  readonly #bucketMs: number;
  readonly #reserve: number;

  constructor(
    readonly ratio: number,
    minPerSecond: number,
    window: number,
    readonly clock: Clock,
    readonly name: string,
  ) {
    this.#bucketMs = window / BUCKETS;
    this.#reserve = minPerSecond * window / 1000;
    this.#current = Math.floor(clock.now() / this.#bucketMs);
  }

  /** Moves the window to now, emptying the buckets that fell out (lazily, no timer). */
  #slot(): number {
    const index = Math.floor(this.clock.now() / this.#bucketMs);
    let gap = index - this.#current;
    if (gap > 0) {
      if (gap > BUCKETS) gap = BUCKETS;
      for (let i = 1; i <= gap; i++) {
        const s = (this.#current + i) % BUCKETS;
        this.#sumAttempts -= this.#attempts[s];
        this.#sumRetries -= this.#retries[s];
        this.#attempts[s] = 0;
        this.#retries[s] = 0;
      }
      this.#current = index;
    }
    // A clock that went backwards keeps counting into the newest bucket.
    return ((this.#current % BUCKETS) + BUCKETS) % BUCKETS;
  }

  #available(): number {
    return Math.max(
      0,
      Math.floor(this.ratio * this.#sumAttempts + this.#reserve - this.#sumRetries + 1e-9),
    );
  }

  recordAttempt(): void {
    this.#attempts[this.#slot()]++;
    this.#sumAttempts++;
  }

  tryRetry(): boolean {
    const s = this.#slot();
    if (this.#available() < 1) {
      this.#refused++;
      if (flags.on) emit({ type: "budget.refused", kind: "retryBudget", name: this.name });
      return false;
    }
    this.#retries[s]++;
    this.#sumRetries++;
    return true;
  }

  getStats(): RetryBudgetStats {
    this.#slot();
    return {
      attempts: this.#sumAttempts,
      retries: this.#sumRetries,
      available: this.#available(),
      refused: this.#refused,
    };
  }
}

/**
 * Makes a retry budget (Finagle's `RetryBudget`, gRPC's retry throttling):
 * retries are allowed while they stay within `ratio` of the first attempts
 * seen over the last `window`, plus `minPerSecond` retries per second that
 * are always allowed. First attempts are never refused. When the budget is
 * spent, a retry policy using it stops at once and rethrows the last error
 * (and logs why), so that during an outage the upstream sees at most
 * `1 + ratio` times its normal traffic instead of `maxAttempts` times.
 *
 * Deterministic with a `FakeClock`; O(1) per call; no timers.
 *
 * @example One budget for every call to the payments API
 * ```ts
 * import { retry, retryBudget } from "edge-resilience";
 *
 * const payments = retryBudget({ ratio: 0.1, minPerSecond: 5 });
 * const charge = retry({ maxAttempts: 3, initialDelay: 100, budget: payments })(
 *   async (id: string) => (await fetch(`https://payments.example/charge/${id}`)).json(),
 * );
 * const refund = retry({ maxAttempts: 5, budget: payments })(
 *   async (id: string) => (await fetch(`https://payments.example/refund/${id}`)).json(),
 * );
 * console.log(payments.getStats()); // { attempts, retries, available, refused }
 * ```
 */
export function retryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  checkKnownOptions(W, options, OPTIONS);
  const ratio = checkNumber(W, "ratio", options.ratio, 0.1, 0, { max: 1_000 });
  const minPerSecond = checkNumber(W, "minPerSecond", options.minPerSecond, 10, 0, {
    max: 1e9,
  });
  const window = checkNumber(W, "window", options.window, 10_000, 10, {
    max: Number.MAX_SAFE_INTEGER,
  });
  checkObject(W, "clock", options.clock);
  checkString(W, "name", options.name);
  const name = options.name ?? W;
  const budget = new Budget(ratio, minPerSecond, window, options.clock ?? systemClock, name);
  created(W, name, budget);
  return budget;
}
