// The rate rules: the circuit opens when failures / calls (or slow calls /
// calls) in a sliding window reaches a threshold, once the window holds
// `minimumThroughput` calls; optionally also after `consecutive` failures in a
// row (either trips). In HALF_OPEN the trials' rates decide: below the
// thresholds after `halfOpenMaxCalls` trials closes, at or above reopens (as
// soon as that is certain).
import type { CallWindow } from "./window.ts";

/** Half-open verdicts of a trial outcome. */
export const UNDECIDED = 0;
/** The trials say the service recovered: close. */
export const CLOSE = 1;
/** The trials say the service still fails: open again. */
export const REOPEN = 2;
/** A half-open verdict: {@linkcode UNDECIDED}, {@linkcode CLOSE} or {@linkcode REOPEN}. */
export type Verdict = typeof UNDECIDED | typeof CLOSE | typeof REOPEN;

/** The thresholds of the rate rules (validated by the breaker's options). */
export interface RateRules {
  /** Failures / calls that opens (undefined: failures alone never trip by rate). */
  readonly failureRate: number | undefined;
  /** Slow calls / calls that opens (undefined: no slow-call rule). */
  readonly slowRate: number | undefined;
  /** Least calls in the window before a rate can trip. */
  readonly minCalls: number;
  /** Failures in a row that open too (undefined: none). */
  readonly consecutive: number | undefined;
}

/** Rates over a window, as numbers `getStats()` can show (JSON-safe: 0 when empty). */
export interface WindowStats {
  calls: number;
  failures: number;
  slowCalls: number;
  failureRate: number;
  slowCallRate: number;
}

/** Whether counts in a window trip the rules (the one copy of the rule, also for stores). */
export function tripsRate(
  rules: RateRules,
  calls: number,
  failures: number,
  slowCalls: number,
): boolean {
  if (calls < rules.minCalls || calls === 0) return false;
  const { failureRate, slowRate } = rules;
  return (failureRate !== undefined && failures / calls >= failureRate) ||
    (slowRate !== undefined && slowCalls / calls >= slowRate);
}

/** The half-open verdict after `calls` trials of `max`, with their failures and slow calls. */
export function trialVerdict(
  rules: RateRules,
  max: number,
  calls: number,
  failures: number,
  slowCalls: number,
): Verdict {
  const { failureRate, slowRate } = rules;
  // Counts only grow, so a rate over `max` trials reached early is final.
  if (failureRate === undefined ? failures > 0 : failures / max >= failureRate) return REOPEN;
  if (slowRate !== undefined && slowCalls / max >= slowRate) return REOPEN;
  return calls >= max ? CLOSE : UNDECIDED;
}

/** A trip strategy over a sliding window of calls. */
export class RateStrategy {
  /** Failures in a row (for the optional consecutive rule). */
  inARow = 0;
  #tCalls = 0;
  #tFailures = 0;
  #tSlow = 0;

  constructor(
    readonly window: CallWindow,
    readonly rules: RateRules,
    /** Whether counting needs the time of each outcome (a time window). */
    readonly timed: boolean,
  ) {}

  /** Failures counted now: the window's (or the run of failures with no failure rate). */
  get failures(): number {
    return this.rules.failureRate === undefined ? this.inARow : this.window.failures;
  }

  /** Counts a CLOSED call's outcome at `now`; true when the circuit should open. */
  record(failed: boolean, slow: boolean, now: number): boolean {
    const w = this.window;
    w.add(failed, slow, now);
    if (failed) {
      const c = this.rules.consecutive;
      if (c !== undefined && ++this.inARow >= c) return true;
    } else {
      this.inARow = 0;
    }
    return tripsRate(this.rules, w.calls, w.failures, w.slowCalls);
  }

  /** Counts a half-open trial's outcome; `max` is `halfOpenMaxCalls`. */
  trial(failed: boolean, slow: boolean, max: number): Verdict {
    this.#tCalls++;
    if (failed) this.#tFailures++;
    if (slow) this.#tSlow++;
    return trialVerdict(this.rules, max, this.#tCalls, this.#tFailures, this.#tSlow);
  }

  /** A fresh start (the circuit closed or half-opened). */
  reset(): void {
    this.window.clear();
    this.inARow =
      this.#tCalls =
      this.#tFailures =
      this.#tSlow =
        0;
  }

  /** The window's counts and rates at `now`. */
  stats(now: number): WindowStats {
    const w = this.window;
    w.roll(now);
    const { calls, failures, slowCalls } = w;
    return {
      calls,
      failures,
      slowCalls,
      failureRate: calls === 0 ? 0 : failures / calls,
      slowCallRate: calls === 0 ? 0 : slowCalls / calls,
    };
  }
}
