import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { type Clock, systemClock } from "../clock.ts";
import type { ResilienceTimeoutError } from "../errors.ts";
import { type Logger, logRepeated } from "../logger.ts";
import { addDeadline, cancelDeadline } from "../scheduler.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  optionNames,
} from "../validate.ts";
import { GatewayTimeoutError, waitUntil } from "./problem.ts";

/** Variables our middleware sets on the Hono context (`c.var`). */
export interface ResilienceVariables {
  /**
   * Aborted at the route deadline (reason: a `ResilienceTimeoutError`) or when
   * the client disconnects. Pass it to `fetch` so upstream calls are cancelled.
   */
  signal: AbortSignal;
}

/** The Hono `Env` of routes using our middleware: `c.var.signal` is typed. */
export interface ResilienceEnv {
  /** Typed context variables. */
  Variables: ResilienceVariables;
}

/** Options of {@linkcode routeTimeout}. */
export interface RouteTimeoutOptions {
  /**
   * The answer at the deadline: a `Response`, or an `HTTPException` (thrown,
   * so `app.onError` sees it). Default: 504 with an RFC 9457 problem body.
   */
  onTimeout?: (
    c: Context,
    error: ResilienceTimeoutError,
  ) => Response | Promise<Response> | HTTPException;
  /** Where the timeout warning goes. */
  logger?: Logger;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
}

/**
 * Milliseconds after which a route starts following the client's signal (a client gone
 * before then aborts `c.var.signal` at this point).
 */
const FOLLOW_CLIENT_AFTER = 10;

const OPTIONS = optionNames<RouteTimeoutOptions>({ onTimeout: 1, logger: 1, clock: 1 });

/**
 * A route timeout that really aborts. The handler gets `c.var.signal`,
 * aborted at the deadline (and when the client disconnects), so a
 * `fetch(url, { signal: c.var.signal })` to an upstream is cancelled —
 * unlike `hono/timeout`, which answers but lets the handler run on. On
 * Workers the abandoned handler is handed to `waitUntil` so its cleanup
 * completes.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { type ResilienceEnv, routeTimeout } from "edge-resilience/hono";
 *
 * const app = new Hono<ResilienceEnv>();
 * app.get("/slow", routeTimeout(5_000), async (c) => {
 *   const res = await fetch("https://upstream.example", { signal: c.var.signal });
 *   return new Response(res.body, res);
 * });
 * ```
 */
export function routeTimeout(
  ms: number,
  options: RouteTimeoutOptions = {},
): MiddlewareHandler<ResilienceEnv> {
  checkObject("routeTimeout", "options", options);
  checkKnownOptions("routeTimeout", options, OPTIONS);
  checkFunction("routeTimeout", "onTimeout", options.onTimeout);
  checkNumber("routeTimeout", "ms", ms, undefined, 0, { exclusiveMin: true });
  checkObject("routeTimeout", "logger", options.logger);
  checkObject("routeTimeout", "clock", options.clock);
  const clock = options.clock ?? systemClock;
  // Not `timeout()`'s policy: a route needs exactly one AbortController (for c.var.signal)
  // and at most one listener on the request's signal, and this path is per request, so it
  // uses the shared deadline scheduler directly instead of a chain of scopes.
  const expireAfterFollow = ms - FOLLOW_CLIENT_AFTER;
  return createMiddleware<ResilienceEnv>(async (c, next) => {
    // The handler's signal follows the deadline, an outer routeTimeout's signal (at once)
    // and the client (from FOLLOW_CLIENT_AFTER ms on: reading the request's signal is the
    // dearest part of a route timeout on Node and Deno, and most handlers finish first).
    const prior = c.get("signal") as AbortSignal | undefined;
    const ctl = new AbortController();
    let outer: AbortSignal | undefined;
    const follow = () => ctl.abort(outer!.reason);
    const startFollowing = (signal: AbortSignal) => {
      outer = signal;
      if (signal.aborted) follow();
      else signal.addEventListener("abort", follow, { once: true });
    };
    if (prior) startFollowing(prior);
    c.set("signal", ctl.signal);
    let expired: GatewayTimeoutError | undefined;
    let timer: unknown;
    const handler = next();
    // One promise settles on whichever comes first, the handler or the deadline (cheaper
    // per request than a deadline promise raced against the handler).
    await new Promise<void>((wake) => {
      const expire = () => {
        // Answers for itself: the abandoned handler failing with it is not logged by Hono.
        expired = new GatewayTimeoutError("route", ms);
        // Aggregated like the core's repeated lines: a slow upstream is not a log storm.
        logRepeated(options.logger, clock, "warn", `Timeout after ${ms}ms: route`, {
          operation: "route",
          timeout: ms,
        });
        ctl.abort(expired);
        wake();
      };
      timer = expireAfterFollow <= 0 || prior ? addDeadline(clock, ms, expire) : addDeadline(
        clock,
        FOLLOW_CLIENT_AFTER,
        () => {
          startFollowing(c.req.raw.signal);
          timer = addDeadline(clock, expireAfterFollow, expire);
        },
      );
      handler.then(wake, wake);
    });
    cancelDeadline(clock, timer);
    outer?.removeEventListener("abort", follow);
    if (!expired) return handler;
    // On Workers the abandoned handler may finish its cleanup in the background.
    waitUntil(c, handler);
    // An aborted handler usually fails at once, and Hono then writes its error response into
    // the context: let that happen first (a macrotask at most), so the answer below wins.
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      handler.then(() => {}, () => {}),
      new Promise<void>((r) => (grace = setTimeout(r, 0))),
    ]);
    clearTimeout(grace);
    let answer: Response | HTTPException;
    if (options.onTimeout) answer = await options.onTimeout(c, expired);
    else answer = expired.getResponse();
    if (answer instanceof HTTPException) throw answer;
    // The aborted handler may already have produced a response (its own error's):
    // replace it, without merging its headers.
    c.res = undefined;
    c.res = answer;
  });
}
