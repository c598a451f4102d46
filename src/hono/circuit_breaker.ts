import type { Context, MiddlewareHandler, Next } from "hono";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { routePath } from "hono/route";
import {
  type CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerOptions,
} from "../circuit_breaker.ts";
import { CircuitState } from "../circuit_state.ts";
import { type Clock, systemClock } from "../clock.ts";
import { CircuitOpenError, ResilienceTimeoutError } from "../errors.ts";
import { getDefaultLogger } from "../logger.ts";
import type { SharedStore } from "../shared/port.ts";
import type { SharedConfig } from "../circuit_breaker/shared_data.ts";
import { settingsFor, sharedConfig } from "../circuit_breaker/settings.ts";
import { linkSettings } from "../circuit_breaker/link_options.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "../validate.ts";
import { problemResponse, waitUntil } from "./problem.ts";

/** Options of {@linkcode routeCircuitBreaker}. */
export interface RouteCircuitBreakerOptions extends
  Pick<
    CircuitBreakerOptions,
    | "failureThreshold"
    | "failureRateThreshold"
    | "windowCalls"
    | "windowDuration"
    | "windowBuckets"
    | "minimumThroughput"
    | "slowCallDuration"
    | "slowCallRateThreshold"
    | "maxResetTimeout"
    | "countCallerAborts"
    | "resetTimeout"
    | "halfOpenMaxCalls"
    | "onStateChange"
    | "logger"
    | "clock"
    | "store"
    | "storeOptions"
    | "onStoreStatus"
  > {
  /**
   * Prefix of the breakers' names (`"<name>:GET /users/:id"`). Default
   * `"route"`. Given explicitly, it also shares the breakers in this process:
   * every `routeCircuitBreaker` with the same `name` uses the same circuits,
   * and must have the same options (or only `{ name }`, which joins the
   * existing one); a conflict throws when the middleware is created.
   * Without it, each middleware has its own breakers.
   */
  name?: string;
  /**
   * Which breaker a request belongs to: one per route by default
   * (`"GET /users/:id"`); return an upstream's host to share one per upstream.
   */
  key?: (c: Context) => string;
  /**
   * How many per-key breakers this middleware keeps (default 1,000). Beyond
   * it, the least recently used CLOSED breaker is dropped; OPEN and HALF_OPEN
   * ones are kept while they matter. When every breaker is OPEN or running
   * trials, a new key is served without a breaker (logged once).
   */
  maxKeys?: number;
  /**
   * With a `store`: the prefix of the store keys, `"<storeKey>:<key>"`.
   * Default `"route"`, whatever the `name`: every middleware, in any isolate
   * or process, using the same store and prefix shares the circuits (that is
   * what a store is for); give tenants or apps that must not share their own
   * prefix.
   */
  storeKey?: string;
  /**
   * Whether a request's outcome counts as a breaker failure. Default
   * {@linkcode defaultIsFailureResult}: a 5xx response, or a thrown error
   * other than an `HTTPException` with a status below 500.
   */
  isFailureResult?: (response: Response, error: Error | undefined) => boolean;
  /**
   * The answer while the breaker rejects calls. Default: 503 with
   * `Retry-After` (whole seconds until reset) and an RFC 9457 problem body.
   */
  fallback?: (c: Context, error: CircuitOpenError) => Response | Promise<Response>;
}

/**
 * The middleware returned by {@linkcode routeCircuitBreaker}: a Hono
 * middleware that also lists the breakers it holds (they are not in the
 * process-wide registry).
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
 * console.log(breaker.breaker("GET /users/:id")?.state); // "closed"
 * ```
 */
export interface RouteCircuitBreaker extends MiddlewareHandler {
  /** The breakers' name prefix (option `name`). */
  readonly breakerName: string;
  /** The breaker of `key` (e.g. `"GET /users/:id"`), if this middleware holds one. */
  breaker(key: string): CircuitBreaker | undefined;
  /** The breakers held now, least recently used first (at most `maxKeys`). */
  breakers(): CircuitBreaker[];
}

const NAMES = optionNames<RouteCircuitBreakerOptions>({
  failureThreshold: 1,
  failureRateThreshold: 1,
  windowCalls: 1,
  windowDuration: 1,
  windowBuckets: 1,
  minimumThroughput: 1,
  slowCallDuration: 1,
  slowCallRateThreshold: 1,
  maxResetTimeout: 1,
  countCallerAborts: 1,
  resetTimeout: 1,
  halfOpenMaxCalls: 1,
  onStateChange: 1,
  logger: 1,
  clock: 1,
  store: 1,
  storeOptions: 1,
  onStoreStatus: 1,
  name: 1,
  key: 1,
  maxKeys: 1,
  storeKey: 1,
  isFailureResult: 1,
  fallback: 1,
});

