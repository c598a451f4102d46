// What the chaos policy and the route chaos middleware share: the error,
// the stats, option checks and the cancellable delay.
import type { Clock } from "../clock.ts";
import type { Scope } from "../context.ts";
import { ResilienceError } from "../errors.ts";
import { addDeadline, cancelDeadline } from "../scheduler.ts";
import { checkFunction, checkNumber, checkObject, checkString } from "../validate.ts";

/** Longest injected delay (what a timer can hold): 2^31 − 1 ms. */
const MAX_DELAY = 2_147_483_647;

/**
 * The fault a {@linkcode chaos} policy throws with `fault: true`: an injected
 * failure, told apart from real ones by `instanceof ChaosError`. Made without
 * a stack trace (a chaos policy may throw thousands per second, and the stack
 * would show only the policy's frames).
 *
 * @example
 * ```ts
 * import { chaos, ChaosError } from "edge-resilience";
 *
 * const monkey = chaos({ injectionRate: 1, fault: true, name: "orders" });
 * const e = await monkey.execute(() => "real").catch((e) => e);
 * console.log(e instanceof ChaosError, e.chaosName); // true "orders"
 * ```
 */
export class ChaosError extends ResilienceError {
  /** Name of the chaos policy that injected the fault (`name` is the error class's). */
  readonly chaosName: string;
  /** The operation the fault replaced (the wrapped function's name). */
  readonly operation: string;

  /** Creates the error. */
  constructor(chaosName: string, operation: string, options?: { cause?: unknown }) {
    super(`Chaos '${chaosName}' injected a fault into '${operation}'`, options);
    if (new.target === ChaosError) this.name = "ChaosError";
    this.chaosName = chaosName;
    this.operation = operation;
  }
}

/** Counters of a chaos policy, from {@linkcode ChaosPolicy.getStats}. JSON-safe. */
export interface ChaosStats {
  /** The policy's name. */
  name: string;
  /** Calls seen. */
  calls: number;
  /** Calls for which `enabled` was true (each drew one random number). */
  enabled: number;
  /** Calls picked for injection. */
  injected: number;
  /** Faults thrown. */
  faults: number;
  /** Delays that ran to their end. */
  delays: number;
  /** Outcomes returned instead of calling. */
  outcomes: number;
  /** Behaviours run. */
  behaviors: number;
}

/** @internal A rate given per call, clamped to 0..1 (NaN and non-numbers: 0). */
export function clampRate(r: unknown): number {
  return typeof r === "number" && r > 0 ? (r >= 1 ? 1 : r) : 0;
}

/** @internal A delay given per call: > 0 and at most what a timer holds, else 0. */
export function clampDelay(ms: unknown): number {
  return typeof ms === "number" && ms > 0 ? (ms >= MAX_DELAY ? MAX_DELAY : ms) : 0;
}

/**
 * @internal Checks the options every chaos flavour shares (`injectionRate`,
 * `enabled`, `latency`, `name`, `random`, `clock`); returns the rate when it
 * is a number.
 */
export function checkChaosCommon(
  where: string,
  o: {
    injectionRate?: unknown;
    enabled?: unknown;
    latency?: unknown;
    name?: unknown;
    random?: unknown;
    clock?: unknown;
    onInject?: unknown;
  },
  enabledRequired: boolean,
): void {
  if (o.injectionRate === undefined) {
    throw new TypeError(
      `${where}: option 'injectionRate' is required (a number from 0 to 1; there is no default)`,
    );
  }
  if (typeof o.injectionRate !== "function") {
    checkNumber(where, "injectionRate", o.injectionRate, undefined, 0, { max: 1 });
  }
  if (o.enabled === undefined && enabledRequired) {
    throw new TypeError(
      `${where}: option 'enabled' is required (a boolean or a function; chaos is never on by default)`,
    );
  }
  if (
    o.enabled !== undefined && typeof o.enabled !== "boolean" && typeof o.enabled !== "function"
  ) {
    throw new TypeError(
      `${where}: option 'enabled' must be a boolean or a function, got ${typeof o.enabled}`,
    );
  }
  if (o.latency !== undefined && typeof o.latency !== "function") {
    checkNumber(where, "latency", o.latency, undefined, 0);
  }
  checkString(where, "name", o.name);
  checkFunction(where, "random", o.random);
  checkFunction(where, "onInject", o.onInject);
  checkObject(where, "clock", o.clock);
}

/**
 * @internal Waits `ms` on `clock`; rejects with the abort reason as soon as
 * `scope` aborts (the timer is cleared then).
 */
export function chaosDelay(clock: Clock, ms: number, scope: Scope | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let off: (() => void) | undefined;
    const handle = addDeadline(clock, ms, () => {
      off?.();
      resolve();
    });
    if (scope?.live) {
      off = scope.onAbort((reason) => {
        cancelDeadline(clock, handle);
        reject(reason);
      });
    }
  });
}
