// A breaker's settings from its options (checked, errors naming the option),
// and the configuration its store is sent: one source for both, also read by
// the Hono route breakers and their health endpoint.
import { checkNumber } from "../validate.ts";
import type { MachineSettings } from "./machine.ts";
import { W } from "./options.ts";
import type { SharedConfig } from "./shared_data.ts";
import { type Trip, tripFor } from "./trip_options.ts";
import type { CircuitBreakerOptions } from "./types.ts";

/** What a breaker's options say about its state machine. */
export interface Settings extends MachineSettings {
  /** Option `failureThreshold`. */
  readonly threshold: number;
  /** The trip rules and slow-call duration. */
  readonly trip: Trip;
}

/** Checks the state machine's options and builds its settings. */
export function settingsFor(o: CircuitBreakerOptions): Settings {
  const threshold = checkNumber(W, "failureThreshold", o.failureThreshold, 5, 1, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  // Only compared with the clock, never handed to a timer: no 2^31-1 limit.
  const resetTimeout = checkNumber(W, "resetTimeout", o.resetTimeout, 60_000, 0, {
    max: Number.MAX_SAFE_INTEGER,
  });
  if (o.maxResetTimeout !== undefined && resetTimeout === 0) {
    throw new RangeError(
      `${W}: option 'maxResetTimeout' needs a 'resetTimeout' above 0 (an open duration of 0 cannot grow)`,
    );
  }
  const maxReset = o.maxResetTimeout === undefined
    ? resetTimeout
    : checkNumber(W, "maxResetTimeout", o.maxResetTimeout, undefined, resetTimeout, {
      max: Number.MAX_SAFE_INTEGER,
    });
  const halfOpenMax = checkNumber(W, "halfOpenMaxCalls", o.halfOpenMaxCalls, 3, 1, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  return { threshold, resetTimeout, maxReset, halfOpenMax, trip: tripFor(o, threshold) };
}

/** The configuration a store runs this breaker's machine with (`timeout`: the store timeout). */
export function sharedConfig(s: Settings, timeout: number): SharedConfig {
  const trip = s.trip;
  return {
    // Rate only: no run of failures trips (the largest count a store accepts).
    failureThreshold: Number.isFinite(trip.consecutive)
      ? trip.consecutive
      : Number.MAX_SAFE_INTEGER,
    ...(trip.rates ? { rates: trip.rates } : {}),
    ...(s.maxReset > s.resetTimeout ? { maxResetTimeout: s.maxReset } : {}),
    resetTimeout: s.resetTimeout,
    halfOpenMaxCalls: s.halfOpenMax,
    timeout,
  };
}
