// The trip rules: `consecutive` failures in a row open the circuit; with a
// sliding window, so does failures / calls (or slow calls / calls) reaching a
// threshold once the window holds `minimumThroughput` calls (either trips).
// In HALF_OPEN the trials decide: any failure reopens in consecutive mode; in
// rate mode the trials' rates below the thresholds after `halfOpenMaxCalls`
// trials close, at or above reopen (as soon as that is certain).
import {
  CLOSE,
  type FailureStrategy,
  REOPEN,
  type TripReason,
  UNDECIDED,
  type Verdict,
  type WindowStats,
} from "./strategy.ts";
import { CountWindow } from "./count_window.ts";
import { type CallWindow, windowStats } from "./window.ts";

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

/** Which rate, if any, counts in a window trip (the one copy of the rule, also for stores). */
export function tripsRate(
  rules: RateRules,
  calls: number,
  failures: number,
  slowCalls: number,
): "failure_rate" | "slow_call_rate" | undefined {
  if (calls < rules.minCalls || calls === 0) return undefined;
  const { failureRate, slowRate } = rules;
  if (failureRate !== undefined && failures / calls >= failureRate) return "failure_rate";
  if (slowRate !== undefined && slowCalls / calls >= slowRate) return "slow_call_rate";
  return undefined;
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

/**
 * The trip strategy of every breaker: failures in a row (`consecutive`),
 * and, with a window, the rates over it. One class for both modes, so the
 * state machine's call to it stays monomorphic (a second strategy class
 * made every breaker's hot path ~15% slower once both were in use).
 */
export class TripRules implements FailureStrategy, RateRules {
  /** Failures in a row (the consecutive rule; also failed trials in consecutive mode). */
  inARow = 0;
  /** Half-open trials counted, of them failed, and slow (reset on each transition but OPEN). */
  tCalls = 0;
  tFailures = 0;
  tSlow = 0;
  // The rules themselves are fields of this object (one object less per breaker).
  readonly failureRate: number | undefined;
  readonly slowRate: number | undefined;
  readonly minCalls: number;
  readonly consecutive: number | undefined;

  /** The window when it is a count window (the hot path's own call site). */
  readonly #count: CountWindow | undefined;

  constructor(
    /** The sliding window of calls (undefined: consecutive failures only). */
    readonly calls: CallWindow | undefined,
    rules: RateRules,
  ) {
    this.#count = calls instanceof CountWindow ? calls : undefined;
    this.failureRate = rules.failureRate;
    this.slowRate = rules.slowRate;
    this.minCalls = rules.minCalls;
    this.consecutive = rules.consecutive;
  }

  /** Whether counting needs the time of each outcome (a time window). */
  get timed(): boolean {
    return this.calls !== undefined && this.calls.timed;
  }

  /** Failures counted now: the window's (or the run of failures with no failure rate). */
  get failures(): number {
    return this.failureRate === undefined || this.calls === undefined
      ? this.inARow
      : this.calls.failures;
  }

  /** A CLOSED call's fast success at `now` (the hot path: small enough to inline). */
  success(now: number): TripReason | undefined {
    this.inARow = 0;
    const c = this.#count;
    if (c !== undefined) {
      // Its own call site (monomorphic). In a count window a fast success raises no rate:
      // it can trip only by bringing the window to minimumThroughput.
      const before = c.calls;
      c.add(false, false, now);
      return before >= this.minCalls
        ? undefined
        : tripsRate(this, c.calls, c.failures, c.slowCalls);
    }
    const w = this.calls;
    if (w === undefined) return undefined;
    // A time window may drop old successes as it rolls: any success may raise a rate.
    w.add(false, false, now);
    return tripsRate(this, w.calls, w.failures, w.slowCalls);
  }

  /** Counts a CLOSED call's outcome at `now`; the rule that trips, if any. */
  record(failed: boolean, slow: boolean, now: number): TripReason | undefined {
    const w = this.calls;
    if (w !== undefined) w.add(failed, slow, now);
    if (!failed) this.inARow = 0;
    else if (++this.inARow >= (this.consecutive ?? Infinity)) return "failure_threshold";
    return w === undefined ? undefined : tripsRate(this, w.calls, w.failures, w.slowCalls);
  }

  /** Counts a half-open trial's outcome; `max` is `halfOpenMaxCalls`. */
  trial(failed: boolean, slow: boolean, max: number): Verdict {
    this.tCalls++;
    if (failed) {
      this.tFailures++;
      this.inARow++;
    }
    if (slow) this.tSlow++;
    return trialVerdict(this, max, this.tCalls, this.tFailures, this.tSlow);
  }

  /**
   * A CLOSED call reported after an outcome that happened later (a shared
   * circuit, where instances report in batches): it changes no run — an
   * older failure does not extend a run a later success ended, and an older
   * success does not end a run of later failures. A count window takes an
   * older success as its oldest call (none when full: it would have slid
   * out); a time window puts each outcome in the bucket of its own time.
   */
  late(failed: boolean, slow: boolean, now: number): TripReason | undefined {
    const w = this.calls;
    if (w === undefined) return undefined;
    const c = this.#count;
    if (!failed && c !== undefined) c.addOldest(false, slow);
    else w.add(failed, slow, now);
    return tripsRate(this, w.calls, w.failures, w.slowCalls);
  }

  /** A fresh start (the circuit closed or half-opened). */
  reset(): void {
    this.calls?.clear();
    this.inARow =
      this.tCalls =
      this.tFailures =
      this.tSlow =
        0;
  }

  /** The window's counts and rates at `now` (undefined without a window). */
  window(now: number): WindowStats | undefined {
    const w = this.calls;
    return w === undefined ? undefined : windowStats(w, now);
  }
}
