/**
 * The time seam used by every pattern. Production code uses
 * {@linkcode systemClock}; tests pass a `FakeClock` from
 * `edge-resilience/testing` so that backoff schedules, reset timeouts and
 * health-check deadlines run in milliseconds without sleeping.
 *
 * @module
 */

/** Opaque handle returned by {@linkcode Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * A monotonic clock plus a timer scheduler.
 *
 * @example Using a custom clock
 * ```ts
 * import { type Clock, retry, systemClock } from "edge-resilience";
 *
 * const clock: Clock = systemClock;
 * const policy = retry({ clock, initialDelay: 10 });
 * ```
 */
export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since the epoch (used for timestamps only). */
  wallNow(): number;
  /** Schedules `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired yet. */
  clearTimeout(handle: TimerHandle): void;
}

const perf: { now(): number } | undefined = (globalThis as {
  performance?: { now(): number };
}).performance;

/**
 * The real clock: `performance.now()` (monotonic) where available, else
 * `Date.now()`, and the global `setTimeout` / `clearTimeout`.
 *
 * @example
 * ```ts
 * import { systemClock } from "edge-resilience";
 *
 * const start = systemClock.now();
 * const elapsed = systemClock.now() - start;
 * console.log(elapsed >= 0);
 * ```
 */
export const systemClock: Clock = {
  now: perf ? () => perf.now() : () => Date.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
