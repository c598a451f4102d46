// Tests written to kill the mutants of src/hono/circuit_sources.ts that
// survived the health and status page tests (docs/mutation-testing.md): which
// circuits /health reports for an app — the routes a route middleware guards,
// by its mount pattern and method, up to maxKeys, in sub-apps too — and which
// breakers a list or `breakers: true` brings in.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { circuitBreaker, clearCircuitBreakers, HealthCheck, MemoryStore } from "../mod.ts";
import { healthHandler, routeCircuitBreaker, statusPage } from "../src/hono/mod.ts";
import { silent, test } from "./_harness.ts";

let stores = 0;
/** A store-backed route middleware: /health lists every app route it guards, served or not. */
const shared = (extra: Record<string, unknown> = {}) =>
  routeCircuitBreaker({
    store: new MemoryStore(),
    storeKey: `mut-cs-${++stores}-${Math.random().toString(36).slice(2)}`,
    logger: silent,
    ...extra,
  });

/** The circuits /health reports for `app` (served from another app, so /health is no route). */
async function reported(
  app: Hono,
  options: Parameters<typeof healthHandler>[1] = { breakers: true, app },
): Promise<string[]> {
  const h = new Hono();
  h.get("/health", healthHandler(new HealthCheck(), options));
  const res = await h.request("/health");
  assert.equal(res.status, 200);
  const body = await res.json() as { checks: { name: string }[] };
  return body.checks.map((c) => c.name).filter((n) => n.startsWith("circuit:"))
    .map((n) => n.slice("circuit:".length)).sort();
}

const ok = (c: { text(s: string): Response }) => c.text("ok");

test("circuit sources: a route middleware guards the routes its mount pattern covers, by segment", async () => {
  const table: [string, string[], string[]][] = [
    // A trailing wildcard: the rest, or nothing.
    ["/api/*", ["/api", "/api/a", "/api/a/b", "/apix", "/other", "/"], [
      "/api",
      "/api/a",
      "/api/a/b",
    ]],
    // A parameter: any one segment.
    ["/api/:id", ["/api/7", "/api/:id", "/api/7/x", "/api", "/x/7"], ["/api/7", "/api/:id"]],
    // A wildcard inside: one segment.
    ["/a/*/c", ["/a/b/c", "/a/b/d", "/a/b/c/d", "/a/c", "/x/b/c"], ["/a/b/c"]],
    ["/a/:x/c", ["/a/b/c", "/a/b", "/a/b/d"], ["/a/b/c"]],
    // A parameter, then the rest: the parameter's segment must be there.
    ["/a/:id/*", ["/a", "/a/1", "/a/1/x"], ["/a/1", "/a/1/x"]],
    ["*", ["/x", "/y/z"], ["/x", "/y/z"]],
    ["/*", ["/x", "/y/z"], ["/x", "/y/z"]],
    // Exact paths: the same segments, no more, no fewer.
    ["/x", ["/x", "/x/y", "/", "/xy"], ["/x"]],
    ["/a/b", ["/a", "/a/b", "/a/b/c", "/a/c"], ["/a/b"]],
  ];
  for (const [mount, routes, guarded] of table) {
    clearCircuitBreakers();
    const a = new Hono();
    a.use(mount, shared());
    for (const r of routes) a.get(r, ok);
    assert.deepEqual(
      await reported(a),
      guarded.map((p) => `route:GET ${p}`).sort(),
      `mounted at ${mount}`,
    );
  }
});

test("circuit sources: a route middleware given with a method guards that method's routes only", async () => {
  clearCircuitBreakers();
  const a = new Hono();
  const mw = shared();
  a.get("/m", mw, ok);
  a.post("/m", ok);
  a.get("/other", ok);
  assert.deepEqual(await reported(a), ["route:GET /m"]);
});

test("circuit sources: other middlewares and app.all routes are not listed from the app's routes", async () => {
  clearCircuitBreakers();
  const a = new Hono();
  a.use("/api/*", shared());
  a.use("/api/*", async (_c, next) => await next());
  a.all("/api/any", ok);
  a.get("/api/x", ok);
  assert.deepEqual(await reported(a), ["route:GET /api/x"]);
  // (An app.all route reads as middleware in app.routes: it is listed once served.)
  assert.equal((await a.request("/api/any", { method: "PUT" })).status, 200);
  assert.deepEqual(await reported(a), ["route:GET /api/x", "route:PUT /api/any"]);
});

