// The refusal of an adaptive concurrency limiter.
import { ResilienceError } from "../errors.ts";

/** Why an adaptive limiter refused a call. */
export type AdaptiveRefusalReason = "limit" | "queue-full" | "queue-timeout";

/**
 * Thrown when an adaptive concurrency limiter refuses a call without running
 * it: the limit it learned was reached and its queue is full or absent
 * (`reason: "limit"` without a queue, `"queue-full"` with one), or the call
 * waited in the queue longer than `queueTimeout` (`"queue-timeout"`). Made
 * without a stack trace (a limiter that sheds load refuses many calls a
 * second); `retry` recognises it by its fields, and a retry after it costs
 * no retry budget (the refused call reached no upstream).
 *
 * @example
 * ```ts
 * import { adaptiveConcurrency, AdaptiveConcurrencyRejectedError } from "edge-resilience";
 *
 * const limiter = adaptiveConcurrency({ name: "search", initialLimit: 1 });
 * const slow = limiter.execute(() => new Promise((r) => setTimeout(r, 10)));
 * try {
 *   await limiter.execute(() => "second");
 * } catch (e) {
 *   if (e instanceof AdaptiveConcurrencyRejectedError) {
 *     console.log(e.limiterName, e.limit, e.inFlight, e.reason); // search 1 1 limit
 *   }
 * }
 * await slow;
 * ```
 */
export class AdaptiveConcurrencyRejectedError extends ResilienceError {
  /** Name of the limiter that refused the call (`name` is the error class's). */
  readonly limiterName: string;
  /** The limit when the call was refused. */
  readonly limit: number;
  /** Calls running when the call was refused. */
  readonly inFlight: number;
  /** Why the call was refused. */
  readonly reason: AdaptiveRefusalReason;

  /** Creates the error (with a stack; the limiter uses {@linkcode AdaptiveConcurrencyRejectedError.fast}). */
  constructor(
    limiterName: string,
    limit: number,
    inFlight: number,
    reason: AdaptiveRefusalReason,
    options?: { cause?: unknown },
  ) {
    super(refusalMessage(limiterName, limit, inFlight, reason), options);
    if (new.target === AdaptiveConcurrencyRejectedError) {
      this.name = "AdaptiveConcurrencyRejectedError";
    }
    this.limiterName = limiterName;
    this.limit = limit;
    this.inFlight = inFlight;
    this.reason = reason;
  }

  /**
   * Creates the error without running the `Error` constructor (no stack trace
   * captured); `message` and `stack` are computed when read.
   */
  static fast(
    limiterName: string,
    limit: number,
    inFlight: number,
    reason: AdaptiveRefusalReason,
  ): AdaptiveConcurrencyRejectedError {
    if (!fastReady) prepareFast();
    const e = Object.create(AdaptiveConcurrencyRejectedError.prototype) as {
      -readonly [K in keyof AdaptiveConcurrencyRejectedError]: AdaptiveConcurrencyRejectedError[K];
    };
    e.limiterName = limiterName;
    e.limit = limit;
    e.inFlight = inFlight;
    e.reason = reason;
    return e as AdaptiveConcurrencyRejectedError;
  }
}

let fastReady = false;
function prepareFast(): void {
  fastReady = true;
  Object.defineProperties(AdaptiveConcurrencyRejectedError.prototype, {
    name: { value: "AdaptiveConcurrencyRejectedError", writable: true, configurable: true },
    message: {
      get(this: AdaptiveConcurrencyRejectedError) {
        return refusalMessage(this.limiterName, this.limit, this.inFlight, this.reason);
      },
      configurable: true,
    },
    stack: {
      get(this: AdaptiveConcurrencyRejectedError) {
        return `${this.name}: ${this.message}`;
      },
      configurable: true,
    },
  });
}

function refusalMessage(
  name: string,
  limit: number,
  inFlight: number,
  reason: AdaptiveRefusalReason,
): string {
  return reason === "queue-timeout"
    ? `Adaptive limiter '${name}': the call waited too long for a slot (queue timeout)`
    : `Adaptive limiter '${name}' is at its limit: ${inFlight} in flight, limit ${limit}${
      reason === "queue-full" ? ", queue full" : ""
    }`;
}
