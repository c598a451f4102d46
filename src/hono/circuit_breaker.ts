import type { Context, MiddlewareHandler, Next } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { routePath } from "hono/route";
import { type CircuitBreaker, circuitBreaker } from "../circuit_breaker.ts";
import { CircuitOpenError, ResilienceTimeoutError } from "../errors.ts";
import { CANCELLED, errorType } from "../telemetry.ts";
import { forget, own } from "../live_policies.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkObject,
  checkString,
  optionsOf,
} from "../validate.ts";
import { problemResponse, waitUntil } from "./problem.ts";
import { type Guard, ROUTE_GROUP, RouteGroup, track, userKey } from "./route_group.ts";
import {
  claim,
  COMPARED,
  differences,
  NAMES,
  RENAMED,
  type RouteCircuitBreakerOptions,
  W,
} from "./route_options.ts";

export type { RouteCircuitBreakerOptions } from "./route_options.ts";
export { liveRouteGroups, ROUTE_GROUP, RouteGroup, safeKey } from "./route_group.ts";

/**
 * The middleware returned by {@linkcode routeCircuitBreaker}: a Hono
 * middleware that also exposes the breakers it holds (they are not in the
 * process-wide registry), the way every middleware exposes the policies it
 * runs: a read-only property named after the core factory's policy
 * (`routeBulkhead(…).bulkhead`, `routeCircuitBreaker(…).breakers`).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { routeCircuitBreaker } from "edge-resilience/hono";
 *
 * const breaker = routeCircuitBreaker({ failureThreshold: 3 });
 * const app = new Hono();
 * app.get("/users/:id", breaker, (c) => c.text("ok"));
 * await app.request("/users/1");
 * console.log(breaker.breakers.get("GET /users/:id")?.state); // "closed"
 * ```
 */
export interface RouteCircuitBreaker extends MiddlewareHandler {
  /**
   * The breakers held now, by key (e.g. `"GET /users/:id"`), least recently
   * used first (at most `maxKeys`); each is named `"<name>:<key>"`. A
   * snapshot, taken at each read.
   */
  readonly breakers: ReadonlyMap<string, CircuitBreaker>;
}

/** The default `isFailureResult` of a route: a 5xx response (a route timeout's 504 included). */
const isServerError = (response: Response) => response.status >= 500;
/** The default `isFailure` of a route: any thrown error but a 4xx `HTTPException`. */
const notClientError = (e: unknown) => !(e instanceof HTTPException && e.status < 500);

/**
 * The 503 answer of an open breaker: `Retry-After` in whole seconds (at least
 * 1; absent while the breaker is isolated) and an RFC 9457 problem body.
 *
 * @example
 * ```ts
 * import { CircuitOpenError } from "edge-resilience";
 * import { circuitOpenResponse } from "edge-resilience/hono";
 *
 * const res = circuitOpenResponse(new CircuitOpenError("api", 2_500, "open"));
 * console.log(res.status, res.headers.get("retry-after")); // 503 "3"
 * ```
 */
export function circuitOpenResponse(error: CircuitOpenError): Response {
  const headers = new Headers();
  let retryAfter: number | undefined;
  if (Number.isFinite(error.timeUntilReset)) {
    retryAfter = Math.max(1, Math.ceil(error.timeUntilReset / 1000));
    headers.set("retry-after", String(retryAfter));
  }
  return problemResponse({
    title: "Service Unavailable",
    status: 503,
    detail: error.message,
    breaker: error.breakerName,
    state: error.state,
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  }, headers);
}

/**
 * Thrown inside the breaker to record a failing request; never escapes. Its
 * `name` is the call event's `error.type`: the thrown error's type, or the
 * failing response's status as text (`"503"`, OpenTelemetry's HTTP rule).
 */
class FailedRequest {
  constructor(readonly name: string) {}
}
/**
 * Thrown inside the breaker instead when the request failed because its client
 * went away: excluded (`isFailure`), so it counts as neither failure nor
 * success; its call event is `cancelled` (`error.type` `AbortError`).
 */
const CLIENT_GONE = { name: "AbortError", [CANCELLED]: true };
const notClientGone = (e: unknown) => e !== CLIENT_GONE;

