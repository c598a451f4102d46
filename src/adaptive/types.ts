// What a limit algorithm sees of one sample window.

/** @internal One sample window, summarised for an algorithm. Latencies in ms. */
export interface WindowSummary {
  /** The window's typical latency (median of its samples). */
  latency: number;
  /** The no-load latency estimate. */
  noLoad: number;
  /** Most calls in flight at once during the window. */
  maxInFlight: number;
  /** Calls that timed out in the window (strong congestion signals). */
  drops: number;
}

/**
 * @internal `noLoad / latency`, at most 1: a window no slower than the no-load
 * estimate shows no queue. Zero latencies (a clock that did not move during
 * the calls) are no queue too, not 0 / 0 = NaN.
 */
export function noLoadRatio(w: WindowSummary): number {
  return w.latency <= w.noLoad ? 1 : w.noLoad / w.latency;
}
