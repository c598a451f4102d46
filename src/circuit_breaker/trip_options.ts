// From the breaker's options to its trip strategy: consecutive failures by
// default; rates over a sliding window when `failureRateThreshold` or
// `slowCallRateThreshold` is set. Every rate option is checked here, with
// errors naming the option.
import { checkNumber } from "../validate.ts";
import { CountWindow } from "./count_window.ts";
import { W } from "./options.ts";
import { TripRules } from "./rules.ts";
import type { SharedRates } from "./shared_rules.ts";

import { TimeWindow } from "./time_window.ts";
import type { CircuitBreakerOptions } from "./types.ts";

/** Defaults of the rate options (documented on {@linkcode CircuitBreakerOptions}). */
export const RATE_DEFAULTS = {
  windowCalls: 100,
  windowBuckets: 10,
  minimumThroughput: 20,
} as const;

/** Largest `windowCalls` (one byte per call). */
export const MAX_WINDOW_CALLS = 100_000;
/** Largest `windowBuckets`. */
export const MAX_WINDOW_BUCKETS = 1_000;

/** What the state machine needs: the strategy, and when a call is slow (Infinity: never). */
export interface Trip {
  strategy: TripRules;
  slowAfter: number;
  /** Failures in a row that open (Infinity: only rates trip). */
  consecutive: number;
  /** The rate rules, as a store gets them (undefined: consecutive failures only). */
  rates: SharedRates | undefined;
}

const rate = (name: string, v: unknown) =>
  v === undefined ? undefined : checkNumber(W, name, v, undefined, 0, {
    exclusiveMin: true,
    max: 1,
  });

function needs(option: string, given: unknown, what: string): void {
  if (given !== undefined) {
    throw new TypeError(`${W}: option '${option}' needs ${what}`);
  }
}

/** Checks the trip options and builds the strategy. */
export function tripFor(o: CircuitBreakerOptions, threshold: number): Trip {
  const failureRate = rate("failureRateThreshold", o.failureRateThreshold);
  const slowRate = rate("slowCallRateThreshold", o.slowCallRateThreshold);
  const slowAfter = o.slowCallDuration === undefined
    ? Infinity
    : checkNumber(W, "slowCallDuration", o.slowCallDuration, undefined, 0, {
      exclusiveMin: true,
      max: Number.MAX_SAFE_INTEGER,
    });
  if (slowRate !== undefined && slowAfter === Infinity) {
    throw new TypeError(`${W}: option 'slowCallRateThreshold' needs 'slowCallDuration'`);
  }
  if (slowRate === undefined) {
    needs("slowCallDuration", o.slowCallDuration, "'slowCallRateThreshold'");
  }
  if (failureRate === undefined && slowRate === undefined) {
    const what = "'failureRateThreshold' or 'slowCallRateThreshold'";
    needs("windowCalls", o.windowCalls, what);
    needs("windowDuration", o.windowDuration, what);
    needs("windowBuckets", o.windowBuckets, what);
    needs("minimumThroughput", o.minimumThroughput, what);
    const rules = { failureRate, slowRate, minCalls: 1, consecutive: threshold };
    return {
      strategy: new TripRules(undefined, rules),
      slowAfter,
      consecutive: threshold,
      rates: undefined,
    };
  }
  if (o.windowCalls !== undefined && o.windowDuration !== undefined) {
    throw new TypeError(
      `${W}: options 'windowCalls' (the last N calls) and 'windowDuration' (the last T ms) exclude each other; give at most one`,
    );
  }
  if (o.windowDuration === undefined) {
    needs("windowBuckets", o.windowBuckets, "'windowDuration' (buckets split a time window)");
  }
  const counted = o.windowDuration === undefined;
  // With a count window smaller than 20 calls, the default throughput is the whole window.
  const size = counted
    ? checkNumber(W, "windowCalls", o.windowCalls, RATE_DEFAULTS.windowCalls, 1, {
      integer: true,
      max: MAX_WINDOW_CALLS,
    })
    : Infinity;
  const minCalls = checkNumber(
    W,
    "minimumThroughput",
    o.minimumThroughput,
    Math.min(RATE_DEFAULTS.minimumThroughput, size),
    1,
    { integer: true, max: Number.MAX_SAFE_INTEGER },
  );
  let window;
  const rates: SharedRates = { minimumThroughput: minCalls };
  if (failureRate !== undefined) rates.failureRateThreshold = failureRate;
  if (slowRate !== undefined) rates.slowCallRateThreshold = slowRate;
  if (counted) {
    rates.windowCalls = size;
    if (minCalls > size) {
      throw new RangeError(
        `${W}: option 'minimumThroughput' (${minCalls}) is larger than 'windowCalls' (${size}): the rate could never trip`,
      );
    }
    window = new CountWindow(size);
  } else {
    const duration = checkNumber(W, "windowDuration", o.windowDuration, undefined, 1, {
      max: Number.MAX_SAFE_INTEGER,
    });
    const buckets = checkNumber(
      W,
      "windowBuckets",
      o.windowBuckets,
      RATE_DEFAULTS.windowBuckets,
      1,
      { integer: true, max: MAX_WINDOW_BUCKETS },
    );
    window = new TimeWindow(duration, buckets);
    rates.windowDuration = duration;
    rates.windowBuckets = buckets;
  }
  const rules = {
    failureRate,
    slowRate,
    minCalls,
    // Rate only: only the rate trips; with failureThreshold too, either does.
    consecutive: failureRate === undefined || o.failureThreshold !== undefined
      ? threshold
      : undefined,
  };
  return {
    strategy: new TripRules(window, rules),
    slowAfter,
    consecutive: rules.consecutive ?? Infinity,
    rates,
  };
}
