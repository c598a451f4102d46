// The gradient algorithm (after Netflix's Gradient2 and Envoy's gradient
// controller, written anew): the limit follows the ratio of the no-load
// latency to the recent latency, plus a small allowed queue.
import { checkNumber } from "../validate.ts";
import { noLoadRatio, type WindowSummary } from "./types.ts";

/** Tuning of the `"gradient"` algorithm of {@linkcode adaptiveConcurrency}. */
export interface GradientOptions {
  /**
   * How much slower than the no-load latency a window may be before the limit
   * shrinks: the gradient is `tolerance × noLoad / latency`, capped at 1.
   * Number >= 1. Default 1.1 (10% above the no-load latency counts as no queue);
   * raise it for an upstream whose latency varies much from window to window.
   */
  tolerance?: number;
  /**
   * Calls allowed to queue at the upstream beyond what the gradient gives; it
   * is also the growth per window while no queue is seen. Number > 0.
   * Default: `√limit / 4`, at least 1 (1.1 at a limit of 20, 5 at 400).
   */
  queueSize?: number;
  /**
   * Share of a decrease applied per window (0 < smoothing <= 1): 1 moves the
   * limit straight to its target, 0.5 half way (steadier under noisy
   * latencies, slower to shed). Increases apply whole. Default 1.
   */
  smoothing?: number;
}

/** @internal */
export interface ResolvedGradient {
  tolerance: number;
  queueSize: number | undefined;
  smoothing: number;
}

/** @internal */
export function resolveGradient(where: string, o: GradientOptions): ResolvedGradient {
  return {
    tolerance: checkNumber(where, "tolerance", o.tolerance, 1.1, 1, { max: 100 }),
    queueSize: o.queueSize === undefined
      ? undefined
      : checkNumber(where, "queueSize", o.queueSize, 0, 0, { max: 1e6, exclusiveMin: true }),
    smoothing: checkNumber(where, "smoothing", o.smoothing, 1, 0, { max: 1, exclusiveMin: true }),
  };
}

/** @internal The next limit (unclamped): decreases smoothed, increases only when the limit was reached. */
export function gradientUpdate(g: ResolvedGradient, limit: number, w: WindowSummary): number {
  const queue = g.queueSize ?? Math.max(1, Math.sqrt(limit) / 4);
  // A timeout is the strongest signal there is: the steepest decrease.
  const gradient = w.drops > 0 ? 0.5 : Math.max(0.5, Math.min(1, g.tolerance * noLoadRatio(w)));
  const target = limit * gradient + queue;
  if (target < limit) return limit + g.smoothing * (target - limit);
  // Grow only when the limit was what held calls back (not app-limited).
  return w.maxInFlight >= Math.floor(limit) ? target : limit;
}
