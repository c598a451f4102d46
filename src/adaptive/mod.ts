/**
 * Adaptive concurrency: {@linkcode adaptiveConcurrency}, its algorithms'
 * tuning, its refusal error, stats and events.
 *
 * @module
 */

export {
  adaptiveConcurrency,
  type AdaptiveConcurrencyOptions,
  type AdaptiveConcurrencyPolicy,
} from "./policy.ts";
export type { AdaptiveAlgorithm } from "./algorithm.ts";
export type { GradientOptions } from "./gradient.ts";
export type { VegasOptions } from "./vegas.ts";
export { AdaptiveConcurrencyRejectedError, type AdaptiveRefusalReason } from "./errors.ts";
export type { AdaptiveConcurrencyStats, LimitChangeEvent, LimitChangeReason } from "./limiter.ts";
