/**
 * Backoff delays: exponential growth from an initial delay, capped, randomised
 * by a jitter strategy.
 *
 * @module
 */

/**
 * How the backoff delay is randomised.
 *
 * - `true` / `"proportional"`: the seed's ±25% (delay × U[0.75, 1.25]).
 * - `"full"`: U[0, delay] (AWS "full jitter").
 * - `"equal"`: delay/2 + U[0, delay/2] (AWS "equal jitter").
 * - `"decorrelated"`: U[initialDelay, previous × 3] (AWS "decorrelated jitter").
 * - `false` / `"none"`: exact delays.
 *
 * Whatever the strategy, the result never exceeds `maxDelay`.
 */
export type JitterStrategy =
  | boolean
  | "none"
  | "proportional"
  | "full"
  | "equal"
  | "decorrelated";

/** @internal Backoff settings after defaults and validation. */
export interface ResolvedBackoff {
  initialDelay: number;
  backoffFactor: number;
  maxDelay: number;
  jitter: "none" | "proportional" | "full" | "equal" | "decorrelated";
}

/** @internal The jitter strategies by name. */
export const JITTERS = ["none", "proportional", "full", "equal", "decorrelated"];

/**
 * @internal The delay before attempt `failed + 1`, given the previous delay
 * (for decorrelated jitter) and a random number in [0, 1).
 */
export function backoffDelay(
  b: ResolvedBackoff,
  failed: number,
  previous: number,
  r: number,
): number {
  const cap = b.maxDelay;
  // 0 × Infinity would be NaN: a zero initial delay stays zero however far the factor grows.
  const base = b.initialDelay === 0
    ? 0
    : Math.min(b.initialDelay * Math.pow(b.backoffFactor, failed - 1), cap);
  let d: number;
  switch (b.jitter) {
    case "none":
      d = base;
      break;
    case "proportional":
      d = base * (0.75 + 0.5 * r);
      break;
    case "full":
      d = base * r;
      break;
    case "equal":
      d = base / 2 + (base / 2) * r;
      break;
    default: {
      const lo = b.initialDelay;
      const hi = Math.max(lo, previous * 3);
      d = lo + (hi - lo) * r;
    }
  }
  return Math.min(d, cap);
}
