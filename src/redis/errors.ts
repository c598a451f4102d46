import { ResilienceError } from "../errors.ts";

/**
 * A Redis store operation that could not complete for a reason of the
 * store's own: compare-and-set lost too often (`"contention"`), or a reply
 * it cannot read (`"reply"`). Errors of the client or the server (connection
 * lost, `OOM`, a timeout of the client) are passed on as they are.
 *
 * @example
 * ```ts
 * import { RedisStoreError } from "edge-resilience/redis";
 *
 * const e = new RedisStoreError("er:cb:api", "contention", 12, "gave up");
 * console.log(e instanceof RedisStoreError, e.reason, e.attempts); // true contention 12
 * ```
 */
export class RedisStoreError extends ResilienceError {
  /** The Redis key (prefix included). */
  readonly key: string;
  /** Why the operation failed. */
  readonly reason: "contention" | "reply";
  /** Attempts made (read, then compare-and-set). */
  readonly attempts: number;

  /** Creates the error. */
  constructor(
    key: string,
    reason: "contention" | "reply",
    attempts: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    if (new.target === RedisStoreError) this.name = "RedisStoreError";
    this.key = key;
    this.reason = reason;
    this.attempts = attempts;
  }
}
