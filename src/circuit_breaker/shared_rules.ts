// The trip rules of a shared circuit: what a store needs to run the same
// rules as a local breaker (rules.ts and the windows), on a window kept in
// the shared state. Stores call these through
// shared_data.ts (restoreMachine, loadState, parseSharedState).
import { CountWindow } from "./count_window.ts";
import type { RateRules } from "./rules.ts";
import { type SavedBuckets, TimeWindow } from "./time_window.ts";

/** The rate rules of a breaker, as a store receives them (part of `SharedConfig`). */
export interface SharedRates {
  /** Option `failureRateThreshold` (absent: failures trip by count only). */
  failureRateThreshold?: number;
  /** Option `slowCallRateThreshold` (absent: no slow-call rule). */
  slowCallRateThreshold?: number;
  /** Option `minimumThroughput`. */
  minimumThroughput: number;
  /** Option `windowCalls` (a count window), or: */
  windowCalls?: number;
  /** Option `windowDuration` (a time window, in `windowBuckets` buckets). */
  windowDuration?: number;
  /** Option `windowBuckets`. */
  windowBuckets?: number;
}

/** A shared window as stored: a count window's digits, or a time window's buckets. */
export type SavedWindow = string | SavedBuckets;

const rate = (v: unknown) =>
  typeof v === "number" && v > 0 && v <= 1 ? v : v === undefined ? undefined : NaN;
const whole = (v: unknown, max: number) =>
  typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= max;

/**
 * The rules and a window for them, from rates sent by a breaker; throws a
 * `TypeError` for rates no breaker sends (a store must not run garbage).
 */
export function sharedRules(
  r: SharedRates,
  consecutive: number,
): { rules: RateRules; window: CountWindow | TimeWindow } {
  const failureRate = rate(r.failureRateThreshold);
  const slowRate = rate(r.slowCallRateThreshold);
  const d = r.windowDuration;
  const timed = d !== undefined;
  if (
    Number.isNaN(failureRate) || Number.isNaN(slowRate) ||
    (failureRate === undefined && slowRate === undefined) ||
    !whole(r.minimumThroughput, Number.MAX_SAFE_INTEGER) ||
    (timed
      ? !(typeof d === "number" && d >= 1 && d <= Number.MAX_SAFE_INTEGER) ||
        !whole(r.windowBuckets, 1000)
      : !whole(r.windowCalls, 100_000))
  ) {
    throw new TypeError("malformed rate rules in the breaker config");
  }
  return {
    rules: { failureRate, slowRate, minCalls: r.minimumThroughput, consecutive },
    window: timed ? new TimeWindow(d!, r.windowBuckets!) : new CountWindow(r.windowCalls!),
  };
}

/** Refills `w` from a stored window (a stored window of another kind or size is dropped). */
export function loadWindow(w: CountWindow | TimeWindow, saved: SavedWindow | undefined): void {
  if (w instanceof CountWindow) w.load(typeof saved === "string" ? saved : "");
  else if (typeof saved === "object") w.load(saved);
  else w.clear();
}

/** Whether data read from a store is a stored window. */
export function isSavedWindow(v: unknown): v is SavedWindow {
  if (typeof v === "string") return v.length <= 100_000 && /^[0-3]*$/.test(v);
  const b = v as Partial<SavedBuckets> | null;
  return typeof b === "object" && b !== null && typeof b.at === "number" &&
    Number.isFinite(b.at) && b.at >= -1 && Array.isArray(b.counts) && b.counts.length <= 3000 &&
    b.counts.every((c) => typeof c === "number" && Number.isSafeInteger(c) && c >= 0);
}
