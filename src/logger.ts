/**
 * Pluggable logging. The patterns log the seed library's messages
 * (retries, circuit transitions, timeouts) through a {@linkcode Logger}.
 *
 * Messages that a policy repeats on every call (a fallback answering, a
 * timeout firing, a retry giving up) are aggregated so that an outage does
 * not become a log storm: the first is printed at once, later ones of the
 * same kind are counted and printed as one line per interval,
 * `"<message> (repeated 523 times in the last 10s)"`. State transitions are
 * always printed, and print the pending counts first. See
 * {@linkcode setLogRepeatInterval}.
 *
 * @module
 */
import type { Clock } from "./clock.ts";

/**
 * A minimal logger; `console` satisfies it. A logger that throws never fails
 * the call being logged (its exception is dropped).
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
  // A wrong logger would surface later as a TypeError in place of a policy's own error.
  const l = logger as Partial<Logger> | null | undefined;
  if (
    typeof l?.info !== "function" || typeof l.warn !== "function" ||
    typeof l.error !== "function"
  ) {
    throw new TypeError(
      "setDefaultLogger: expected a logger with info, warn and error functions (console fits); " +
        "to silence logging pass { info() {}, warn() {}, error() {} }",
    );
  }
  const prev = defaultLogger;
  defaultLogger = logger;
  return prev;
}

/** @internal The logger in force for policies without their own. */
export function getDefaultLogger(): Logger {
  return defaultLogger;
}

/** The level of a log message: the {@linkcode Logger} method it goes to. */
export type LogLevel = "info" | "warn" | "error";

let interval = 10_000;

/**
 * Sets how often a repeated message is summarised, in milliseconds (default
 * 10,000); `0` turns aggregation off (every message is printed). Applies to
 * every policy and logger, from the next message on. Returns the previous
 * value.
 *
 * The rule, per logger and per kind of message (e.g. `Timeout after 5000ms:
 * getUser`, or attempt 2 of retry `getUser`): the first message is printed at
 * once; the ones that follow within the interval are only counted; the next
 * message after the interval ends prints one line, the latest message with
 * `" (repeated N times in the last Ts)"` (N counts that message too), and
 * starts a new interval. A kind that stays quiet for a whole interval starts
 * over (its next message is printed at once). A circuit breaker's state
 * transition is always printed, and first prints every pending count of its
 * logger (each starting a new interval), so the log reads in order. No timer
 * is used: a count is printed with a later message, never by itself.
 *
 * @example Summaries once a minute
 * ```ts
 * import { setLogRepeatInterval } from "edge-resilience";
 *
 * setLogRepeatInterval(60_000);
 * ```
 */
export function setLogRepeatInterval(ms: number): number {
  if (typeof ms != "number" || !(ms >= 0 && ms < Infinity)) {
    throw new RangeError(
      `setLogRepeatInterval: ms must be a finite number >= 0, got ${String(ms)}`,
    );
  }
  const prev = interval;
  interval = ms;
  return prev;
}

/** One kind of repeated message, within its current interval. */
interface Repeat {
  /** When its interval began. */
  start: number;
  /** Messages counted (not printed) in this interval. */
  count: number;
  level: LogLevel;
  message: string;
  data: Record<string, unknown> | undefined;
}

/** The repeated messages of one logger measured with one clock. */
interface Group {
  logger: Logger;
  clock: Clock;
  kinds: Map<string, Repeat>;
  /** No interval of `kinds` ends before this time. */
  nextEnd: number;
}

/** Groups by clock, then logger (weakly: test clocks and loggers come and go). */
const groups = new WeakMap<Clock, WeakMap<Logger, Group>>();
/** Per logger, the groups holding counts not printed yet (for {@linkcode flushRepeats}). */
const waiting = new WeakMap<Logger, Set<Group>>();

/** Prints the count of `r` (at least one message waiting) and ends its interval. */
function summarise(logger: Logger, r: Repeat, now: number): void {
  const n = r.count;
  const elapsed = now - r.start;
  const secs = +(elapsed / 1000).toFixed(1);
  const data = r.data;
  r.count = 0;
  r.data = undefined;
  r.start = now;
  say(
    logger,
    r.level,
    `${r.message} (repeated ${n === 1 ? "once" : `${n} times`} in the last ${secs}s)`,
    { ...data, repeated: n, repeatedOverMs: elapsed },
  );
}

