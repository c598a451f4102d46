import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { ChaosError, checkChaosCommon, clampDelay, clampRate } from "../chaos/shared.ts";
import { type Clock, systemClock } from "../clock.ts";
import { addDeadline, cancelDeadline, withoutStack } from "../scheduler.ts";
import { guarded } from "../telemetry.ts";
import { checkKnownOptions, checkNumber, optionNames } from "../validate.ts";
import { problemResponse } from "./problem.ts";

/** What `onInject` of {@linkcode routeChaos} is told, before anything is done. */
export interface RouteChaosEvent {
  /** The middleware's name. */
  readonly name: string;
  /** The delay injected before the rest, in ms (0: none). */
  readonly latency: number;
  /**
   * What answers after the delay: the fault, a cut connection, or the route's
   * own handler (latency only). A `fault` function is asked after the delay,
   * so it is `"fault"` even when that function then answers `undefined` (and
   * the handler answers).
   */
  readonly answer: "fault" | "abort" | "handler";
}

/** Options of {@linkcode routeChaos}. Durations are in ms. */
export interface RouteChaosOptions {
  /**
   * Whether chaos is on for this request, checked first (off: the request
   * runs untouched). Required — chaos is never on by default. A header gate
   * must compare against a secret that exists (see the example), or be off in
   * production.
   */
  enabled: boolean | ((c: Context) => boolean | Promise<boolean>);
  /**
   * Fraction of the enabled requests picked for injection, 0..1. Required.
   * A function is asked per request; its answer is clamped to 0..1.
   */
  injectionRate: number | ((c: Context) => number);
  /**
   * The answer instead of the handler's: a status (400–599) served with an
   * RFC 9457 problem body, or a function making the response (`undefined` or
   * `null`: no fault this time, the handler runs — as with `chaos`).
   */
  fault?:
    | number
    | ((c: Context) => Response | undefined | null | Promise<Response | undefined | null>);
  /**
   * Delay before the handler (or the fault or the cut), in ms; a function is
   * asked per injection (an answer that is not a number > 0: no delay). Ends
   * at once when the client disconnects or an enclosing `routeTimeout` fires.
   */
  latency?: number | ((c: Context) => number);
  /**
   * Cut the connection instead of answering: the status line and headers go
   * out (200), then the body fails, so the client's read of it rejects, as
   * when a server dies mid-response. Not with `fault`.
   */
  abort?: boolean;
  /**
   * Called once per injected request, before anything is done. A hook never
   * fails the request: a throw (or rejection) is logged once, by the default
   * logger.
   */
  onInject?: (c: Context, event: RouteChaosEvent) => void;
  /** Name used in problem bodies, errors and stats. Default `"route"`. */
  name?: string;
  /** Source of randomness in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Time source for `latency` (tests pass a `FakeClock`). */
  clock?: Clock;
}

/** Counters of a {@linkcode routeChaos} middleware. JSON-safe. */
export interface RouteChaosStats {
  /** The middleware's name. */
  name: string;
  /** Requests seen. */
  requests: number;
  /** Requests for which `enabled` was true (each drew one random number). */
  enabled: number;
  /** Requests picked for injection. */
  injected: number;
  /** Fault answers served (a `fault` function's `undefined` is none). */
  faults: number;
  /** Delays that ran to their end. */
  delays: number;
  /** Connections cut. */
  aborts: number;
}

/** A route chaos middleware, with its name and counts. */
export type RouteChaos = MiddlewareHandler & {
  /** The middleware's name and counts. */
  readonly chaos: { readonly name: string; getStats(): RouteChaosStats };
};

const W = "routeChaos";
const OPTIONS = optionNames<RouteChaosOptions>({
  enabled: 1,
  injectionRate: 1,
  fault: 1,
  latency: 1,
  abort: 1,
  onInject: 1,
  name: 1,
  random: 1,
  clock: 1,
});

/** The status phrases of the faults users inject most (RFC 9110), for the problem title. */
const TITLES: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** The header marking every answer routeChaos made up. */
const MARK = "x-resilience-chaos";

