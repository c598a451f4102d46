/**
 * Refusals told by their fields, from any copy of the library: calls a
 * policy refused without running them, which `retry` treats apart.
 *
 * @module
 */

/**
 * @internal The wait of a call refused without running: a `CircuitOpenError`
 * (`timeUntilReset`) or a `RateLimitedError` (`retryAfter`), from any copy of
 * the library, told by their fields so that retry does not need the classes;
 * `undefined` for any other error.
 */
export function refusalWait(e: unknown): number | undefined {
  const o = e as
    | {
      timeUntilReset?: unknown;
      breakerName?: unknown;
      retryAfter?: unknown;
      limiterName?: unknown;
    }
    | null
    | undefined;
  if (typeof o?.timeUntilReset === "number" && typeof o.breakerName === "string") {
    return o.timeUntilReset;
  }
  if (typeof o?.retryAfter === "number" && typeof o.limiterName === "string") return o.retryAfter;
  return undefined;
}

/**
 * @internal An `AdaptiveConcurrencyRejectedError` (from any copy of the library), told
 * by its fields: the limiter refused the call, which never ran.
 */
export function isRefusal(e: unknown): boolean {
  const o = e as { limiterName?: unknown; inFlight?: unknown } | null | undefined;
  return typeof o?.limiterName === "string" && typeof o.inFlight === "number";
}
