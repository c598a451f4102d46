// Which circuits an endpoint reports (`healthHandler`, `statusPage`): the
// registered breakers and the route middlewares' circuits (those of an app,
// when given, read from the store even before this isolate served them).
import { type CircuitBreaker, listCircuitBreakers } from "../circuit_breaker.ts";
import { standalone } from "../live_policies.ts";
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

/** What both endpoints read to find circuits. */
export interface CircuitSourceOptions {
  breakers?: boolean | readonly unknown[];
  /** With `breakers: true`, also the breakers outside the registry (unnamed ones) alive now. */
  unregistered?: boolean;
  app?: { readonly routes: readonly AppRoute[] };
}

const HANDLER_OF_SUB_APP = "__COMPOSED_HANDLER"; // Hono's key for a sub-app's wrapped handler

export function groupOf(handler: unknown): RouteGroup | undefined {
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

/** The breakers and route middlewares (with their route keys) to report. */
export function circuitSources(
  options: CircuitSourceOptions,
): { plain: CircuitBreaker[]; groups: Map<RouteGroup, Set<string>> } {
  const b = options.breakers!;
  const groups = new Map<RouteGroup, Set<string>>();
  const plain: CircuitBreaker[] = [];
  const fromApp = options.app ? appGroups(options.app) : undefined;
  if (b === true) {
    plain.push(...listCircuitBreakers());
    if (options.unregistered) {
      const named = new Set(plain);
      for (const x of standalone("circuitBreaker")) {
        if (!named.has(x as CircuitBreaker)) plain.push(x as CircuitBreaker);
      }
    }
    for (const g of fromApp ? fromApp.keys() : liveRouteGroups()) groups.set(g, new Set());
  } else {
    for (const x of b as readonly unknown[]) {
      const g = groupOf(x);
      if (g) groups.set(g, new Set());
      else if (!plain.includes(x as CircuitBreaker)) plain.push(x as CircuitBreaker); // listed once
    }
  }
  for (const [g, keys] of groups) {
    for (const k of fromApp?.get(g) ?? []) keys.add(k);
    for (const k of g.keys()) keys.add(k);
  }
  return { plain, groups };
}

/** Every circuit to report, and how many of the app's could not be read. */
export async function circuits(
  options: CircuitSourceOptions,
  entryOf: (b: CircuitBreaker) => CircuitEntry,
): Promise<{ entries: CircuitEntry[]; unread: number }> {
  const { plain, groups } = circuitSources(options);
  const entries = plain.map(entryOf);
  let unread = 0;
  for (const [g, keys] of groups) {
    const r = await groupEntries(g, [...keys], entryOf);
    entries.push(...r.entries);
    unread += r.unread;
  }
  return { entries, unread };
}

/** Whether `x` can be listed in a `breakers` option: a breaker or a route middleware. */
export function isBreakerOrRoute(x: unknown): boolean {
  return groupOf(x) !== undefined || typeof (x as CircuitBreaker)?.getStats === "function";
}
