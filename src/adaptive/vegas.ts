// The Vegas algorithm (after TCP Vegas and Netflix's VegasLimit, written
// anew): estimates how many calls wait in the upstream's queue from the
// latency increase, keeps that between alpha and beta, and backs off
// multiplicatively on timeouts.
import { checkNumber } from "../validate.ts";
import { noLoadRatio, type WindowSummary } from "./types.ts";

/** Tuning of the `"vegas"` algorithm of {@linkcode adaptiveConcurrency}. */
export interface VegasOptions {
  /**
   * Below this estimated queue (calls waiting at the upstream:
   * `limit × (1 − noLoad / latency)`), the limit grows by 1 per window
   * (by `beta` when there is no queue at all). Number >= 0. Default 2.
   */
  alpha?: number;
  /**
   * Above this estimated queue the limit shrinks by the excess (at least 1)
   * per window. Number >= `alpha`. Default 4 (or `alpha`, if larger).
   */
  beta?: number;
  /** Factor applied to the limit after a window with a timeout. 0 < backoff < 1. Default 0.9. */
  backoff?: number;
}

/** @internal */
export interface ResolvedVegas {
  alpha: number;
  beta: number;
  backoff: number;
}

/** @internal */
export function resolveVegas(where: string, o: VegasOptions): ResolvedVegas {
  const alpha = checkNumber(where, "alpha", o.alpha, 2, 0, { max: 1e6 });
  const beta = checkNumber(where, "beta", o.beta, Math.max(4, alpha), alpha, { max: 1e6 });
  const backoff = checkNumber(where, "backoff", o.backoff, 0.9, 0, {
    max: 0.999,
    exclusiveMin: true,
  });
  return { alpha, beta, backoff };
}

/** @internal The next limit (unclamped). */
export function vegasUpdate(v: ResolvedVegas, limit: number, w: WindowSummary): number {
  if (w.drops > 0) return limit * v.backoff;
  const queue = limit * (1 - noLoadRatio(w));
  if (queue > v.beta) return limit - Math.max(1, queue - v.beta);
  // Grow only when the limit was what held calls back (not app-limited).
  if (queue >= v.alpha || w.maxInFlight < Math.floor(limit)) return limit;
  return limit + (queue < 1 ? v.beta : 1);
}
