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
