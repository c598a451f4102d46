/**
 * Error classes thrown by the patterns. All are `instanceof`-testable and
 * keep what caused them in `cause`.
 *
 * @module
 */

import type { CircuitState } from "./circuit_state.ts";

/**
 * Base class of the errors this library creates itself.
 *
 * @example
 * ```ts
 * import { ResilienceError } from "edge-resilience";
 *
 * try {
 *   // ... a protected call
 * } catch (e) {
 *   if (e instanceof ResilienceError) console.log("rejected by a policy");
 * }
 * ```
 */
export class ResilienceError extends Error {
  /** Creates the error; `options.cause` is kept as `cause`. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // Literal names for ours: a minifier renames classes (then `new.target.name` is "a").
    this.name = new.target === ResilienceError ? "ResilienceError" : new.target.name;
  }
}

/**
 * Thrown when a circuit breaker rejects a call without running it: the
 * circuit is OPEN, or HALF_OPEN with all trial permits in use.
 *
 * @example
 * ```ts
 * import { CircuitOpenError, circuitBreaker } from "edge-resilience";
 *
 * const breaker = circuitBreaker({ name: "payments" });
 * try {
 *   await breaker.execute(() => fetch("https://payments.example"));
 * } catch (e) {
 *   if (e instanceof CircuitOpenError) {
 *     console.log(`${e.breakerName} retry in ${e.timeUntilReset}ms`);
 *   }
 * }
 * ```
 */
export class CircuitOpenError extends ResilienceError {
  /** Name of the breaker that rejected the call. */
  readonly breakerName: string;
  /** Milliseconds until the breaker lets a trial call through (0 in HALF_OPEN). */
  readonly timeUntilReset: number;
  /** State of the breaker when it rejected the call. */
  readonly state: CircuitState;
  /**
   * True when the circuit is held open by hand (`breaker.isolate()`): it
   * stays open until released, so `timeUntilReset` is `Infinity`.
   */
  readonly isolated: boolean;

  /** Creates the error (the message follows the seed library's wording). */
  constructor(
    breakerName: string,
    timeUntilReset: number,
    state: CircuitState,
    options?: { cause?: unknown; isolated?: boolean },
  ) {
    const isolated = options?.isolated === true;
    super(openMessage(breakerName, timeUntilReset, state, isolated), options);
    if (new.target === CircuitOpenError) this.name = "CircuitOpenError"; // subclasses keep theirs
    this.breakerName = breakerName;
    this.timeUntilReset = timeUntilReset;
    this.state = state;
    this.isolated = isolated;
  }

  /**
   * Creates the error without running the `Error` constructor, so no stack
   * trace is captured: an open breaker rejects many calls per second and a
   * stack says nothing useful there. It is still an `instanceof`
   * `CircuitOpenError` (and `Error`), with the same fields; `message` and
   * `stack` are computed when read.
   */
  static fast(
    breakerName: string,
    timeUntilReset: number,
    state: CircuitState,
    isolated = false,
  ): CircuitOpenError {
    if (!fastReady) prepareFast();
    const e = Object.create(CircuitOpenError.prototype) as {
      -readonly [K in keyof CircuitOpenError]: CircuitOpenError[K];
    };
    e.breakerName = breakerName;
    e.timeUntilReset = timeUntilReset;
    e.state = state;
    e.isolated = isolated;
    return e as CircuitOpenError;
  }
}

let fastReady = false;
/** Gives fast errors (which have no own message or stack) computed ones; once. */
function prepareFast(): void {
  fastReady = true;
  Object.defineProperties(CircuitOpenError.prototype, {
    name: { value: "CircuitOpenError", writable: true, configurable: true },
    message: {
      get(this: CircuitOpenError) {
        return openMessage(this.breakerName, this.timeUntilReset, this.state, this.isolated);
      },
      configurable: true,
    },
    stack: {
      get(this: CircuitOpenError) {
        return `${this.name}: ${this.message}`;
      },
      configurable: true,
    },
  });
}

function openMessage(name: string, left: number, state: CircuitState, isolated: boolean): string {
  return isolated
    ? `Circuit breaker '${name}' is isolated (held open until released)`
    : state === "half_open"
    ? `Circuit breaker '${name}' is half-open and all trial calls are in use`
    : `Circuit breaker '${name}' is open. Resets in ${(left / 1000).toFixed(1)}s`;
}

/**
 * Thrown (and used as the abort reason of the context signal) when a
 * `timeout` or `withTimeout` deadline passes.
 *
 * @example
 * ```ts
 * import { ResilienceTimeoutError, withTimeout } from "edge-resilience";
 *
 * try {
 *   await withTimeout(new Promise(() => {}), 10);
 * } catch (e) {
 *   if (e instanceof ResilienceTimeoutError) console.log(e.timeout); // 10
 * }
 * ```
 */
export class ResilienceTimeoutError extends ResilienceError {
  /** Name of the operation that timed out. */
  readonly operation: string;
  /** The deadline in milliseconds. */
  readonly timeout: number;

