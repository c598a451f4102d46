/**
 * Health checks: registered checks with their own timeouts, aggregated into
 * HEALTHY / DEGRADED / UNHEALTHY (or UNKNOWN with no checks).
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { HealthStatus } from "./circuit_state.ts";
import { type Scope, type Target, underSignal, WITH_CONTEXT } from "./context.ts";
import { registrable } from "./policy.ts";
import { runWithDeadline } from "./timeout.ts";
import {
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "./validate.ts";

/**
 * What a check may return. `true` or nothing: healthy; `false`: unhealthy;
 * an object: `healthy` (default true), `degraded` (default false), `message`,
 * and any other keys as details. Throwing makes the check unhealthy with the
 * error's message. `healthy` and `degraded` must be booleans: anything else
 * (a string `"false"`, a promise the check forgot to await) makes the check
 * unhealthy with a message saying why; a promise found there is handled, so
 * its rejection is never an unhandled rejection.
 */
export type CheckResult =
  | boolean
  | void
  | undefined
  | {
    healthy?: boolean;
    degraded?: boolean;
    message?: string;
    [detail: string]: unknown;
  };

/** A health check function; its signal is aborted at the check's timeout. */
export type CheckFunction = (
  context: { readonly signal: AbortSignal },
) => CheckResult | PromiseLike<CheckResult>;

/** Options of {@linkcode HealthCheck.register}. */
export interface RegisterOptions {
  /** Milliseconds before the check counts as failed. Default: the HealthCheck's `defaultTimeout` (10000). */
  timeout?: number;
  /**
   * A failing critical check makes the system UNHEALTHY; a failing
   * non-critical one makes it DEGRADED. Default `true` (the seed reported
   * every failing check as unhealthy; this keeps that by default).
   */
  critical?: boolean;
}

/** Options of the {@linkcode HealthCheck} constructor. */
export interface HealthCheckOptions {
  /** Version string reported with every result. Default `"unknown"`. */
  version?: string;
  /** Timeout of checks registered without one. Default 10000 ms. */
  defaultTimeout?: number;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
}

/** The outcome of one check. */
export interface CheckOutcome {
  /** Registered name. */
  readonly name: string;
  /** HEALTHY, DEGRADED or UNHEALTHY. */
  readonly status: HealthStatus;
  /** Whether a failure of this check makes the system UNHEALTHY. */
  readonly critical: boolean;
  /** The check's message or error text; `null` when there is none. */
  readonly message: string | null;
  /** How long the check took, in milliseconds. */
  readonly latencyMs: number;
  /** Extra keys the check returned. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** The seed's JSON schema of a health result (snake_case keys). */
export interface HealthDict {
  /** Aggregate status. */
  status: HealthStatus;
  /** Version given to the HealthCheck. */
  version: string;
  /** Seconds since the HealthCheck was created. */
  uptime_seconds: number;
  /** ISO 8601 time of the run. */
  timestamp: string;
  /** One entry per check, in registration order. */
  checks: {
    name: string;
    status: HealthStatus;
    message: string | null;
    latency_ms: number;
    details: Record<string, unknown>;
  }[];
}

/**
 * The result of {@linkcode HealthCheck.runAll}.
 *
 * @example
 * ```ts
 * import { HealthCheck } from "edge-resilience";
 *
 * const health = new HealthCheck({ version: "3.1.0" });
 * health.register("cache", () => ({ healthy: true, connections: 4 }));
 * const result = await health.runAll();
 * console.log(JSON.stringify(result)); // the seed's schema, via toJSON()
 * ```
 */
export class SystemHealth {
  /** Aggregate status. */
  readonly status: HealthStatus;
  /** Every check's outcome, in registration order. */
  readonly checks: readonly CheckOutcome[];
  /** Version given to the HealthCheck. */
  readonly version: string;
  /** Seconds since the HealthCheck was created. */
  readonly uptimeSeconds: number;
  /** ISO 8601 time of the run. */
  readonly timestamp: string;

  /** Builds a result (normally made by `runAll`). */
  constructor(
    status: HealthStatus,
    checks: readonly CheckOutcome[],
    version: string,
    uptimeSeconds: number,
    timestamp: string,
  ) {
    this.status = status;
    this.checks = checks;
    this.version = version;
    this.uptimeSeconds = uptimeSeconds;
    this.timestamp = timestamp;
  }

  /** The seed's serialisation: `{status, version, uptime_seconds, timestamp, checks}`. */
  toDict(): HealthDict {
    return {
      status: this.status,
      version: this.version,
      uptime_seconds: this.uptimeSeconds,
      timestamp: this.timestamp,
      checks: this.checks.map((c) => ({
        name: c.name,
        status: c.status,
        message: c.message,
        latency_ms: c.latencyMs,
        details: { ...c.details },
      })),
    };
  }

