import { policies } from "../live_policies.ts";
import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { CircuitBreaker } from "./../circuit_breaker.ts";
import { systemClock } from "../clock.ts";
import { getDefaultLogger } from "../logger.ts";
import { circuitSources } from "./circuit_sources.ts";
import { problemResponse } from "./problem.ts";
import { checkOptions, type StatusPageOptions } from "./status/options.ts";
import { csp, nonce, pageHtml } from "./status/page.ts";
import {
  type BreakerAction,
  breakerId,
  hasOrdinalId,
  HealthCache,
  MAX_SEEN,
  snapshot,
  type SnapshotSource,
} from "./status/snapshot.ts";

export type { StatusPageOptions } from "./status/options.ts";
export type {
  BreakerAction,
  BreakerStatus,
  CheckStatus,
  StatusSnapshot,
} from "./status/snapshot.ts";

/**
 * The policies the event channel has seen (held weakly, see `policies()` in
 * src/telemetry.ts), shown when the `bulkheads` / `limiters` options are not
 * given: every live bulkhead, or every live rate and adaptive limiter. The
 * snapshot lists the first {@linkcode MAX_SEEN} of each kind and counts the
 * others (`omitted`); per-key limiters can be many: pass your own lists to choose.
 */
export function seenPolicies(kind: "bulkhead" | "limiter"): readonly unknown[] {
  const found = kind === "bulkhead"
    ? policies("bulkhead")
    : [...policies("rateLimiter"), ...policies("adaptiveConcurrency")];
  return found.map((p) => p.policy);
}

export { MAX_SEEN };

