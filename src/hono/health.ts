import type { Context, Handler } from "hono";
import { type CircuitBreaker, listCircuitBreakers } from "../circuit_breaker.ts";
import { CircuitState, HealthStatus } from "../circuit_state.ts";
import { type CheckOutcome, type HealthCheck, SystemHealth } from "../health_check.ts";
import {
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "../validate.ts";
import type { RouteCircuitBreaker } from "./circuit_breaker.ts";
import { liveRouteGroups, ROUTE_GROUP, type RouteGroup } from "./route_group.ts";
import { type CircuitEntry, groupEntries } from "./shared_circuits.ts";

/**
 * A route of a Hono app, as listed in `app.routes` (what the `app` option of
 * {@linkcode healthHandler} reads).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import type { AppRoute } from "edge-resilience/hono";
 *
 * const routes: readonly AppRoute[] = new Hono().get("/x", (c) => c.text("x")).routes;
 * ```
 */
export interface AppRoute {
  /** `"GET"`, … or `"ALL"` (middleware added with `use`). */
  readonly method: string;
  /** The route's path pattern. */
  readonly path: string;
  /** The handler or middleware. */
  readonly handler: unknown;
}

/** Options of {@linkcode healthHandler}. */
export interface HealthHandlerOptions {
  /**
   * Response format: `"seed"` (the `toDict()` JSON), `"health+json"` (IETF
   * draft, `application/health+json`), or `"negotiate"` (default):
   * health+json when the request's `Accept` prefers it (q-values count:
   * `application/health+json;q=0` refuses it), else seed.
   */
  format?: "seed" | "health+json" | "negotiate";
  /**
   * Show the messages and the details of failing checks. Hidden by default:
   * error texts and details (a DSN, a host name) may leak internals.
   */
  exposeErrors?: boolean;
  /**
   * Report circuit breakers: `true` for every registered breaker and the
   * breakers of every `routeCircuitBreaker` (those of `app` only, when given),
   * or a list of breakers and route middlewares. An OPEN or HALF_OPEN
   * breaker is reported as degraded / warn, never unhealthy: one upstream
   * being down must not fail the readiness of the whole fleet. Counts per
   * state cover all of them; the list is capped by `maxBreakers`.
   */
  breakers?: boolean | readonly (CircuitBreaker | RouteCircuitBreaker)[];
  /**
   * The Hono app: its route middlewares are the ones reported with
   * `breakers: true`, and with a store the circuits of its routes are read
   * from the store even before this isolate served them (after a restart).
   */
  app?: { readonly routes: readonly AppRoute[] };
  /**
   * Most breakers listed one by one (default 50): OPEN first, then
   * HALF_OPEN, then CLOSED. The `circuits` summary says how many were left out.
   */
  maxBreakers?: number;
  /** `serviceId` of the health+json document. */
  serviceId?: string;
  /** `description` of the health+json document. */
  description?: string;
}

const NAMES = optionNames<HealthHandlerOptions>({
  format: 1,
  exposeErrors: 1,
  breakers: 1,
  app: 1,
  maxBreakers: 1,
  serviceId: 1,
  description: 1,
});

/**
 * The `circuits` member of a health response: counts of the reported
 * circuits per state, and how many were listed.
 *
 * @example
 * ```ts
 * import type { CircuitSummary } from "edge-resilience/hono";
 *
 * const s: CircuitSummary = {
 *   total: 3, closed: 2, open: 1, half_open: 0, listed: 3, omitted: 0, unread: 0,
 * };
 * ```
 */
export interface CircuitSummary {
  /** Circuits reported. */
  total: number;
  /** Of those, CLOSED. */
  closed: number;
  /** Of those, OPEN. */
  open: number;
  /** Of those, HALF_OPEN (or OPEN past its reset timeout). */
  half_open: number;
  /** Listed one by one in `checks`. */
  listed: number;
  /** Left out of `checks` (`maxBreakers`), CLOSED ones first. */
  omitted: number;
  /** Circuits of the app not read from the store in this request (read in later ones). */
  unread: number;
}

const TO_IETF: Record<HealthStatus, "pass" | "warn" | "fail"> = {
  healthy: "pass",
  degraded: "warn",
  unhealthy: "fail",
  unknown: "warn",
};

function entryOf(b: CircuitBreaker): CircuitEntry {
  const s = b.getStats();
  return {
    name: b.name,
    state: s.state,
    failureCount: s.failureCount,
    timeUntilReset: s.timeUntilReset,
    ...(s.storeAvailable !== undefined ? { storeAvailable: s.storeAvailable } : {}),
    source: "local",
  };
}

function checkOf(e: CircuitEntry): CheckOutcome {
  const closed = e.state === CircuitState.CLOSED;
  return {
    name: `circuit:${e.name}`,
    status: closed ? HealthStatus.HEALTHY : HealthStatus.DEGRADED,
    critical: false,
    message: closed ? null : `circuit ${e.state}`,
    latencyMs: 0,
    details: {
      state: e.state,
      failureCount: e.failureCount,
      timeUntilReset: e.timeUntilReset,
      ...(e.storeAvailable !== undefined ? { storeAvailable: e.storeAvailable } : {}),
      ...(e.source === "store" ? { source: "store" } : {}),
    },
  };
}

const HANDLER_OF_SUB_APP = "__COMPOSED_HANDLER"; // Hono's key for a sub-app's wrapped handler

function groupOf(handler: unknown): RouteGroup | undefined {
  const h = handler as Record<string | symbol, unknown> | null | undefined;
  const g = h?.[ROUTE_GROUP] ??
    (h?.[HANDLER_OF_SUB_APP] as Record<symbol, unknown> | undefined)?.[ROUTE_GROUP];
  return g as RouteGroup | undefined;
}

/** Whether Hono path pattern `mount` (a middleware's) covers route path `path`, by segment. */
function covers(mount: string, path: string): boolean {
  if (mount === path || mount === "*" || mount === "/*") return true;
  const m = mount.split("/");
  const p = path.split("/");
  for (let i = 0; i < m.length; i++) {
    const seg = m[i];
    if (seg === "*" && i === m.length - 1) return true; // a trailing wildcard: the rest, or none
    if (i >= p.length) return false;
    if (seg === "*" || seg.startsWith(":")) continue; // any one segment
    if (seg !== p[i]) return false;
  }
  return m.length === p.length;
}

/** The route middlewares of `app`, each with the route keys (`"GET /x"`) it guards. */
function appGroups(app: { routes: readonly AppRoute[] }): Map<RouteGroup, Set<string>> {
  const out = new Map<RouteGroup, Set<string>>();
  const mounts: { group: RouteGroup; method: string; path: string }[] = [];
  for (const r of app.routes) {
    const g = groupOf(r.handler);
    if (g) {
      mounts.push({ group: g, method: r.method, path: r.path });
      if (!out.has(g)) out.set(g, new Set());
    }
  }
  for (const r of app.routes) {
    if (r.method === "ALL" || groupOf(r.handler)) continue;
    for (const m of mounts) {
      if (
        m.group.routeKeys && (m.method === "ALL" || m.method === r.method) &&
        covers(m.path, r.path)
      ) {
        const keys = out.get(m.group)!;
        if (keys.size < m.group.maxKeys) keys.add(`${r.method} ${r.path}`);
      }
    }
  }
  return out;
}

/** Every circuit to report, and how many of the app's could not be read. */
async function circuits(
  options: HealthHandlerOptions,
): Promise<{ entries: CircuitEntry[]; unread: number }> {
  const b = options.breakers!;
  const groups = new Map<RouteGroup, Set<string>>();
  const plain: CircuitBreaker[] = [];
  const fromApp = options.app ? appGroups(options.app) : undefined;
  if (b === true) {
    plain.push(...listCircuitBreakers());
    for (const g of fromApp ? fromApp.keys() : liveRouteGroups()) groups.set(g, new Set());
  } else {
    for (const x of b as readonly unknown[]) {
      const g = groupOf(x);
      if (g) groups.set(g, new Set());
      else plain.push(x as CircuitBreaker);
    }
  }
  const entries = plain.map(entryOf);
  let unread = 0;
  for (const [g, keys] of groups) {
    for (const k of fromApp?.get(g) ?? []) keys.add(k);
    for (const k of g.keys()) keys.add(k);
    const r = await groupEntries(g, [...keys], entryOf);
    entries.push(...r.entries);
    unread += r.unread;
  }
  return { entries, unread };
}

const RANK: Record<string, number> = { open: 0, half_open: 1, closed: 2 };

/**
 * Runs the checks (plus breakers if asked) and applies the handler's
 * options: the result the endpoint serves, and the circuits' summary.
 */
async function evaluate(
  health: HealthCheck,
  options: HealthHandlerOptions,
  maxBreakers: number,
  signal: AbortSignal,
): Promise<{ result: SystemHealth; summary: CircuitSummary | undefined }> {
  const r = await health.runAll(signal);
  let checks = r.checks.slice();
  let status = r.status;
  let summary: CircuitSummary | undefined;
  if (options.breakers) {
    const { entries, unread } = await circuits(options);
    const count = { closed: 0, open: 0, half_open: 0 };
    for (const e of entries) count[e.state]++;
    // Open first, then half-open, then closed (stable within a state); capped.
    const listed = entries.length <= maxBreakers
      ? entries
      : entries.slice().sort((a, b) => RANK[a.state] - RANK[b.state]).slice(0, maxBreakers);
    checks = checks.concat(listed.map(checkOf));
    summary = {
      total: entries.length,
      ...count,
      listed: listed.length,
      omitted: entries.length - listed.length,
      unread,
    };
    if (status === HealthStatus.UNKNOWN && entries.length) status = HealthStatus.HEALTHY;
    if (status === HealthStatus.HEALTHY && (count.open || count.half_open)) {
      status = HealthStatus.DEGRADED;
    }
  }
  if (!options.exposeErrors) {
    checks = checks.map((c) =>
      c.status === HealthStatus.UNHEALTHY && (c.message !== null || Object.keys(c.details).length)
        ? { ...c, message: c.message === null ? null : "check failed", details: {} }
        : c
    );
  }
  return {
    result: new SystemHealth(status, checks, r.version, r.uptimeSeconds, r.timestamp),
    summary,
  };
}

function healthJson(
  h: SystemHealth,
  summary: CircuitSummary | undefined,
  options: HealthHandlerOptions,
): unknown {
  const checks: Record<string, unknown[]> = {};
  for (const c of h.checks) {
    const isBreaker = c.name.startsWith("circuit:");
    checks[isBreaker ? `${c.name.slice(8)}:circuit` : `${c.name}:responseTime`] = [{
      componentId: isBreaker ? c.name.slice(8) : c.name,
      componentType: "component",
      observedValue: isBreaker ? c.details.state : c.latencyMs,
      ...(isBreaker ? {} : { observedUnit: "ms" }),
      status: TO_IETF[c.status],
      time: h.timestamp,
      ...(c.message !== null ? { output: c.message } : {}),
    }];
  }
  const notes: string[] = [];
  if (h.status === HealthStatus.UNKNOWN) notes.push("no health checks registered");
  if (summary && (summary.omitted || summary.unread)) notes.push(summaryNote(summary));
  return {
    status: TO_IETF[h.status],
    version: h.version,
    ...(options.serviceId ? { serviceId: options.serviceId } : {}),
    ...(options.description ? { description: options.description } : {}),
    ...(notes.length ? { notes } : {}),
    ...(summary ? { circuits: summary } : {}),
    checks,
  };
}

function summaryNote(s: CircuitSummary): string {
  return `${s.total} circuits (${s.open} open, ${s.half_open} half-open, ${s.closed} closed): ` +
    `${s.listed} listed, ${s.omitted} left out` +
    (s.unread ? `, ${s.unread} not read from the store yet` : "");
}

/**
 * Whether `accept` prefers health+json to plain JSON (RFC 9110 §12.5.1): each
 * type takes the q of the most specific range matching it (exact, then
 * `application/*`, then any type); health+json wins with a q above 0 and
 * above JSON's, or equal to it when named explicitly. `q=0` refuses it.
 */
function prefersHealthJson(accept: string | undefined): boolean {
  if (!accept) return false;
  let health = [-1, 0]; // [specificity, q]
  let json = [-1, 0];
  for (const part of accept.split(",")) {
    const [range, ...params] = part.split(";").map((x) => x.trim().toLowerCase());
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/.exec(p);
      if (m) q = Math.min(1, Math.max(0, Number(m[1]) || 0));
    }
    const wild = range === "application/*" ? 1 : range === "*/*" ? 0 : -1;
    const h = range === "application/health+json" ? 2 : wild;
    const j = range === "application/json" ? 2 : wild;
    if (h > health[0]) health = [h, q];
    if (j > json[0]) json = [j, q];
  }
  const [hs, hq] = health;
  const jq = json[1];
  return hq > 0 && (hq > jq || (hq === jq && hs === 2));
}

