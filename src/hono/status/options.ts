import type { Context } from "hono";
import type { CircuitBreaker } from "../../circuit_breaker.ts";
import type { BulkheadPolicy } from "../../bulkhead.ts";
import type { AdaptiveConcurrencyPolicy } from "../../adaptive/policy.ts";
import type { RateLimiter } from "../../rate_limit/limiter.ts";
import type { Clock } from "../../clock.ts";
import type { HealthCheck } from "../../health_check.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "../../validate.ts";
import { type AppRoute, isBreakerOrRoute } from "../circuit_sources.ts";
import type { RouteCircuitBreaker } from "../circuit_breaker.ts";
import type { RouteBulkhead } from "../bulkhead.ts";
import type { RouteRateLimiter } from "../rate_limit.ts";
import type { RouteAdaptiveConcurrency } from "../adaptive_concurrency.ts";

/** Options of {@linkcode statusPage}. */
export interface StatusPageOptions {
  /**
   * The circuits shown: `true` (default) for every registered breaker, every
   * unnamed one alive in this process, and the breakers of every
   * `routeCircuitBreaker` (those of `app` only, when given); a list of
   * breakers and route middlewares (one tenant's, when several share a
   * process); or `false` for none.
   */
  breakers?: boolean | readonly (CircuitBreaker | RouteCircuitBreaker)[];
  /**
   * The Hono app: its route middlewares are the ones shown with
   * `breakers: true`, and with a store the circuits of its routes are read
   * from the store even before this instance served them.
   */
  app?: { readonly routes: readonly AppRoute[] };
  /** Health checks shown (run at most once per 5 s, whoever asks). */
  health?: HealthCheck;
  /** Bulkheads shown: policies or `routeBulkhead` middlewares. */
  bulkheads?: readonly (BulkheadPolicy | RouteBulkhead)[];
  /**
   * Limiters shown: rate limiters (totals only, never their keys),
   * adaptive concurrency limiters, or their route middlewares.
   */
  limiters?: readonly (
    | RateLimiter
    | RouteRateLimiter
    | AdaptiveConcurrencyPolicy
    | RouteAdaptiveConcurrency
  )[];
  /**
   * Show the messages and details of failing health checks. Hidden by
   * default, as on the health endpoint: error texts may leak internals.
   */
  exposeErrors?: boolean;
  /** Most circuits listed one by one (default 50): OPEN first, then HALF_OPEN, then CLOSED. */
  maxBreakers?: number;
  /**
   * Whether this request may act on breakers (reset, open, isolate). Without
   * it the page is read-only: no action is rendered and none is accepted.
   * Called for every page, stream and action request; a throw counts as no.
   */
  authorize?: (c: Context) => boolean | Promise<boolean>;
  /** The name shown for this instance. Default: a random id drawn once per isolate. */
  instance?: string;
  /**
   * How the page stays live: `"sse"` (Server-Sent Events, with polling as
   * the fallback) or `"poll"`. Default: `"poll"` on Cloudflare Workers
   * (where an open stream holds a request), `"sse"` elsewhere.
   */
  live?: "sse" | "poll";
  /** ms between updates (events or polls). Default 1000. */
  interval?: number;
  /** Time source of the event stream's pauses and of the health cache (tests pass a `FakeClock`). */
  clock?: Clock;
}

export const W = "statusPage";

const NAMES = optionNames<StatusPageOptions>({
  breakers: 1,
  app: 1,
  health: 1,
  bulkheads: 1,
  limiters: 1,
  exposeErrors: 1,
  maxBreakers: 1,
  authorize: 1,
  instance: 1,
  live: 1,
  interval: 1,
  clock: 1,
});

function checkList(name: string, value: unknown, ok: (x: unknown) => boolean, what: string) {
  if (value !== undefined && !(Array.isArray(value) && value.every(ok))) {
    throw new TypeError(`${W}: option '${name}' must be ${what}`);
  }
}

const hasStats = (x: unknown) => typeof (x as { getStats?: unknown })?.getStats === "function";

/** Validated settings of a status page. */
export function checkOptions(
  options: StatusPageOptions,
): { maxBreakers: number; interval: number } {
  checkKnownOptions(W, options, NAMES);
  checkObject(W, "app", options.app);
  if (options.app && !Array.isArray(options.app.routes)) {
    throw new TypeError(`${W}: option 'app' must be a Hono app (with 'routes')`);
  }
  const b = options.breakers;
  if (b !== undefined && typeof b !== "boolean") {
    checkList(
      "breakers",
      b,
      isBreakerOrRoute,
      "true, false, or an array of breakers and route middlewares",
    );
  }
  if (
    options.health !== undefined &&
    typeof (options.health as { runAll?: unknown })?.runAll !== "function"
  ) {
    throw new TypeError(`${W}: option 'health' must be a HealthCheck`);
  }
  checkList(
    "bulkheads",
    options.bulkheads,
    (x) => hasStats(x) || hasStats((x as { bulkhead?: unknown })?.bulkhead),
    "an array of bulkheads and route bulkheads",
  );
  checkList(
    "limiters",
    options.limiters,
    (x) =>
      hasStats(x) || hasStats((x as { limiter?: unknown })?.limiter) ||
      (typeof (x as { limiter?: unknown })?.limiter === "function" &&
        typeof (x as { keys?: unknown })?.keys === "function"),
    "an array of rate limiters, adaptive limiters and their route middlewares",
  );
  if (options.exposeErrors !== undefined && typeof options.exposeErrors !== "boolean") {
    throw new TypeError(`${W}: option 'exposeErrors' must be a boolean`);
  }
  checkFunction(W, "authorize", options.authorize);
  checkString(W, "instance", options.instance);
  if (options.live !== undefined && options.live !== "sse" && options.live !== "poll") {
    throw new TypeError(
      `${W}: option 'live' must be "sse" or "poll", got ${String(options.live)}`,
    );
  }
  checkObject(W, "clock", options.clock);
  return {
    maxBreakers: checkNumber(W, "maxBreakers", options.maxBreakers, 50, 0, {
      integer: true,
      max: 1_000_000,
    }),
    interval: checkNumber(W, "interval", options.interval, 1000, 100, { max: 60_000 }),
  };
}