  /** Creates the error; `message` overrides the default wording. */
  constructor(
    operation: string,
    timeout: number,
    options?: { cause?: unknown; message?: string },
  ) {
    super(
      options?.message ??
        `Operation '${operation}' timed out after ${timeout}ms`,
      options,
    );
    if (new.target === ResilienceTimeoutError) this.name = "ResilienceTimeoutError";
    this.operation = operation;
    this.timeout = timeout;
  }
}

/**
 * Thrown when a bulkhead refuses a call without running it: its queue was
 * full (`reason: "queue-full"`), or the call waited in the queue longer than
 * `queueTimeout` (`reason: "queue-timeout"`).
 *
 * @example
 * ```ts
 * import { bulkhead, BulkheadRejectedError } from "edge-resilience";
 *
 * const limit = bulkhead({ name: "db", maxConcurrent: 1 });
 * const slow = limit.execute(() => new Promise((r) => setTimeout(r, 10)));
 * try {
 *   await limit.execute(() => "second");
 * } catch (e) {
 *   if (e instanceof BulkheadRejectedError) console.log(e.bulkheadName, e.reason); // db queue-full
 * }
 * await slow;
 * ```
 */
export class BulkheadRejectedError extends ResilienceError {
  /** Name of the bulkhead that refused the call (`name` is the error class's). */
  readonly bulkheadName: string;
  /** The bulkhead's `maxConcurrent`. */
  readonly maxConcurrent: number;
  /** The bulkhead's `maxQueue`. */
  readonly maxQueue: number;
  /** Why: the queue was full, or the call waited past `queueTimeout`. */
  readonly reason: "queue-full" | "queue-timeout";

  /** Creates the error. */
  constructor(
    bulkheadName: string,
    maxConcurrent: number,
    maxQueue: number,
    reason: "queue-full" | "queue-timeout",
    options?: { cause?: unknown },
  ) {
    super(
      reason === "queue-full"
        ? `Bulkhead '${bulkheadName}' is full: ${maxConcurrent} running and ${maxQueue} queued`
        : `Bulkhead '${bulkheadName}': the call waited too long for a slot (queue timeout)`,
      options,
    );
    this.bulkheadName = bulkheadName;
    this.maxConcurrent = maxConcurrent;
    this.maxQueue = maxQueue;
    this.reason = reason;
  }
}

/**
 * Thrown when a rate limiter refuses a call without running it: the call
 * would have waited longer than the limiter's `maxWait` for a permit. Made
 * without a stack trace (a limiter refuses many calls per second); it is
 * still an `instanceof` `RateLimitedError` with the fields below. `retry`
 * recognises it by `limiterName` + `retryAfter`: it waits `retryAfter` when
 * that fits in its `maxDelay`, and the attempt costs no retry budget.
 *
 * @example
 * ```ts
 * import { RateLimitedError, rateLimiter } from "edge-resilience";
 *
 * const limiter = rateLimiter({ name: "geo", limit: 1, interval: 1_000 });
 * await limiter.execute(() => "first");
 * try {
 *   await limiter.execute(() => "second");
 * } catch (e) {
 *   if (e instanceof RateLimitedError) console.log(e.limiterName, e.retryAfter); // geo 1000
 * }
 * ```
 */
export class RateLimitedError extends ResilienceError {
  /** Name of the limiter that refused the call (`name` is the error class's). */
  readonly limiterName: string;
  /** The key that is limited (`undefined` for the limiter's own limit, as a policy). */
  readonly key: string | undefined;
  /** Milliseconds until a permit is available (if nothing else takes it). */
  readonly retryAfter: number;
  /** The limiter's `limit` (permits per `interval`). */
  readonly limit: number;

  /** Creates the error (with a stack trace; the limiter uses {@linkcode RateLimitedError.fast}). */
  constructor(
    limiterName: string,
    key: string | undefined,
    retryAfter: number,
    limit: number,
    options?: { cause?: unknown },
  ) {
    super(limitedMessage(limiterName, key, retryAfter), options);
    if (new.target === RateLimitedError) this.name = "RateLimitedError";
    this.limiterName = limiterName;
    this.key = key;
    this.retryAfter = retryAfter;
    this.limit = limit;
  }

  /**
   * Creates the error without running the `Error` constructor (no stack
   * trace); `message` and `stack` are computed when read.
   */
  static fast(
    limiterName: string,
    key: string | undefined,
    retryAfter: number,
    limit: number,
  ): RateLimitedError {
    if (!limitedReady) prepareLimited();
    const e = Object.create(RateLimitedError.prototype) as {
      -readonly [K in keyof RateLimitedError]: RateLimitedError[K];
    };
    e.limiterName = limiterName;
    e.key = key;
    e.retryAfter = retryAfter;
    e.limit = limit;
    return e as RateLimitedError;
  }
}

let limitedReady = false;
/** Gives fast errors computed `name`, `message` and `stack`; once. */
function prepareLimited(): void {
  limitedReady = true;
  Object.defineProperties(RateLimitedError.prototype, {
    name: { value: "RateLimitedError", writable: true, configurable: true },
    message: {
      get(this: RateLimitedError) {
        return limitedMessage(this.limiterName, this.key, this.retryAfter);
      },
      configurable: true,
    },
    stack: {
      get(this: RateLimitedError) {
        return `${this.name}: ${this.message}`;
      },
      configurable: true,
    },
  });
}

function limitedMessage(name: string, key: string | undefined, retryAfter: number): string {
  return `Rate limiter '${name}'${key === undefined ? "" : ` (key '${key}')`} refused the call: ` +
    `next permit in ${(retryAfter / 1000).toFixed(1)}s`;
}
