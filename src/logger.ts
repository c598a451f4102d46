/**
 * Pluggable logging. The patterns log the seed library's messages
 * (retries, circuit transitions, timeouts) through a {@linkcode Logger}.
 *
 * @module
 */

/**
 * A minimal logger; `console` satisfies it.
 *
 * @example Silencing a policy
 * ```ts
 * import { type Logger, retry } from "edge-resilience";
 *
 * const silent: Logger = { info() {}, warn() {}, error() {} };
 * retry({ logger: silent });
 * ```
 */
export interface Logger {
  /** Informational events (e.g. a circuit closing). */
  info(message: string, data?: Record<string, unknown>): void;
  /** Something went wrong but was handled (e.g. a retry, a circuit opening). */
  warn(message: string, data?: Record<string, unknown>): void;
  /** Something failed for good (e.g. all retries failed). */
  error(message: string, data?: Record<string, unknown>): void;
}

let defaultLogger: Logger = {
  // Like Python's logging without configuration: warnings and errors only.
  info() {},
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
};

/**
 * Replaces the logger used by policies created without a `logger` option.
 * The built-in default prints warnings and errors with `console` and drops
 * info messages. Returns the previous logger.
 *
 * @example
 * ```ts
 * import { setDefaultLogger } from "edge-resilience";
 *
 * setDefaultLogger(console); // also show info messages
 * ```
 */
export function setDefaultLogger(logger: Logger): Logger {
  const prev = defaultLogger;
  defaultLogger = logger;
  return prev;
}

/** @internal The logger in force for policies without their own. */
export function getDefaultLogger(): Logger {
  return defaultLogger;
}
