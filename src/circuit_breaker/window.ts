import type { WindowStats } from "./strategy.ts";
// A sliding window of call outcomes: how many calls, failures and slow calls
// it holds. Two kinds: the last N calls (count_window.ts) and the last T ms in
// buckets (time_window.ts). Both do O(1) work and allocate nothing per call.

/** Outcome counts over a sliding window of calls. */
export interface CallWindow {
  /** Whether it counts by time (it needs the time of each outcome). */
  readonly timed: boolean;
  /** Calls in the window (as of the last `add` or `roll`). */
  readonly calls: number;
  /** Failed calls in the window. */
  readonly failures: number;
  /** Slow calls in the window (failed or not). */
  readonly slowCalls: number;
  /** Adds one call's outcome at `now` (monotonic ms; a count window ignores it). */
  add(failed: boolean, slow: boolean, now: number): void;
  /** Drops what has slid out of the window by `now` (a count window does nothing). */
  roll(now: number): void;
  /** Empties the window. */
  clear(): void;
}

/** A window's counts and rates, rolled to `now` (the form `getStats()` reports). */
export function windowStats(w: CallWindow, now: number): WindowStats {
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
