// The options of a breaker's store link (`storeOptions`) and its status event.
import { checkKnownOptions, checkNumber, checkObject, optionNames } from "../validate.ts";
import type { StoreStatusEvent } from "../shared/status.ts";

export type { StoreStatusEvent };

/** Tuning of a breaker's store link (option `storeOptions`). Durations in ms. */
export interface StoreOptions {
  /** Bound of every store operation; past it the store counts as unavailable. Default 500. */
  timeout?: number;
  /** Age after which the local view is refreshed (in the background). Default 1000. */
  refreshInterval?: number;
  /** Successes are reported in batches of this size (failures at once). Default 20. */
  batchSize?: number;
  /** After a failure, the store is tried again (in the background) after this. Default 5000. */
  retryInterval?: number;
  /**
   * While the store is unavailable: `"local"` (default) — this instance's
   * own copy of the circuit decides, starting from the last shared state it
   * saw; `"allow"` — every call runs; `"reject"` — every call fails fast.
   */
  whenUnavailable?: "local" | "allow" | "reject";
}

const STORE_OPTIONS = /* @__PURE__ */ optionNames<StoreOptions>({
  timeout: 1,
  refreshInterval: 1,
  batchSize: 1,
  retryInterval: 1,
  whenUnavailable: 1,
});

/** The checked store options. */
export interface LinkSettings {
  timeout: number;
  refresh: number;
  batch: number;
  retry: number;
  mode: "local" | "allow" | "reject";
}

/** Checks `storeOptions` (errors name the option, as `W: option 'storeOptions.x'`). */
export function linkSettings(W: string, options: StoreOptions | undefined): LinkSettings {
  checkObject(W, "storeOptions", options);
  checkKnownOptions(`${W}: storeOptions`, options, STORE_OPTIONS);
  const o = options ?? {};
  const mode = o.whenUnavailable ?? "local";
  if (mode !== "local" && mode !== "allow" && mode !== "reject") {
    throw new TypeError(
      `${W}: option 'storeOptions.whenUnavailable' must be "local", "allow" or "reject"`,
    );
  }
  return {
    timeout: checkNumber(W, "storeOptions.timeout", o.timeout, 500, 0, { exclusiveMin: true }),
    refresh: checkNumber(W, "storeOptions.refreshInterval", o.refreshInterval, 1000, 0),
    batch: checkNumber(W, "storeOptions.batchSize", o.batchSize, 20, 1, {
      integer: true,
      max: 10_000,
    }),
    retry: checkNumber(W, "storeOptions.retryInterval", o.retryInterval, 5000, 0),
    mode,
  };
}