  /** Same as {@linkcode toDict}, so `JSON.stringify(result)` gives the seed's JSON. */
  toJSON(): HealthDict {
    return this.toDict();
  }
}

interface Registered {
  fn: CheckFunction;
  timeout: number;
  critical: boolean;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

const REGISTER_OPTIONS = optionNames<RegisterOptions>({ timeout: 1, critical: 1 });
const OPTIONS = optionNames<HealthCheckOptions>({ version: 1, defaultTimeout: 1, clock: 1 });

/** Why a `healthy` / `degraded` field is not a boolean, or undefined when it is one (or absent). */
function notBoolean(key: string, v: unknown): string | undefined {
  if (v === undefined || typeof v === "boolean") return undefined;
  if (typeof (v as PromiseLike<unknown> | null)?.then === "function") {
    // Handled here: a rejecting `redis.ping()` left in the result must not crash the process.
    Promise.resolve(v).then(undefined, () => {});
    return `check result: '${key}' is a promise, not a boolean (await it inside the check)`;
  }
  const shown = typeof v === "string" ? JSON.stringify(v) : String(v);
  return `check result: '${key}' must be a boolean, got ${typeof v} ${shown}`;
}

function interpret(r: CheckResult): [HealthStatus, string | null, Record<string, unknown>] {
  if (r === undefined || r === true) return [HealthStatus.HEALTHY, null, {}];
  if (r === false) return [HealthStatus.UNHEALTHY, "check returned false", {}];
  if (typeof r !== "object" || r === null) {
    return [HealthStatus.UNHEALTHY, `check returned an invalid value: ${String(r)}`, {}];
  }
  const { healthy = true, degraded = false, message, ...details } = r;
  // Both fields are looked at (so that a promise in either is handled) before deciding.
  const bad = [notBoolean("healthy", healthy), notBoolean("degraded", degraded)].filter(Boolean);
  if (bad.length) return [HealthStatus.UNHEALTHY, bad.join("; "), details];
  const status = !healthy
    ? HealthStatus.UNHEALTHY
    : degraded
    ? HealthStatus.DEGRADED
    : HealthStatus.HEALTHY;
  return [status, message === undefined ? null : String(message), details];
}

/**
 * A registry of health checks.
 *
 * `runAll()` runs every check concurrently, each under its own timeout
 * (synchronous checks included: one that overruns is reported as timed out),
 * and aggregates: any failing critical check → UNHEALTHY; any failing
 * non-critical or degraded check → DEGRADED; else HEALTHY. With no checks
 * registered the status is UNKNOWN: nothing was verified.
 *
 * @example The seed's example
 * ```ts
 * import { HealthCheck } from "edge-resilience";
 *
 * const health = new HealthCheck({ version: "3.1.0" });
 *
 * health.register("database", async () => {
 *   // await db.ping();
 *   return true;
 * }, { timeout: 5_000 });
 *
 * health.register("cache", () => ({ healthy: true, connections: 42 }), {
 *   timeout: 2_000,
 *   critical: false,
 * });
 *
 * const systemHealth = await health.runAll();
 * console.log(systemHealth.status, systemHealth.uptimeSeconds, systemHealth.version);
 * const body = systemHealth.toDict();
 * ```
 */
export class HealthCheck {
  /** Version reported with every result. */
  readonly version: string;
  readonly #checks = new Map<string, Registered>();
  readonly #clock: Clock;
  readonly #defaultTimeout: number;
  /** When uptime counts from (monotonic and wall ms); undefined until the clock is trustworthy. */
  #started: { mono: number; wall: number } | undefined;

  /** Creates an empty registry; uptime counts from now. */
  constructor(options: HealthCheckOptions = {}) {
    const W = "HealthCheck";
    checkKnownOptions(W, options, OPTIONS);
    checkString(W, "version", options.version);
    checkObject(W, "clock", options.clock);
    this.version = options.version ?? "unknown";
    this.#defaultTimeout = checkNumber(W, "defaultTimeout", options.defaultTimeout, 10_000, 0, {
      exclusiveMin: true,
    });
    this.#clock = options.clock ?? systemClock;
    this.#started = this.#reading();
  }

  /**
   * A start time, or undefined where the clock is frozen at the epoch (a
   * Worker's global scope in production): uptime then counts from the first run.
   */
  #reading(): { mono: number; wall: number } | undefined {
    const wall = this.#clock.wallNow();
    return wall >= PLAUSIBLE_WALL ? { mono: this.#clock.now(), wall } : undefined;
  }

