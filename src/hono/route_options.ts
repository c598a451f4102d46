import type { Context } from "hono";
import type { CircuitBreakerOptions } from "../circuit_breaker.ts";
import type { CircuitOpenError } from "../errors.ts";
import type { SharedStore } from "../shared/port.ts";
import { optionNames } from "../validate.ts";

/** The factory's name, in its errors and log lines. */
export const W = "routeCircuitBreaker";

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
   * Whether a response counts as a failure (as `circuitBreaker`'s
   * `isFailureResult` judges a returned value): the handler's, or one made by
   * `routeTimeout`. Default: status 500 or more. Not asked when the handler
   * threw (then `isFailure` decides).
   */
  isFailureResult?: (response: Response) => boolean;
  /**
   * Whether an error the handler threw counts as a failure (as
   * `circuitBreaker`'s `isFailure`), whatever response `app.onError` made of
   * it. Default: every error but an `HTTPException` with a status below 500
   * (the client's fault, like a returned 4xx). An error it refuses counts as
   * a success.
   */
  isFailure?: (error: unknown) => boolean;
  /**
   * The answer while the breaker rejects calls. Default: 503 with
   * `Retry-After` (whole seconds until reset) and an RFC 9457 problem body.
   */
  fallback?: (c: Context, error: CircuitOpenError) => Response | Promise<Response>;
}

export const NAMES = optionNames<RouteCircuitBreakerOptions>({
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
  isFailure: 1,
  fallback: 1,
});

/** Options of earlier versions, refused with what to use instead. */
export const RENAMED: Record<string, string> = {
  excludedErrors: "does not apply to routes: return false from 'isFailure' for them",
};

/** Which circuit configuration claimed each store key prefix of each store, in this process. */
const claims = new WeakMap<SharedStore, Map<string, RouteCircuitBreakerOptions>>();

/** Options whose values two middlewares sharing a circuit must agree on. */
export const COMPARED = NAMES.filter((n) => n !== "name" && n !== "storeOptions");
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

export function differences(
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
export function claim(store: SharedStore, prefix: string, o: RouteCircuitBreakerOptions): void {
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