/** Options of earlier versions, refused with what to use instead. */
const RENAMED: Record<string, string> = {
  isFailure: "is now 'isFailureResult'",
  excludedErrors: "does not apply to routes: return false from 'isFailureResult' for them",
};

/**
 * The default failure rule of {@linkcode routeCircuitBreaker}: a response
 * with status 5xx (returned, or made by `onError` from a thrown error, or a
 * route timeout's 504), or a thrown error — except an `HTTPException` with a
 * status below 500, which is the client's fault, like a returned 4xx.
 *
 * @example Count 429 as a failure too
 * ```ts
 * import { defaultIsFailureResult, routeCircuitBreaker } from "edge-resilience/hono";
 *
 * routeCircuitBreaker({
 *   isFailureResult: (res, err) => res.status === 429 || defaultIsFailureResult(res, err),
 * });
 * ```
 */
export function defaultIsFailureResult(response: Response, error: Error | undefined): boolean {
  if (response.status >= 500) return true;
  return error !== undefined && !(error instanceof HTTPException && error.status < 500);
}

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

/** Thrown inside the breaker to record a failing response; never escapes. Built once. */
const FAILED_RESPONSE = { failedResponse: true };
/**
 * Thrown inside the breaker instead when the request failed because its client
 * went away: excluded (`isFailure`), so it counts as neither failure nor success.
 */
const CLIENT_GONE = { clientGone: true };
const notClientGone = (e: unknown) => e !== CLIENT_GONE;

/**
 * Whether the client of `c` has gone: the request's signal aborted, or the
 * route's `c.var.signal` aborted for a reason other than a deadline (a route
 * timeout follows the client's signal). Read on the failure path only: reading
 * the request's signal costs an `AbortController` on some servers.
 */
/** Keys longer than this (or with control characters) are shortened (see {@linkcode safeKey}). */
const MAX_KEY = 200;
// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * A per-key breaker's key as it may appear in names, logs, `/health` and store
 * keys: unchanged when short and printable; otherwise its first 64 characters
 * with control characters replaced, plus a hash of the whole key (so distinct
 * keys stay distinct). A key taken from a request can then neither forge log
 * lines nor make one breaker's name megabytes long.
 */
export function safeKey(k: string): string {
  UNPRINTABLE.lastIndex = 0;
  if (k.length <= MAX_KEY && !UNPRINTABLE.test(k)) return k;
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  return `${k.slice(0, 64).replace(UNPRINTABLE, "?")}…#${(h >>> 0).toString(16).padStart(8, "0")}`;
}

function clientGone(c: Context): boolean {
  if (c.req.raw.signal?.aborted) return true;
  const s = c.get("signal") as AbortSignal | undefined;
  return s?.aborted === true && !(s.reason instanceof ResilienceTimeoutError);
}
type Guarded = (c: Context, next: Next) => Promise<void>;
interface Guard {
  breaker: CircuitBreaker;
  run: Guarded;
}

/** @internal What the health handler reads of a route middleware. */
export const ROUTE_GROUP: unique symbol = Symbol("edge-resilience.route-group");

/** @internal The circuits of one route middleware (or of every one sharing a `name`). */
export class RouteGroup {
  readonly name: string;
  readonly maxKeys: number;
  /** Whether keys are route patterns (the default `key`), so the app's routes name them. */
  readonly routeKeys: boolean;
  /** With a store: where the circuits are shared, and how to read them. */
  readonly shared:
    | { store: SharedStore; prefix: string; config: SharedConfig; timeout: number; ttl: number }
    | undefined;
  /** Requests served without a breaker because every kept breaker mattered. */
  unguarded = 0;
  /** Requests served without a breaker because their key could not have one. */
  badKeys = 0;
  readonly #guards = new Map<string, Guard>();
  #newest: Guard | undefined;
  #fullUntil = -Infinity;
  readonly #make: (key: string) => Guard;
  readonly clock: Clock;
  readonly #options: RouteCircuitBreakerOptions;

  constructor(name: string, o: RouteCircuitBreakerOptions, make: (key: string) => Guard) {
    this.name = name;
    this.#options = o;
    this.#make = make;
    this.clock = o.clock ?? systemClock;
    this.maxKeys = checkNumber(W, "maxKeys", o.maxKeys, 1000, 1, {
      integer: true,
      max: 10_000_000,
    });
    this.routeKeys = o.key === undefined;
    // One source for the configuration: the same the breakers send with their own store
    // operations (settings.ts), and the same store timeout and refresh (link_options.ts).
    const link = o.store ? linkSettings(W, o.storeOptions) : undefined;
    this.shared = o.store && link
      ? {
        store: o.store,
        prefix: o.storeKey ?? "route",
        config: sharedConfig(settingsFor(o as CircuitBreakerOptions), link.timeout),
        timeout: link.timeout,
        ttl: link.refresh,
      }
      : undefined;
  }