  /**
   * Seconds since construction. The monotonic clock measures it unless its
   * origin moved since construction — on Workers `performance.now()` reads 0
   * at global scope and epoch milliseconds inside a request — which shows as
   * monotonic time running far ahead of wall time; the wall clock measures it
   * then.
   */
  #uptime(): number {
    const start = this.#started ??= this.#reading();
    if (!start) return 0;
    const mono = this.#clock.now() - start.mono;
    const wall = this.#clock.wallNow() - start.wall;
    return Math.max(0, mono > wall + ORIGIN_MOVED ? wall : mono);
  }

  /**
   * Registers a check under a unique name. Without `fn`, returns a decorator
   * (for functions and static methods), as in the seed's
   * `@health.register("database", timeout=5.0)`.
   */
  register(name: string, fn: CheckFunction, options?: RegisterOptions): this;
  /**
   * Returns a decorator that registers the function or static method it
   * decorates as check `name`.
   *
   * @example
   * ```ts
   * import { HealthCheck } from "edge-resilience";
   *
   * const health = new HealthCheck({ version: "1.0.0" });
   * const check = health.register("cache", { critical: false })(() => ({ healthy: true }));
   * ```
   */
  register(
    name: string,
    options?: RegisterOptions,
  ): <F extends CheckFunction>(fn: F, context?: ClassMethodDecoratorContext) => F;
  register(
    name: string,
    fnOrOptions?: CheckFunction | RegisterOptions,
    options?: RegisterOptions,
  ): unknown {
    const W = "HealthCheck.register";
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`${W}: 'name' must be a non-empty string`);
    }
    if (typeof fnOrOptions === "function") {
      this.#add(name, fnOrOptions, options);
      return this;
    }
    const opts = fnOrOptions;
    this.#validate(name, opts);
    return <F extends CheckFunction>(fn: F, context?: ClassMethodDecoratorContext): F => {
      this.#add(name, registrable(W, fn, context), opts);
      return fn;
    };
  }

  /** Removes a check; returns whether it existed. */
  unregister(name: string): boolean {
    return this.#checks.delete(name);
  }

  /** Names of the registered checks, in registration order. */
  get names(): string[] {
    return [...this.#checks.keys()];
  }

  #validate(name: string, options: RegisterOptions | undefined): Registered {
    const W = "HealthCheck.register";
    checkObject(W, "options", options);
    checkKnownOptions(W, options, REGISTER_OPTIONS);
    if (this.#checks.has(name)) {
      throw new TypeError(`${W}: a check named '${name}' is already registered`);
    }
    const timeout = checkNumber(W, "timeout", options?.timeout, this.#defaultTimeout, 0, {
      exclusiveMin: true,
    });
    const critical = options?.critical === undefined ? true : options.critical;
    if (typeof critical !== "boolean") {
      throw new TypeError(`${W}: option 'critical' must be a boolean`);
    }
    return { fn: undefined as never, timeout, critical };
  }

  #add(name: string, fn: CheckFunction, options: RegisterOptions | undefined): void {
    const r = this.#validate(name, options);
    r.fn = fn;
    this.#checks.set(name, r);
  }

  /** Runs one check by name (UNHEALTHY with a message if it throws or times out). */
  async runCheck(name: string, signal?: AbortSignal): Promise<CheckOutcome> {
    const r = this.#checks.get(name);
    if (!r) throw new TypeError(`HealthCheck.runCheck: no check named '${name}'`);
    return await underSignal(signal, (parent) => this.#run(name, r, parent));
  }

  async #run(name: string, r: Registered, parent: Scope | undefined): Promise<CheckOutcome> {
    const clock = this.#clock;
    const start = clock.now();
    let status: HealthStatus;
    let message: string | null;
    let details: Record<string, unknown> = {};
    const timedOut = `Check timed out after ${r.timeout}ms`;
    try {
      const result = await runWithDeadline<CheckResult | typeof TIMED_OUT>(
        clock,
        r.timeout,
        parent,
        name,
        timedOut,
        r.fn as Target,
        undefined,
        WITH_CONTEXT,
        () => TIMED_OUT,
      );
      if (result === TIMED_OUT || clock.now() - start > r.timeout) {
        [status, message] = [HealthStatus.UNHEALTHY, timedOut];
      } else {
        [status, message, details] = interpret(result);
      }
    } catch (e) {
      status = HealthStatus.UNHEALTHY;
      message = e instanceof Error ? e.message : String(e);
    }
    return {
      name,
      status,
      critical: r.critical,
      message,
      latencyMs: round(clock.now() - start),
      details,
    };
  }

  /** Runs every check concurrently and aggregates the result. */
  async runAll(signal?: AbortSignal): Promise<SystemHealth> {
    const checks = await underSignal(
      signal,
      (parent) => Promise.all([...this.#checks].map(([name, r]) => this.#run(name, r, parent))),
    );
    let status: HealthStatus = checks.length === 0 ? HealthStatus.UNKNOWN : HealthStatus.HEALTHY;
    for (const c of checks) {
      if (c.status === HealthStatus.UNHEALTHY && c.critical) {
        status = HealthStatus.UNHEALTHY;
        break;
      }
      if (c.status !== HealthStatus.HEALTHY) status = HealthStatus.DEGRADED;
    }
    const clock = this.#clock;
    return new SystemHealth(
      status,
      checks,
      this.version,
      round(this.#uptime() / 1000),
      new Date(clock.wallNow()).toISOString(),
    );
  }
}

const TIMED_OUT: unique symbol = Symbol("timed out");
/** Wall times before this (September 2001) are a clock frozen at the epoch, not a start time. */
const PLAUSIBLE_WALL = 1e12;
/** Monotonic time this far (1 day) ahead of wall time means the monotonic origin moved. */
const ORIGIN_MOVED = 86_400_000;