const ACTIONS: readonly BreakerAction["action"][] = [
  "reset",
  "open",
  "isolate",
  "isolate_fleet",
  "release",
];
/** The longest an event stream stays open (then the browser reconnects by itself). */
const STREAM_MS = 300_000;
const HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" };
const onWorkers = () =>
  (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ===
    "Cloudflare-Workers";

let isolateId: string | undefined;
/** This isolate's id: drawn on first use (Workers refuse randomness at global scope). */
function randomId(): string {
  if (!isolateId) {
    const b = crypto.getRandomValues(new Uint8Array(4));
    isolateId = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  return isolateId;
}

/**
 * Whether a POST comes from the page's own host (`Origin`, else
 * `Sec-Fetch-Site`). The scheme is not compared: behind a proxy that ends TLS
 * the server sees `http` for a page the browser loaded over `https`. An
 * `Origin` with a user part (which no browser sends) is refused.
 */
function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  if (origin === undefined) return c.req.header("sec-fetch-site") === "same-origin";
  try {
    const o = new URL(origin);
    return o.username === "" && o.password === "" && o.host === new URL(c.req.url).host;
  } catch {
    return false; // "null" (sandboxed, file:) or garbage
  }
}

const refuse = (status: number, title: string, detail: string) =>
  problemResponse({ title, status, detail }, HEADERS);

/**
 * A live status page for operators, as a Hono app to mount with
 * `app.route(path, statusPage(options))`:
 *
 * - `GET <path>`: one HTML page (no external asset, a strict
 *   Content-Security-Policy with a nonce for its one script and style)
 *   showing every circuit breaker — state as text, failures and the failure
 *   rate with a chart accumulated in the page, a live countdown to the next
 *   trial, probes in flight, whether the state comes from this instance or
 *   the store and whether the store is available, the last transition and
 *   its reason — and bulkheads, rate limiters (totals, never keys), adaptive
 *   limiters and health checks, with the instance that answered;
 * - `GET <path>/json`: the same as a {@linkcode StatusSnapshot}
 *   (`cache-control: no-store`), for dashboards;
 * - `GET <path>/events`: Server-Sent Events (`event: status`, one snapshot
 *   per `interval`), what the page listens to — it polls `/json` when the
 *   stream fails, and by default on Workers, where an open stream holds a
 *   request;
 * - `POST <path>/action` (only with `authorize`): `{ breaker, action }` (`breaker`: the circuit's `id`
 *   in the snapshot, unambiguous even for breakers sharing a name), with
 *   `action` one of `reset`, `open` (with a store both act on the shared
 *   circuit, i.e. the fleet), `isolate` (this instance), `isolate_fleet`
 *   (every instance, needs a store) and `release` (a hold made here). Refused
 *   (403) unless from the page's own host (the `Origin` header's host; the
 *   scheme is not compared, for pages behind a TLS proxy) and `authorize(c)`
 *   returns true; the page shows
 *   the buttons only then, each saying what it acts on.
 *
 * Read-only by default. Failing checks' messages and details are hidden
 * unless `exposeErrors`. Each instance answers with its own counters (on
 * Workers: its isolate's), so the page says which one answered; circuits of
 * routes shared through a store are read from the store.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { HealthCheck } from "edge-resilience";
 * import { routeCircuitBreaker, statusPage } from "edge-resilience/hono";
 *
 * const app = new Hono();
 * app.get("/api", routeCircuitBreaker({ failureThreshold: 3 }), (c) => c.text("ok"));
 * app.route(
 *   "/status",
 *   statusPage({
 *     app,
 *     health: new HealthCheck({ version: "1.0.0" }),
 *     // Actions for operators only (here: a shared secret header).
 *     authorize: (c) => c.req.header("x-operator-token") === "secret",
 *   }),
 * );
 * const res = await app.request("/status/json");
 * console.log((await res.json()).breakers); // [] until a request made the route's breaker
 * ```
 */
export function statusPage(options: StatusPageOptions = {}): Hono {
  const { maxBreakers, interval } = checkOptions(options);
  const clock = options.clock ?? systemClock;
  const live = options.live ?? (onWorkers() ? "poll" : "sse");
  const held = new Map<string, { release: () => void; scope: "instance" | "fleet" }>();
  const src: SnapshotSource = {
    options,
    maxBreakers,
    instance: () => options.instance ?? randomId(),
    clock,
    health: options.health ? new HealthCache(options.health, clock) : undefined,
    bulkheads: () => options.bulkheads ?? seenPolicies("bulkhead"),
    limiters: () => options.limiters ?? seenPolicies("limiter"),
    holds: (id) => held.get(id)?.scope,
  };
  const allowed = async (c: Context): Promise<boolean> => {
    if (!options.authorize) return false;
    try {
      return (await options.authorize(c)) === true;
    } catch {
      return false; // fail closed
    }
  };

  const page = new Hono();
  page.get("/", async (c) => {
    const n = nonce();
    const initial = await snapshot(src, await allowed(c));
    const base = c.req.path.replace(/\/+$/, "");
    return c.html(pageHtml({ nonce: n, base, live, interval, initial }), 200, {
      ...HEADERS,
      "content-security-policy": csp(n),
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    });
  });
  page.get("/json", async (c) => c.json(await snapshot(src, await allowed(c)), 200, HEADERS));
  page.get("/events", async (c) => {
    const actions = await allowed(c);
    const res = streamSSE(c, async (stream) => {
      let wake: (() => void) | undefined;
      stream.onAbort(() => wake?.());
      const last = Math.ceil(STREAM_MS / interval);
      for (let n = 0; n < last && !stream.aborted; n++) {
        const data = JSON.stringify(await snapshot(src, actions));
        if (stream.aborted) break;
        try {
          await stream.writeSSE({
            event: "status",
            data,
            id: String(n),
            ...(n === 0 ? { retry: interval } : {}),
          });
        } catch {
          break; // the client went away mid-write
        }
        if (stream.aborted) break; // it left while the write was pending
        await new Promise<void>((resolve) => {
          const done = () => {
            clock.clearTimeout(t);
            wake = undefined;
            resolve();
          };
          const t = clock.setTimeout(done, interval);
          wake = done;
        });
      }
    });
    res.headers.set("cache-control", "no-store");
    return res;
  });
  if (options.authorize) {
    page.post("/action", async (c) => {
      if (!sameOrigin(c)) return refuse(403, "Forbidden", "cross-origin request refused");
      if (!(await allowed(c))) return refuse(403, "Forbidden", "not authorized");
      if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
        return refuse(415, "Unsupported Media Type", "send application/json");
      }
      let body: { breaker?: unknown; action?: unknown };
      try {
        body = await c.req.json();
      } catch {
        return refuse(400, "Bad Request", "the body must be JSON");
      }
      const id = body?.breaker;
      const action = body?.action as BreakerAction["action"];
      if (typeof id !== "string" || !ACTIONS.includes(action)) {
        return refuse(
          400,
          "Bad Request",
          `expected { breaker: string, action: ${ACTIONS.join(" | ")} }`,
        );
      }
      const b = find(id, c);
      if (!b) return refuse(404, "Not Found", "no such circuit on this page");
      const shared = b.getStats().storeAvailable !== undefined;
      const result = perform(b, id, action, shared);
      if (typeof result === "string") return refuse(409, "Conflict", result);
      if (shared) await b.flush();
      getDefaultLogger().info(
        `statusPage: ${action} of circuit '${id}' (${result.scope}): ${result.message}`,
        { name: b.name, id, action, scope: result.scope },
      );
      return c.json({ breaker: id, action, ...result, state: b.state }, 200, HEADERS);
    });
  }
  return page;

  /** The breaker of page id `name` (see `breakerId`): unambiguous, or none. */
  function find(name: string, c: Context): CircuitBreaker | undefined {
    if (options.breakers === false) return undefined;
    const { plain, groups } = circuitSources({
      breakers: options.breakers ?? true,
      app: options.app,
      unregistered: true,
    });
    for (const b of plain) if (breakerId(b) === name) return b;
    // An ordinal id (`name#n`): a breaker sharing its name, wherever it is listed.
    if (/#\d+$/.test(name)) {
      for (const g of groups.keys()) {
        for (const b of g.breakers()) if (hasOrdinalId(b, name)) return b;
      }
      return undefined;
    }
    for (const [g, keys] of groups) {
      if (!name.startsWith(`${g.name}:`)) continue;
      const key = name.slice(g.name.length + 1);
      const mine = g.breaker(key);
      if (mine) return mine;
      // A shared circuit of the app this instance has not served yet: act through a breaker.
      if (g.shared && keys.has(key)) return g.get(key, c)?.breaker;
    }
    return undefined;
  }

  function perform(
    b: CircuitBreaker,
    id: string,
    action: BreakerAction["action"],
    shared: boolean,
  ): { scope: "instance" | "fleet"; message: string } | string {
    const fleet = shared ? "fleet" : "instance";
    const everywhere = shared ? " (every instance follows within its refresh interval)" : "";
    switch (action) {
      case "open":
        b.open();
        return {
          scope: fleet,
          message: `opened ${shared ? "the shared circuit" : "here"}${everywhere}`,
        };
      case "reset":
        held.delete(id);
        b.reset();
        return {
          scope: fleet,
          message: `closed ${shared ? "the shared circuit" : "here"}, isolation ended${everywhere}`,
        };
      case "isolate":
      case "isolate_fleet": {
        if (held.has(id)) return "already isolated from this page: release it first";
        const scope = action === "isolate" ? "instance" : "fleet";
        if (scope === "fleet" && !shared) {
          return "isolate_fleet needs a circuit shared through a store";
        }
        held.set(id, { release: b.isolate({ scope }), scope });
        return {
          scope,
          message: scope === "fleet"
            ? "held OPEN on every instance until released or reset"
            : "held OPEN on this instance only until released or reset",
        };
      }
      case "release": {
        const h = held.get(id);
        if (!h) return "no isolation made from this page on this instance";
        held.delete(id);
        h.release();
        return { scope: h.scope, message: "released: trial calls decide" };
      }
    }
  }
}
