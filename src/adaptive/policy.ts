/**
 * Adaptive concurrency: a limit on calls in flight that is learned from the
 * latencies of completed calls, in the manner of TCP congestion control.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";
import type { Logger } from "../logger.ts";
import { createPolicy, type Policy } from "../policy.ts";
import { created } from "../live_policies.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "../validate.ts";
import { type AdaptiveAlgorithm, resolveAlgorithm } from "./algorithm.ts";
import {
  type AdaptiveConcurrencyStats,
  type LimitChangeEvent,
  Limiter,
  type LimiterSettings,
} from "./limiter.ts";

/** Options of {@linkcode adaptiveConcurrency}. Durations and latencies are in milliseconds. */
export interface AdaptiveConcurrencyOptions {
  /** The limit before anything is learned. Integer in [`minLimit`, `maxLimit`]. Default 20 (clamped into them). */
  initialLimit?: number;
  /** The limit never falls below this. Integer from 1 to 1,000,000. Default 1. */
  minLimit?: number;
  /**
   * The limit never rises above this. Integer from `minLimit` to 1,000,000.
   * Default 1000 (or `minLimit`, if larger).
   */
  maxLimit?: number;
  /**
   * How the limit is learned: `"gradient"` (default; the ratio of the
   * no-load latency to the recent latency, with a small allowed queue) or
   * `"vegas"` (keeps the upstream's estimated queue between two bounds), or
   * an object `{ type, ...tuning }` (see {@linkcode GradientOptions},
   * {@linkcode VegasOptions}).
   */
  algorithm?: AdaptiveAlgorithm;
  /** Calls waiting for a slot, first in first out. Integer >= 0. Default 0 (refuse at once). */
  maxQueue?: number;
  /**
   * Longest wait in the queue (then `reason: "queue-timeout"`): ms > 0, at
   * most 2^31 − 1; needs `maxQueue`. Default: no limit.
   */
  queueTimeout?: number;
  /**
   * Shortest sample window: the limit is recomputed once a window has lasted
   * this long (and at least as long as the last window's median latency) and
   * holds `minSamples` samples (or a timeout). Default 100.
   */
  sampleWindow?: number;
  /** Samples a window needs before the limit is recomputed. Integer >= 1. Default 10. */
  minSamples?: number;
  /**
   * How often the no-load latency is re-measured while the limit holds calls
   * back: the limit is halved for two sample windows so that the upstream's
   * queue drains, and the second one measures (windows in which the limit
   * held nothing back count anyway). 0: never. Default 30000.
   */
  probeInterval?: number;
  /** Name used in errors, stats, logs and events. Default `"adaptive"`. */
  name?: string;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
  /** Where limit transitions are logged (info, aggregated). Default: see `setDefaultLogger`. */
  logger?: Logger;
  /** Called on every transition of the limit. */
  onLimitChange?: (event: LimitChangeEvent) => void;
}

/** A {@linkcode Policy} made by {@linkcode adaptiveConcurrency}. */
export interface AdaptiveConcurrencyPolicy extends Policy {
  /** The limiter's name. */
  readonly name: string;
  /** The limit now, calls in flight and queued, the estimates, the totals. */
  getStats(): AdaptiveConcurrencyStats;
  /**
   * Adds a listener told of every transition of the limit (as the
   * `onLimitChange` option is); returns the function that removes it.
   */
  onLimitChange(listener: (event: LimitChangeEvent) => void): () => void;
}

const W = "adaptiveConcurrency";
const OPTIONS = optionNames<AdaptiveConcurrencyOptions>({
  initialLimit: 1,
  minLimit: 1,
  maxLimit: 1,
  algorithm: 1,
  maxQueue: 1,
  queueTimeout: 1,
  sampleWindow: 1,
  minSamples: 1,
  probeInterval: 1,
  name: 1,
  clock: 1,
  logger: 1,
  onLimitChange: 1,
});
const INT = { integer: true, max: 1_000_000 };

/**
 * @internal The settings of a limiter, its options checked (a bad option is a
 * `TypeError` or `RangeError` naming it). `routeAdaptiveConcurrency` checks its
 * options with it without making a limiter.
 */