/**
 * A Hono handler serving a {@linkcode HealthCheck}: 200 when healthy,
 * degraded (or unknown: no checks), 503 when unhealthy; the seed's JSON by
 * default, or `application/health+json` (IETF draft: pass / warn / fail and
 * a `checks` map) when configured or preferred by `Accept`. Always
 * `cache-control: no-store`. With `breakers`, a `circuits` summary (counts
 * per state, listed, omitted) is added and at most `maxBreakers` are listed.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { HealthCheck } from "edge-resilience";
 * import { healthHandler } from "edge-resilience/hono";
 *
 * const health = new HealthCheck({ version: "1.2.0" });
 * health.register("kv", async () => true, { timeout: 1_000 });
 *
 * const app = new Hono();
 * app.get("/health", healthHandler(health, { breakers: true, app }));
 * ```
 */
export function healthHandler(health: HealthCheck, options: HealthHandlerOptions = {}): Handler {
  const W = "healthHandler";
  if (!health || typeof (health as HealthCheck).runAll !== "function") {
    throw new TypeError(`${W}: expected a HealthCheck`);
  }
  checkKnownOptions(W, options, NAMES);
  checkString(W, "serviceId", options.serviceId);
  checkString(W, "description", options.description);
  checkObject(W, "app", options.app);
  if (options.app && !Array.isArray(options.app.routes)) {
    throw new TypeError(`${W}: option 'app' must be a Hono app (with 'routes')`);
  }
  const maxBreakers = checkNumber(W, "maxBreakers", options.maxBreakers, 50, 0, {
    integer: true,
    max: 1_000_000,
  });
  const format = options.format ?? "negotiate";
  if (!["seed", "health+json", "negotiate"].includes(format)) {
    throw new TypeError(
      `${W}: option 'format' must be "seed", "health+json" or "negotiate", got ${String(format)}`,
    );
  }
  const b = options.breakers;
  if (
    b !== undefined && typeof b !== "boolean" &&
    !(Array.isArray(b) &&
      b.every((x) => groupOf(x) || typeof (x as CircuitBreaker)?.getStats === "function"))
  ) {
    throw new TypeError(
      `${W}: option 'breakers' must be a boolean or an array of breakers and route middlewares`,
    );
  }
  return async (c: Context) => {
    const { result, summary } = await evaluate(health, options, maxBreakers, c.req.raw.signal);
    const status = result.status === HealthStatus.UNHEALTHY ? 503 : 200;
    const ietf = format === "health+json" ||
      (format === "negotiate" && prefersHealthJson(c.req.header("accept")));
    const body = ietf
      ? healthJson(result, summary, options)
      : { ...result.toDict(), ...(summary ? { circuits: summary } : {}) };
    return new Response(JSON.stringify(body), {
      status,
      headers: {
        "content-type": ietf ? "application/health+json" : "application/json",
        "cache-control": "no-store",
      },
    });
  };
}