/** Ends every interval of `g` that is over at `now`; forgets kinds that were quiet. */
function sweep(g: Group, now: number): void {
  let next = Infinity;
  let counting = false;
  for (const [kind, r] of g.kinds) {
    if (now - r.start < interval) {
      next = Math.min(next, r.start + interval);
      counting ||= r.count > 0;
    } else if (r.count === 0) g.kinds.delete(kind);
    else {
      summarise(g.logger, r, now);
      next = Math.min(next, now + interval);
    }
  }
  g.nextEnd = next;
  if (!counting) waiting.get(g.logger)?.delete(g);
}

/**
 * @internal Logs a message that a policy may repeat on every call, with
 * aggregation (see {@linkcode setLogRepeatInterval}). `logger` undefined means
 * the default logger; `kind` says which messages count as repeats of each
 * other (default: the message itself). Policies call it instead of the
 * logger's method, e.g.
 * `logRepeated(logger, clock, "warn", "Timeout after 5000ms: op", data)`.
 */
export function logRepeated(
  logger: Logger | undefined,
  clock: Clock,
  level: LogLevel,
  message: string,
  data?: Record<string, unknown>,
  kind: string = message,
): void {
  const log = own(logger);
  if (interval === 0) return say(log, level, message, data);
  let byLogger = groups.get(clock);
  if (!byLogger) groups.set(clock, byLogger = new WeakMap());
  let g = byLogger.get(log);
  if (!g) byLogger.set(log, g = { logger: log, clock, kinds: new Map(), nextEnd: Infinity });
  const now = clock.now();
  let r = g.kinds.get(kind);
  if (r && r.count === 0 && now - r.start >= interval) {
    g.kinds.delete(kind); // quiet for a whole interval: starts over
    r = undefined;
  }
  if (r) {
    // A repeat: counted, and summarised (itself included) once its interval is over.
    if (r.count++ === 0) {
      let set = waiting.get(log);
      if (!set) waiting.set(log, set = new Set());
      set.add(g);
    }
    r.message = message;
    r.data = data;
    if (now >= g.nextEnd) sweep(g, now);
    return;
  }
  if (now >= g.nextEnd) sweep(g, now);
  g.kinds.set(kind, { start: now, count: 0, level, message, data: undefined });
  if (now + interval < g.nextEnd) g.nextEnd = now + interval;
  say(log, level, message, data);
}

/**
 * @internal Calls `logger[level]`; a logger that throws (a broken transport,
 * a full disk) never fails the call being logged: its exception is dropped.
 */
export function say(
  logger: Logger,
  level: LogLevel,
  message: string,
  data?: Record<string, unknown>,
): void {
  try {
    logger[level](message, data);
  } catch { /* a throwing logger never fails a call */ }
}

/**
 * @internal Prints every pending count of `logger` (undefined: the default
 * logger) now, each starting a new interval. A circuit breaker calls it
 * before logging a state transition, so the log reads in order.
 */
export function flushRepeats(logger: Logger | undefined): void {
  const log = own(logger);
  const set = waiting.get(log);
  if (!set) return;
  waiting.delete(log);
  for (const g of set) {
    const now = g.clock.now();
    for (const r of g.kinds.values()) if (r.count > 0) summarise(log, r, now);
    g.nextEnd = Math.min(g.nextEnd, now + interval);
  }
}

/**
 * @internal A logger whose methods never throw (see {@linkcode say}), for a
 * policy that logs through a logger object. Made once per policy.
 */
export function guardedLogger(logger: Logger): Logger {
  const guarded: Logger & { [INNER]?: Logger } = {
    info: (message, data) => say(logger, "info", message, data),
    warn: (message, data) => say(logger, "warn", message, data),
    error: (message, data) => say(logger, "error", message, data),
  };
  guarded[INNER] = logger; // repeats are counted per user logger, guarded or not
  return guarded;
}

/** The user's logger inside a {@linkcode guardedLogger}. */
const INNER: unique symbol = /* @__PURE__ */ Symbol("logger");

/** The logger repeats are grouped by: the user's own, unwrapped. */
function own(logger: Logger | undefined): Logger {
  const l = logger ?? defaultLogger;
  return (l as { [INNER]?: Logger })[INNER] ?? l;
}

/**
 * @internal Any thrown value as text for a log line: never throws (a
 * null-prototype object has no `toString`; a getter may throw).
 */
export function printable(e: unknown): string {
  try {
    return String(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}
