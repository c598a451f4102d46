import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { Clock } from "../clock.ts";
import { ResilienceTimeoutError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { timeout } from "../timeout.ts";
import { checkFunction, checkObject } from "../validate.ts";
import { problemResponse, waitUntil } from "./problem.ts";

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
  checkFunction("routeTimeout", "onTimeout", options.onTimeout);
  const policy = timeout(ms, {
    name: "route",
    logger: options.logger,
    clock: options.clock,
  });
  return createMiddleware<ResilienceEnv>(async (c, next) => {
    // Nested deadlines: an inner routeTimeout also follows an outer one.
    const parent = (c.get("signal") as AbortSignal | undefined) ?? c.req.raw.signal;
    let handler: Promise<void> | undefined;
    try {
      await policy.execute(({ signal }) => {
        c.set("signal", signal);
        return (handler = next());
      }, parent);
    } catch (e) {
      if (!(e instanceof ResilienceTimeoutError) || e.operation !== "route") throw e;
      if (handler) waitUntil(c, handler);
      if (options.onTimeout) {
        const r = await options.onTimeout(c, e);
        if (r instanceof HTTPException) throw r;
        return r;
      }
      return problemResponse({
        title: "Gateway Timeout",
        status: 504,
        detail: `The request did not complete within ${ms}ms.`,
      });
    }
  });
}