test("circuit sources: at most maxKeys routes of an app are listed per middleware", async () => {
  clearCircuitBreakers();
  const a = new Hono();
  a.use("/api/*", shared({ maxKeys: 2 }));
  for (let i = 0; i < 5; i++) a.get(`/api/r${i}`, ok);
  assert.deepEqual(await reported(a), ["route:GET /api/r0", "route:GET /api/r1"]);
});

test("circuit sources: a middleware keyed by the caller (key option) lists served keys, not routes", async () => {
  clearCircuitBreakers();
  const a = new Hono();
  const mw = shared({ key: () => "tenant-a" });
  a.use("/api/*", mw);
  a.get("/api/x", ok);
  assert.deepEqual(await reported(a), []);
  assert.equal((await a.request("/api/x")).status, 200);
  assert.deepEqual(await reported(a), ["route:tenant-a"]);
});

test("circuit sources: the routes of a sub-app with its own onError are found through app.route", async () => {
  clearCircuitBreakers();
  const sub = new Hono();
  sub.onError((_e, c) => c.text("sub error", 500));
  sub.use("/*", shared());
  sub.get("/x", ok);
  const a = new Hono();
  a.route("/sub", sub);
  a.get("/top", ok);
  assert.deepEqual(await reported(a), ["route:GET /sub/x"]);
  // Listed by itself as well (the wrapped middleware is recognised).
  const mw = a.routes.find((r) => r.method === "ALL")!.handler;
  assert.deepEqual(
    await reported(a, { breakers: [mw as never], app: a }),
    ["route:GET /sub/x"],
  );
});

test("circuit sources: a list of a middleware and a breaker reports both; the app adds its routes", async () => {
  clearCircuitBreakers();
  const a = new Hono();
  const mw = shared();
  a.use("/api/*", mw);
  a.get("/api/x", ok);
  const b = circuitBreaker({ name: "mut-cs-plain", logger: silent });
  assert.deepEqual(await reported(a, { breakers: [mw, b], app: a }), [
    "mut-cs-plain",
    "route:GET /api/x",
  ]);
  // Without the app: only what it has served (nothing yet).
  assert.deepEqual(await reported(a, { breakers: [mw, b] }), ["mut-cs-plain"]);
  assert.equal((await a.request("/api/x")).status, 200);
  assert.deepEqual(await reported(a, { breakers: [mw, b] }), ["mut-cs-plain", "route:GET /api/x"]);
  // A middleware listed but not mounted in the app given: its served circuits still count.
  assert.deepEqual(await reported(a, { breakers: [mw], app: new Hono() }), ["route:GET /api/x"]);
});

test("circuit sources: breakers: true with an app reports that app's middlewares only", async () => {
  clearCircuitBreakers();
  const a = new Hono();
  a.use("/a/*", shared());
  a.get("/a/x", ok);
  const other = new Hono();
  const otherMw = shared();
  other.use("/o/*", otherMw);
  other.get("/o/x", ok);
  assert.equal((await other.request("/o/x")).status, 200);
  assert.deepEqual(await reported(a), ["route:GET /a/x"]);
  // Without an app: every live middleware's served circuits.
  // Every one listed: in one process with the other test files (Bun) more than the default 50 live.
  const all = await reported(a, { breakers: true, maxBreakers: 1_000_000 });
  assert.ok(all.includes("route:GET /o/x"), String(all));
  assert.ok(!all.includes("route:GET /a/x"), "not served, and no app to list it from");
  assert.equal(otherMw.breakers.size, 1); // (held until here: route middlewares are held weakly)
});

test("circuit sources: the status page lists a named breaker once, and unnamed ones too", async () => {
  clearCircuitBreakers();
  const named = circuitBreaker({ name: "mut-cs-named", logger: silent });
  const unnamed = circuitBreaker({ logger: silent });
  const page = new Hono();
  page.route("/status", statusPage({ authorize: () => true, maxBreakers: 1_000_000 }));
  const body = await (await page.request("/status/json")).json() as {
    breakers: { name: string }[];
  };
  const names = body.breakers.map((b) => b.name);
  assert.equal(names.filter((n) => n === "mut-cs-named").length, 1, String(names));
  assert.ok(names.includes(unnamed.name), `${unnamed.name} in ${names}`);
  assert.ok(named.getStats());
});

test("circuit sources: anything else in a breakers list is refused by name", () => {
  for (const x of [null, undefined, 5, {}, { getStats: 1 }, () => {}]) {
    assert.throws(
      () => healthHandler(new HealthCheck(), { breakers: [x] as never }),
      /^TypeError: healthHandler: option 'breakers' must be/,
      String(x),
    );
  }
});