  breaker(key: string): CircuitBreaker | undefined {
    return this.#guards.get(key)?.breaker;
  }

  breakers(): CircuitBreaker[] {
    return [...this.#guards.values()].map((g) => g.breaker);
  }

  keys(): string[] {
    return [...this.#guards.keys()];
  }

  /** The guard of `key`, made (and the least useful one dropped) if needed; undefined: unguarded. */
  get(key: string, c: Context): Guard | undefined {
    const guards = this.#guards;
    let g = guards.get(key);
    if (g) {
      if (g !== this.#newest) {
        // Least recently used order is the map's order: move the key to the end.
        guards.delete(key);
        guards.set(key, g);
        this.#newest = g;
      }
      return g;
    }
    if (guards.size >= this.maxKeys && !this.#evict(c)) {
      if (this.unguarded++ === 0) {
        (this.#options.logger ?? getDefaultLogger()).warn(
          `routeCircuitBreaker '${this.name}': all ${this.maxKeys} breakers (maxKeys) are OPEN; ` +
            `new keys run without a breaker`,
          { name: this.name, maxKeys: this.maxKeys },
        );
      }
      return undefined;
    }
    try {
      g = this.#make(key);
    } catch (error) {
      // A key the store cannot hold (too long, invalid): served without a breaker, said once.
      if (this.badKeys++ === 0) {
        (this.#options.logger ?? getDefaultLogger()).warn(
          `routeCircuitBreaker '${this.name}': key '${key.slice(0, 60)}' runs without a ` +
            `breaker (${String(error)})`,
          { name: this.name, error },
        );
      }
      return undefined;
    }
    guards.set(key, g);
    this.#newest = g;
    return g;
  }

  /**
   * Drops the least recently used CLOSED breaker, else the oldest OPEN one whose
   * reset timeout has passed with no trial running. False when none can go.
   */
  #evict(c: Context): boolean {
    const now = this.clock.now();
    if (now < this.#fullUntil) return false;
    let due: string | undefined;
    let soonest = Infinity;
    for (const [key, g] of this.#guards) {
      const b = g.breaker;
      const state = b.state;
      if (state === CircuitState.CLOSED) return this.#drop(key, g, c);
      if (state === CircuitState.HALF_OPEN) {
        if (due === undefined && b.getStats().halfOpenInFlight === 0) due = key;
      } else soonest = Math.min(soonest, b.getTimeUntilReset());
    }
    if (due !== undefined) return this.#drop(due, this.#guards.get(due)!, c);
    // Nothing can go: do not scan again before an OPEN one is due (at most 1 s: trials settle).
    this.#fullUntil = now + Math.min(soonest, 1000);
    return false;
  }

  #drop(key: string, g: Guard, c: Context): true {
    this.#guards.delete(key);
    if (this.shared) waitUntil(c, g.breaker.flush()); // outcomes not yet reported
    return true;
  }

  /** The options another middleware must match to share this group. */
  get options(): RouteCircuitBreakerOptions {
    return this.#options;
  }
}

const W = "routeCircuitBreaker";

/** Groups shared by an explicit `name`, process-wide. */
const named = new Map<string, RouteGroup>();
/** Which circuit configuration claimed each store key prefix of each store, in this process. */
const claims = new WeakMap<SharedStore, Map<string, RouteCircuitBreakerOptions>>();
/** Every route middleware's group, for `healthHandler({ breakers: true })` (weakly held). */
const live = new Set<{ deref(): RouteGroup | undefined }>();
let liveAtLastPrune = 0;

/** @internal The live route groups of this process (those of dropped apps are collected). */
export function liveRouteGroups(): RouteGroup[] {
  const out: RouteGroup[] = [];
  for (const ref of live) {
    const g = ref.deref();
    if (g) out.push(g);
    else live.delete(ref);
  }
  liveAtLastPrune = live.size;
  return out;
}

function track(group: RouteGroup): void {
  const Ref = (globalThis as {
    WeakRef?: new (g: RouteGroup) => { deref(): RouteGroup | undefined };
  }).WeakRef;
  live.add(Ref ? new Ref(group) : { deref: () => group });
  if (live.size > 2 * liveAtLastPrune + 64) liveRouteGroups();
}

/** Options whose values two middlewares sharing a circuit must agree on. */
const COMPARED = NAMES.filter((n) => n !== "name" && n !== "storeOptions");
const STORE_COMPARED = [
  "failureThreshold",
  "failureRateThreshold",
  "windowCalls",
  "windowDuration",
  "windowBuckets",
  "minimumThroughput",
  "slowCallDuration",
  "slowCallRateThreshold",
  "maxResetTimeout",
  "resetTimeout",
  "halfOpenMaxCalls",
] as const;

function show(v: unknown): string {
  return typeof v === "function" ? `function ${v.name || "(anonymous)"}` : String(v);
}

function storeOptionsDiffer(a: RouteCircuitBreakerOptions, b: RouteCircuitBreakerOptions) {
  const sa = (a.storeOptions ?? {}) as Record<string, unknown>;
  const sb = (b.storeOptions ?? {}) as Record<string, unknown>;
  const keys = new Set([...Object.keys(sa), ...Object.keys(sb)]);
  return [...keys].some((k) => sa[k] !== sb[k]);
}

function differences(
  a: RouteCircuitBreakerOptions,
  b: RouteCircuitBreakerOptions,
  names: readonly string[],
): string[] {
  const out: string[] = [];
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of names) {
    if (ra[k] !== rb[k]) out.push(`${k}: ${show(ra[k])} vs ${show(rb[k])}`);
  }
  if (storeOptionsDiffer(a, b)) out.push("storeOptions differ");
  return out;
}