/**
 * Whether the client of `c` has gone: the request's signal aborted, or the
 * route's `c.var.signal` aborted for a reason other than a deadline (a route
 * timeout follows the client's signal). Read on the failure path only: reading
 * the request's signal costs an `AbortController` on some servers.
 */
function clientGone(c: Context): boolean {
  if (c.req.raw.signal?.aborted) return true;
  const s = c.get("signal") as AbortSignal | undefined;
  return s?.aborted === true && !(s.reason instanceof ResilienceTimeoutError);
}

/** Groups shared by an explicit `name`, process-wide. */
const named = new Map<string, RouteGroup>();

/**
 * A circuit breaker for routes: one breaker per route (or per `key`), held
 * by this middleware, so two apps configuring the same route each have their
 * own. A 5xx response or a thrown error (not a 4xx `HTTPException`) counts
 * as a failure (replace the rules with `isFailureResult(response)` and
 * `isFailure(error)`, as for `circuitBreaker`); while the breaker is open (or half-open with every
 * trial in use) the route answers 503 with `Retry-After` and an RFC 9457
 * `application/problem+json` body — or the configured fallback response —
 * without running the handler.
 *
 * Per-key breakers are bounded by `maxKeys` (least recently used CLOSED
 * ones go first). Every option conflict is reported here, when the app is
 * built: a `name` shared with other options, a store key prefix of the same
 * store claimed with another circuit configuration, store options without a
 * store.
 *
 * The breaker's trip options pass through: consecutive failures
 * (`failureThreshold`), or a failure rate over a window of requests
 * (`failureRateThreshold`, `windowCalls` or `windowDuration`,
 * `minimumThroughput`), slow requests (`slowCallDuration`,
 * `slowCallRateThreshold`: the time the route's handlers take) and growing
 * open durations (`maxResetTimeout`). `isFailureResult` and `isFailure`
 * decide what a failure is for all of them.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { routeCircuitBreaker } from "edge-resilience/hono";
 *
 * const app = new Hono();
 * app.use(
 *   "/api/*",
 *   routeCircuitBreaker({ failureThreshold: 5, resetTimeout: 30_000, halfOpenMaxCalls: 2 }),
 * );
 * app.get("/api/data", async (c) => c.json(await (await fetch("https://upstream.example")).json()));
 * ```
 *
 * @example Counting a 429 as a failure too, and not a thrown validation error
 * ```ts
 * import { Hono } from "hono";
 * import { routeCircuitBreaker } from "edge-resilience/hono";
 *
 * class ValidationError extends Error {}
 * const app = new Hono();
 * app.use(
 *   "/api/*",
 *   routeCircuitBreaker({
 *     isFailureResult: (res) => res.status === 429 || res.status >= 500,
 *     isFailure: (e) => !(e instanceof ValidationError),
 *   }),
 * );
 * ```
 *
 * @example Opening on a failure rate: half the last 50 requests, at least 20 of them
 * ```ts
 * import { Hono } from "hono";
 * import { routeCircuitBreaker } from "edge-resilience/hono";
 *
 * const app = new Hono();
 * app.use(
 *   "/api/*",
 *   routeCircuitBreaker({
 *     failureRateThreshold: 0.5,
 *     windowCalls: 50,
 *     minimumThroughput: 20,
 *     slowCallDuration: 2_000,
 *     slowCallRateThreshold: 0.8,
 *     resetTimeout: 10_000,
 *     maxResetTimeout: 120_000,
 *   }),
 * );
 * ```
 */
export function routeCircuitBreaker(
  options: RouteCircuitBreakerOptions = {},
): RouteCircuitBreaker {
  checkObject(W, "options", options);
  for (const k of Object.keys(options)) {
    if (k in RENAMED) throw new TypeError(`${W}: option '${k}' ${RENAMED[k]}`);
  }
  checkKnownOptions(W, options, NAMES);
  const explicit = options.name;
  checkString(W, "name", explicit);
  const name = explicit ?? "route";
  let group = explicit !== undefined ? named.get(explicit) : undefined;
  if (group) {
    // `{ name }` alone joins the existing one; otherwise the options must be the same.
    const only = Object.keys(options).length === 1;
    const diff = only ? [] : differences(group.options, options, COMPARED);
    if (diff.length) {
      throw new TypeError(
        `${W}: name '${name}' is used with other options (${diff.join("; ")}): pass only ` +
          `{ name: '${name}' } to share its circuits, the same values, or another name`,
      );
    }
  } else group = build(name, options);
  if (explicit !== undefined) named.set(explicit, group);
  track(group);
  return middleware(group);
}