/** Waits `ms`; rejects with the signal's reason at once when it aborts (the timer cleared). */
function delay(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      cancelDeadline(clock, handle);
      reject(signal.reason);
    };
    const handle = addDeadline(clock, ms, () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Fault injection for routes: for a fraction of the requests it lets
 * through `enabled(c)`, it answers a fault (a status with an RFC 9457
 * `application/problem+json` body), adds latency before the handler, or cuts
 * the connection — so you can watch your clients, Workers and dashboards
 * cope, with real requests. One random draw per enabled request decides;
 * an injected request gets the delay (if any), then the fault or the cut (if
 * configured), else the handler. The answers it makes up carry
 * `x-resilience-chaos: fault` or `abort` (a `fault` function's response is
 * served as it is).
 *
 * **Never on by default**: `enabled` and `injectionRate` are required. Gate
 * it by an environment flag, or by a header compared with a secret that
 * must exist (an absent secret must mean off: `undefined === undefined` is
 * true), and keep the gate off in production unless you run a chaos
 * experiment there on purpose.
 *
 * Put it after `routeTimeout` to have the delay cut at the route deadline
 * (it follows `c.var.signal`), and after `routeFallback` and
 * `routeCircuitBreaker` to see them answer for the faults. A client that
 * disconnects during the delay gets nothing (499 in the logs).
 *
 * @example 5% of requests carrying the secret header fail with 503, 5% are 2 s slow
 * ```ts
 * import { Hono } from "hono";
 * import { routeChaos } from "edge-resilience/hono";
 *
 * type Env = { Bindings: { CHAOS_TOKEN?: string } };
 * const gate = (c: { env: Env["Bindings"]; req: { header(n: string): string | undefined } }) => {
 *   const token = c.env.CHAOS_TOKEN; // unset in production: chaos stays off
 *   return token !== undefined && token !== "" && c.req.header("x-chaos-token") === token;
 * };
 * const app = new Hono<Env>();
 * app.use("/api/*", routeChaos({ enabled: gate, injectionRate: 0.05, fault: 503 }));
 * app.use("/api/*", routeChaos({ enabled: gate, injectionRate: 0.05, latency: 2_000 }));
 * app.get("/api/items", (c) => c.json({ items: [] }));
 * ```
 */
export function routeChaos(options: RouteChaosOptions): RouteChaos {
  checkKnownOptions(W, options, OPTIONS);
  if (options === undefined) throw new TypeError(`${W}: option 'enabled' is required`);
  checkChaosCommon(W, options, true);
  const { fault, abort, onInject } = options;
  if (typeof fault !== "function" && fault !== undefined) {
    checkNumber(W, "fault", fault, undefined, 400, { integer: true, max: 599 });
  }
  if (abort !== undefined && typeof abort !== "boolean") {
    throw new TypeError(`${W}: option 'abort' must be a boolean, got ${typeof abort}`);
  }
  if (fault !== undefined && abort) {
    throw new TypeError(
      `${W}: options 'fault' and 'abort' exclude each other; use two middlewares`,
    );
  }
  if (fault === undefined && !abort && options.latency === undefined) {
    throw new TypeError(
      `${W}: nothing to inject: give at least one of 'fault', 'latency' or 'abort'`,
    );
  }
  const name = options.name ?? "route";
  const enabled = options.enabled;
  const rate = options.injectionRate;
  const latency = options.latency;
  const random = options.random ?? Math.random;
  const clock = options.clock ?? systemClock;
  const answer: RouteChaosEvent["answer"] = fault !== undefined
    ? "fault"
    : abort
    ? "abort"
    : "handler";
  // One hook object per middleware: a throwing onInject is logged once, not per request.
  const hook = onInject &&
    ((e: { c: Context; event: RouteChaosEvent }) => onInject(e.c, e.event));
  const hookName = `${W} '${name}' onInject`;
  const stats: RouteChaosStats = {
    name,
    requests: 0,
    enabled: 0,
    injected: 0,
    faults: 0,
    delays: 0,
    aborts: 0,
  };

  const mw = createMiddleware(async (c, next) => {
    stats.requests++;
    if (enabled !== true && (enabled === false || !(await enabled(c)))) return next();
    stats.enabled++;
    if (!(random() < (typeof rate === "number" ? rate : clampRate(rate(c))))) return next();
    stats.injected++;
    const ms = latency === undefined
      ? 0
      : typeof latency === "number"
      ? latency
      : clampDelay(latency(c));
    if (hook) guarded(hook, { c, event: { name, latency: ms, answer } }, undefined, hookName, name);
    if (ms > 0) {
      // The route's signal (routeTimeout's: its deadline and the client), else the client's.
      const signal = (c.get("signal") as AbortSignal | undefined) ?? c.req.raw.signal;
      try {
        await delay(clock, ms, signal);
      } catch (e) {
        // The client left: nobody reads the answer. Otherwise (a route deadline) the
        // enclosing middleware has answered; this handler's failure is its business.
        if (c.req.raw.signal?.aborted) return new Response(null, { status: 499 });
        throw e;
      }
      stats.delays++;
    }
    if (typeof fault === "function") {
      const res = await fault(c);
      if (res != null) {
        stats.faults++;
        return res;
      }
    } else if (fault !== undefined) {
      stats.faults++;
      return problemResponse({
        title: TITLES[fault] ?? "Injected Fault",
        status: fault,
        detail: `Fault injected by routeChaos '${name}'.`,
        chaos: name,
      }, { [MARK]: "fault" });
    }
    if (abort) {
      stats.aborts++;
      // Servers log the body's error: one line, no stack of the server's frames.
      const error = withoutStack(() => new ChaosError(name, `${c.req.method} ${c.req.path}`));
      return new Response(
        new ReadableStream({
          pull(controller) {
            controller.error(error);
          },
        }),
        { headers: { [MARK]: "abort", "content-type": "application/octet-stream" } },
      );
    }
    await next();
  });
  return Object.assign(mw, { chaos: { name, getStats: () => ({ ...stats }) } });
}