/** Refuses a store key prefix already used in this process with another circuit configuration. */
function claim(store: SharedStore, prefix: string, o: RouteCircuitBreakerOptions): void {
  let m = claims.get(store);
  if (!m) claims.set(store, m = new Map());
  const found = m.get(prefix);
  if (!found) {
    m.set(prefix, o);
    return;
  }
  const diff = differences(found, o, STORE_COMPARED);
  if (diff.length) {
    throw new TypeError(
      `${W}: store key prefix '${prefix}' is used in this store with other options (${
        diff.join("; ")
      }): give each its own 'storeKey'`,
    );
  }
}

/**
 * A circuit breaker for routes: one breaker per route (or per `key`), held
 * by this middleware, so two apps configuring the same route each have their
 * own. A 5xx response or a thrown error (not a 4xx `HTTPException`) counts
 * as a failure ({@linkcode defaultIsFailureResult}; replace it with
 * `isFailureResult`); while the breaker is open (or half-open with every
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
 * open durations (`maxResetTimeout`). `isFailureResult` decides what a
 * failure is for all of them.
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
    isFailureResult = defaultIsFailureResult,
    fallback,
    name: _name,
    maxKeys: _maxKeys,
    storeKey: _storeKey,
    ...breakerOptions
  } = options;
  checkFunction(W, "key", key);
  checkFunction(W, "isFailureResult", isFailureResult);
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
  circuitBreaker({ ...breakerOptions, ...(options.store ? { storeKey: `${prefix}:setup` } : {}) });
  if (options.store) claim(options.store, prefix, options);

  const countAborts = breakerOptions.countCallerAborts === true;
  const guard = async (c: Context, next: Next) => {
    await next();
    if (isFailureResult(c.res, c.error)) {
      // The client's own cancellation is not a failure of the route (unless counted).
      throw !countAborts && clientGone(c) ? CLIENT_GONE : FAILED_RESPONSE;
    }
  };
  const make = (k: string): Guard => {
    // Not registered: each middleware holds its own breakers. An unnamed breaker takes
    // the name of the first function it wraps, so the guard is wrapped under the name.
    const label = `${name}:${k}`;
    const breaker = circuitBreaker({
      ...breakerOptions,
      isFailure: notClientGone,
      ...(options.store ? { storeKey: `${prefix}:${k}` } : {}),
    });
    const fn = { [label]: (c: Context, n: Next) => guard(c, n) }[label];
    return { breaker, run: breaker(fn) };
  };
  const group = new RouteGroup(name, options, make);
  // A user's key comes from the request: bounded and printable before it names a breaker.
  const keyOf = key
    ? (c: Context) => safeKey(key(c))
    : (c: Context) => `${c.req.method} ${routePath(c, -1)}`;
  (group as unknown as { run: MiddlewareHandler }).run = async (c, next) => {
    const g = group.get(keyOf(c), c);
    if (!g) return await next();
    try {
      await g.run(c, next);
    } catch (e) {
      if (group.shared) waitUntil(c, g.breaker.flush());
      // The failing response goes out as it is (to a client that may have gone).
      if (e === FAILED_RESPONSE || e === CLIENT_GONE) return;
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
    breakerName: { value: group.name },
    breaker: { value: (k: string) => group.breaker(k) },
    breakers: { value: () => group.breakers() },
    [ROUTE_GROUP]: { value: group },
  });
  return mw;
}