function build(name: string, options: RouteCircuitBreakerOptions): RouteGroup {
  const {
    key,
    isFailureResult = isServerError,
    isFailure = notClientError,
    fallback,
    name: _name,
    maxKeys: _maxKeys,
    storeKey: _storeKey,
    ...breakerOptions
  } = options;
  checkFunction(W, "key", key);
  checkFunction(W, "isFailureResult", isFailureResult);
  checkFunction(W, "isFailure", isFailure);
  checkFunction(W, "fallback", fallback);
  checkString(W, "storeKey", options.storeKey);
  if (!options.store) {
    for (const k of ["storeKey", "storeOptions", "onStoreStatus"] as const) {
      if (options[k] !== undefined) {
        throw new TypeError(`${W}: option '${k}' needs option 'store'`);
      }
    }
  }
  const prefix = options.storeKey ?? "route";
  // Validate the breaker options now, at setup (an unnamed breaker is not registered).
  optionsOf(W, "circuitBreaker", () =>
    forget(circuitBreaker({
      ...breakerOptions,
      ...(options.store ? { storeKey: `${prefix}:setup` } : {}),
    })));
  if (options.store) claim(options.store, prefix, options);

  const countAborts = breakerOptions.countCallerAborts === true;
  const guard = async (c: Context, next: Next) => {
    await next();
    // A thrown error is judged as an error (app.onError has made c.res of it), else the response.
    const error = c.error;
    if (error !== undefined ? isFailure(error) : isFailureResult(c.res)) {
      // The client's own cancellation is not a failure of the route (unless counted).
      if (!countAborts && clientGone(c)) throw CLIENT_GONE;
      throw new FailedRequest(error !== undefined ? errorType(error) : String(c.res.status));
    }
  };
  const make = (k: string): Guard => {
    // Not registered: each middleware holds its own breakers. An unnamed breaker takes
    // the name of the first function it wraps, so the guard is wrapped under the name.
    const label = `${name}:${k}`;
    // Owned by the middleware (found through it, forgotten when it drops the key).
    const breaker = own(circuitBreaker({
      ...breakerOptions,
      isFailure: notClientGone,
      ...(options.store ? { storeKey: `${prefix}:${k}` } : {}),
    }));
    const fn = { [label]: (c: Context, n: Next) => guard(c, n) }[label];
    return { breaker, run: breaker(fn) };
  };
  const group = new RouteGroup(name, options, make);
  // A user's key comes from the request: bounded and printable before it names a breaker.
  const keyOf = key
    ? (c: Context) => userKey(W, key(c))
    : (c: Context) => `${c.req.method} ${routePath(c, -1)}`;
  (group as unknown as { run: MiddlewareHandler }).run = async (c, next) => {
    const g = group.get(keyOf(c), c);
    if (!g) return await next();
    try {
      await g.run(c, next);
    } catch (e) {
      if (group.shared) waitUntil(c, g.breaker.flush());
      // The failing response goes out as it is (to a client that may have gone).
      if (e instanceof FailedRequest || e === CLIENT_GONE) return;
      if (e instanceof CircuitOpenError) {
        return fallback ? await fallback(c, e) : circuitOpenResponse(e);
      }
      throw e;
    }
    // With a shared store, outcomes are reported in the background (waitUntil on Workers).
    if (group.shared) waitUntil(c, g.breaker.flush());
  };
  return group;
}

function middleware(group: RouteGroup): RouteCircuitBreaker {
  const run = (group as unknown as { run: MiddlewareHandler }).run;
  const mw = createMiddleware((c, next) => run(c, next)) as RouteCircuitBreaker;
  Object.defineProperties(mw, {
    breakers: { get: () => group.snapshot() },
    [ROUTE_GROUP]: { value: group },
  });
  return mw;
}