export function adaptiveSettings(options: AdaptiveConcurrencyOptions = {}): LimiterSettings {
  checkKnownOptions(W, options, OPTIONS);
  const minLimit = checkNumber(W, "minLimit", options.minLimit, 1, 1, INT);
  const maxLimit = checkNumber(W, "maxLimit", options.maxLimit, Math.max(1000, minLimit), 1, INT);
  if (maxLimit < minLimit) {
    throw new RangeError(
      `${W}: option 'maxLimit' (${maxLimit}) must not be below option 'minLimit' (${minLimit})`,
    );
  }
  const initialLimit = options.initialLimit === undefined
    ? Math.max(minLimit, Math.min(maxLimit, 20))
    : checkNumber(W, "initialLimit", options.initialLimit, undefined, minLimit, {
      integer: true,
      max: maxLimit,
    });
  const algorithm = resolveAlgorithm(W, options.algorithm);
  const maxQueue = checkNumber(W, "maxQueue", options.maxQueue, 0, 0, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  if (options.queueTimeout !== undefined && maxQueue === 0) {
    throw new TypeError(
      `${W}: option 'queueTimeout' needs 'maxQueue' (no call ever waits without a queue)`,
    );
  }
  // 0 would time every waiter out at once: a queue that is never used.
  const queueTimeout = options.queueTimeout === undefined
    ? undefined
    : checkNumber(W, "queueTimeout", options.queueTimeout, undefined, 0, { exclusiveMin: true });
  const sampleWindow = checkNumber(W, "sampleWindow", options.sampleWindow, 100, 1);
  const minSamples = checkNumber(W, "minSamples", options.minSamples, 10, 1, INT);
  const probeInterval = checkNumber(W, "probeInterval", options.probeInterval, 30_000, 0, {
    max: Number.MAX_SAFE_INTEGER,
  });
  checkString(W, "name", options.name);
  checkObject(W, "clock", options.clock);
  const clock = options.clock;
  if (
    clock !== undefined && (typeof clock.now !== "function" ||
      typeof clock.wallNow !== "function" || typeof clock.setTimeout !== "function" ||
      typeof clock.clearTimeout !== "function")
  ) {
    // The limiter reads it at once: a bad clock must not fail as `s.clock.now is not a function`.
    throw new TypeError(
      `${W}: option 'clock' must be a Clock (now, wallNow, setTimeout, clearTimeout)`,
    );
  }
  checkObject(W, "logger", options.logger);
  checkFunction(W, "onLimitChange", options.onLimitChange);
  const name = options.name ?? "adaptive";
  return {
    name,
    initialLimit,
    minLimit,
    maxLimit,
    algorithm,
    maxQueue,
    queueTimeout,
    sampleWindow,
    minSamples,
    probeInterval,
    clock: clock ?? systemClock,
    logger: options.logger,
    onLimitChange: options.onLimitChange,
  };
}

/**
 * Limits the calls in flight to a limit learned from the latencies of
 * completed calls: it grows while latency stays near the no-load estimate and
 * the limit is what holds calls back, and shrinks as latency rises (an
 * upstream queue builds) or calls time out. A call beyond the limit waits in
 * the optional FIFO queue or is refused at once with
 * {@linkcode AdaptiveConcurrencyRejectedError}, without running. Place it
 * where a `bulkhead` goes, outermost: a call it sheds costs nothing else, and
 * the timeouts inside it reach it as its strongest congestion signal.
 *
 * - Samples: each completed call's latency (failures included); a timeout
 *   (`ResilienceTimeoutError`, a platform `TimeoutError`, or the caller's
 *   signal aborted with one) is a congestion signal; the caller's own
 *   cancellation is no sample. Refused calls are never samples.
 * - Every sample window (`sampleWindow`, 100 ms or one median latency) the window's median
 *   latency is compared with the no-load estimate (the median of windows in
 *   which the limit held nothing back, smoothed, and re-measured every
 *   `probeInterval` by halving the limit briefly).
 * - Running calls are never cut: when the limit falls, `inFlight` may exceed
 *   it until they end; no call starts until it is below.
 * - The limit is per policy object, in this isolate/process.
 *
 * @example A limiter around an upstream, its refusals turned into a fallback
 * ```ts
 * import {
 *   adaptiveConcurrency,
 *   AdaptiveConcurrencyRejectedError,
 *   compose,
 *   timeout,
 * } from "edge-resilience";
 *
 * const limiter = adaptiveConcurrency({ name: "catalog", minLimit: 2, maxLimit: 200 });
 * const call = compose(limiter, timeout(2_000));
 * try {
 *   const res = await call.execute(({ signal }) => fetch("https://catalog.example/items", { signal }));
 *   console.log(res.status);
 * } catch (e) {
 *   if (e instanceof AdaptiveConcurrencyRejectedError) console.log(`shed: limit ${e.limit}`);
 * }
 * console.log(limiter.getStats()); // { limit, inFlight, queued, noLoadLatency, refused, ... }
 * const stop = limiter.onLimitChange((e) => console.log(`limit ${e.from} -> ${e.to} (${e.reason})`));
 * stop();
 * ```
 *
 * @example The Vegas algorithm with its tuning, a short queue, and the transitions
 * ```ts
 * import { adaptiveConcurrency } from "edge-resilience";
 *
 * const limiter = adaptiveConcurrency({
 *   algorithm: { type: "vegas", alpha: 3, beta: 6 },
 *   maxQueue: 50,
 *   queueTimeout: 200,
 *   onLimitChange: (e) => console.log(`${e.name}: ${e.from} -> ${e.to} (${e.reason})`),
 * });
 * await limiter.execute(() => "ok");
 * ```
 */
export function adaptiveConcurrency(
  options: AdaptiveConcurrencyOptions = {},
): AdaptiveConcurrencyPolicy {
  const settings = adaptiveSettings(options);
  const name = settings.name;
  const limiter = new Limiter(settings);
  const policy = createPolicy<AdaptiveConcurrencyPolicy>(W, limiter, undefined, undefined, name);
  Object.defineProperty(policy, "getStats", { value: () => limiter.stats() });
  Object.defineProperty(policy, "onLimitChange", {
    value: (listener: (event: LimitChangeEvent) => void) => {
      checkFunction(W, "listener", listener);
      (limiter.listeners ??= new Set()).add(listener);
      return () => void limiter.listeners?.delete(listener);
    },
  });
  created(W, name, policy);
  return policy;
}
