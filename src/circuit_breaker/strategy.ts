// When the circuit opens and when half-open trials close it: a strategy fed
// the outcome of every counted call. The state machine only asks the
// strategy, never which rule it runs (rules.ts: failures in a row, and rates
// over a sliding window of calls: count_window.ts, time_window.ts).

/** Which rule opened a CLOSED circuit (a transition reason). */
export type TripReason = "failure_threshold" | "failure_rate" | "slow_call_rate";

/** Half-open verdict: no decision yet. */
export const UNDECIDED = 0;
/** Half-open verdict: the trials say the service recovered (close). */
export const CLOSE = 1;
/** Half-open verdict: the trials say the service still fails (open again). */
export const REOPEN = 2;
/** A half-open verdict: {@linkcode UNDECIDED}, {@linkcode CLOSE} or {@linkcode REOPEN}. */
export type Verdict = typeof UNDECIDED | typeof CLOSE | typeof REOPEN;

/** A sliding window's counts and rates (JSON-safe: rates are 0 while it is empty). */
export interface WindowStats {
  /** Calls in the window. */
  calls: number;
  /** Of those, failures. */
  failures: number;
  /** Of those, slow calls (failed or not). */
  slowCalls: number;
  /** failures / calls. */
  failureRate: number;
  /** slowCalls / calls. */
  slowCallRate: number;
}

/** Decides, from counted outcomes, when the circuit opens and when trials close it. */
export interface FailureStrategy {
  /** Failures counted now (reported in stats and transition events). */
  readonly failures: number;
  /** Whether `record` needs the time of the outcome (a time window); else it gets 0. */
  readonly timed: boolean;
  /**
   * A counted CLOSED call: whether it failed, whether it was slow, when it
   * ended (monotonic ms, when `timed`). The rule that trips, or undefined.
   */
  record(failed: boolean, slow: boolean, now: number): TripReason | undefined;
  /** A counted CLOSED call that succeeded and was not slow: `record(false, false, now)`. */
  success(now: number): TripReason | undefined;
  /** A counted half-open trial; `max` is `halfOpenMaxCalls`. */
  trial(failed: boolean, slow: boolean, max: number): Verdict;
  /** The circuit closed or half-opened: counting starts again. */
  reset(): void;
  /** The window's counts at `now`, for stats (undefined without a window). */
  window(now: number): WindowStats | undefined;
}
