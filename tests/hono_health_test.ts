import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  circuitBreaker,
  clearCircuitBreakers,
  HealthCheck,
  type Logger,
  MemoryStore,
  type SharedState,
  type SharedStore,
  sharedStore,
} from "../mod.ts";
import { healthHandler, routeCircuitBreaker } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";
import { CountingStore, FaultyStore } from "./_stores.ts";

/** A health app; `app` is passed (unless given) so only this app's route breakers count. */
function appWith(health: HealthCheck, opts: Parameters<typeof healthHandler>[1] = {}) {
  const a = new Hono();
  a.get("/health", healthHandler(health, { app: a, ...opts }));
  return a;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

test("healthHandler: 200 healthy / degraded, 503 unhealthy, seed JSON, no-store", async () => {
  const h = new HealthCheck({ version: "2.0.0" });
  let db = true;
  let cache = true;
  h.register("db", () => db);
  h.register("cache", () => cache, { critical: false });
  const a = appWith(h);
  let res = await a.request("/health");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("content-type"), "application/json");
  let body = await res.json();
  assert.equal(body.status, "healthy");
  assert.deepEqual(Object.keys(body).sort(), [
    "checks",
    "status",
    "timestamp",
    "uptime_seconds",
    "version",
  ]);
  cache = false;
  res = await a.request("/health");
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "degraded");
  db = false;
  res = await a.request("/health");
  assert.equal(res.status, 503);
  body = await res.json();
  assert.equal(body.status, "unhealthy");
});

test("healthHandler: error messages are hidden unless exposeErrors", async () => {
  const h = new HealthCheck();
  h.register("db", () => {
    throw new Error("password authentication failed for user admin");
  });
  let body = await (await appWith(h).request("/health")).json();
  assert.equal(body.checks[0].message, "check failed");
  body = await (await appWith(h, { exposeErrors: true }).request("/health")).json();
  assert.match(body.checks[0].message, /password authentication/);
});

test("healthHandler: application/health+json when configured or negotiated", async () => {
  const h = new HealthCheck({ version: "1.2.3" });
  h.register("db", () => true);
  h.register("cache", () => false, { critical: false });
  const res = await appWith(h).request("/health", {
    headers: { accept: "application/health+json" },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/health+json");
  const body = await res.json();
  assert.equal(body.status, "warn");
  assert.equal(body.version, "1.2.3");
  assert.equal(body.checks["db:responseTime"][0].status, "pass");
  assert.equal(body.checks["db:responseTime"][0].observedUnit, "ms");
  assert.equal(body.checks["cache:responseTime"][0].status, "fail");
  const forced = await appWith(h, { format: "health+json", serviceId: "svc" }).request("/health");
  assert.equal((await forced.json()).serviceId, "svc");
  h.unregister("cache");
  h.register("critical", () => false);
  const failing = await appWith(h, { format: "health+json" }).request("/health");
  assert.equal(failing.status, 503);
  assert.equal((await failing.json()).status, "fail");
});

test("healthHandler: an open breaker is degraded / warn, never unhealthy", async () => {
  clearCircuitBreakers();
  const h = new HealthCheck();
  h.register("db", () => true);
  const b = circuitBreaker({ name: "payments" });
  b.open();
  let res = await appWith(h, { breakers: true }).request("/health");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "degraded");
  const check = body.checks.find((c: { name: string }) => c.name === "circuit:payments");
  assert.equal(check.status, "degraded");
  assert.equal(check.details.state, "open");
  res = await appWith(h, { breakers: [b], format: "health+json" }).request("/health");
  assert.equal(res.status, 200);
  const ietf = await res.json();
  assert.equal(ietf.status, "warn");
  assert.equal(ietf.checks["payments:circuit"][0].observedValue, "open");
  b.reset();
  assert.equal(
    (await (await appWith(h, { breakers: true }).request("/health")).json()).status,
    "healthy",
  );
});

test("healthHandler: a breaker listed twice is reported once", async () => {
  const h = new HealthCheck();
  const b = circuitBreaker({ failureThreshold: 1, logger: silent });
  b.open();
  const body = await (await appWith(h, { breakers: [b, b, b] }).request("/health")).json();
  assert.equal(body.checks.length, 1);
  assert.deepEqual(body.circuits, {
    total: 1,
    closed: 0,
    open: 1,
    half_open: 0,
    listed: 1,
    omitted: 0,
    unread: 0,
  });
});

test("healthHandler: zero checks answers 200 with status unknown (honest, not healthy)", async () => {
  const res = await appWith(new HealthCheck()).request("/health");
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "unknown");
  const ietf =
    await (await appWith(new HealthCheck(), { format: "health+json" }).request("/health")).json();
  assert.equal(ietf.status, "warn");
  assert.deepEqual(ietf.notes, ["no health checks registered"]);
});

test("healthHandler: bad options fail at setup", () => {
  assert.throws(() => healthHandler({} as never), TypeError);
  assert.throws(() => healthHandler(new HealthCheck(), { format: "xml" as never }), /'format'/);
  assert.throws(() => healthHandler(new HealthCheck(), { breakers: "all" as never }), /'breakers'/);
  assert.throws(() => healthHandler(new HealthCheck(), { serviceId: 7 as never }), /'serviceId'/);
});

test("healthHandler: details of a failing check are hidden unless exposeErrors", async () => {
  const h = new HealthCheck();
  h.register("db", () => ({
    healthy: false,
    message: "cannot connect",
    dsn: "postgres://admin:s3cret@db.internal:5432/app",
  }));
  h.register("cache", () => ({ healthy: true, connections: 4 }));
  let res = await appWith(h).request("/health");
  let text = await res.text();
  assert.ok(!text.includes("s3cret") && !text.includes("db.internal"), text);
  let body = JSON.parse(text);
  assert.deepEqual(body.checks[0].details, {});
  assert.equal(body.checks[0].message, "check failed");
  assert.deepEqual(body.checks[1].details, { connections: 4 }); // passing checks keep theirs
  res = await appWith(h, { exposeErrors: true }).request("/health");
  body = await res.json();
  assert.equal(body.checks[0].details.dsn, "postgres://admin:s3cret@db.internal:5432/app");
  assert.equal(body.checks[0].message, "cannot connect");
  text = await (await appWith(h, { format: "health+json" }).request("/health")).text();
  assert.ok(!text.includes("s3cret"), text);
});

test("healthHandler: Accept negotiation honours q-values", async () => {
  const h = new HealthCheck();
  h.register("db", () => true);
  const a = appWith(h);
  const type = async (accept: string) =>
    (await a.request("/health", { headers: { accept } })).headers.get("content-type");
  const HEALTH = "application/health+json";
  const JSON_ = "application/json";
  const cases: [string, string][] = [
    ["application/health+json;q=0", JSON_],
    ["application/health+json; q=0, application/json", JSON_],
    ["application/json, application/health+json;q=0.5", JSON_],
    ["application/health+json;q=0.4, application/json;q=0.5", JSON_],
    ["application/health+json;q=0.9, application/json;q=0.5", HEALTH],
    ["application/health+json", HEALTH],
    ["application/health+json, */*;q=0.1", HEALTH],
    ["Application/Health+JSON", HEALTH],
    ["application/json, application/health+json", HEALTH],
    ["*/*", JSON_],
    ["application/*", JSON_],
    ["text/html", JSON_],
    ["application/health+json;q=0.000", JSON_],
  ];
  for (const [accept, want] of cases) assert.equal(await type(accept), want, accept);
});

test("healthHandler: with 20,000 breakers the body stays small: counts per state, open ones listed first, the rest left out", async () => {
  clearCircuitBreakers();
  const h = new HealthCheck();
  h.register("db", () => true);
  const clock = new FakeClock();
  const mw = routeCircuitBreaker({
    key: (c) => c.req.query("k")!,
    maxKeys: 20_000,
    failureThreshold: 1,
    clock,
    logger: silent,
  });
  const a = new Hono();
  a.get("/k", mw, (c) => c.text("", c.req.query("k")!.startsWith("bad") ? 500 : 200));
  a.get("/health", healthHandler(h, { breakers: true, app: a }));
  for (let i = 0; i < 19_990; i++) await a.request(`/k?k=ok-${i}`);
  for (let i = 0; i < 10; i++) await a.request(`/k?k=bad-${i}`);
  const res = await a.request("/health");
  const text = await res.text();
  assert.ok(text.length < 20_000, `${text.length} bytes`);
  const body = JSON.parse(text);
  assert.equal(body.status, "degraded");
  assert.deepEqual(body.circuits, {
    total: 20_000,
    closed: 19_990,
    open: 10,
    half_open: 0,
    listed: 50,
    omitted: 19_950,
    unread: 0,
  });
  const listed = body.checks.filter((c: { name: string }) => c.name.startsWith("circuit:"));
  assert.equal(listed.length, 50);
  assert.deepEqual(
    listed.slice(0, 10).map((c: { details: { state: string } }) => c.details.state),
    Array(10).fill("open"),
  );
  const ietf = await (await a.request("/health", {
    headers: { accept: "application/health+json" },
  })).json();
  assert.equal(Object.keys(ietf.checks).length, 51);
  assert.match(
    ietf.notes[0],
    /20000 circuits \(10 open, 0 half-open, 19990 closed\): 50 listed, 19950 left out/,
  );
  // maxBreakers: 0 lists none, still counts all.
  const b = new Hono();
  b.get("/health", healthHandler(h, { breakers: [mw], maxBreakers: 0 }));
  const counted = await (await b.request("/health")).json();
  assert.equal(counted.checks.length, 1);
  assert.equal(counted.circuits.open, 10);
});

test("healthHandler: with a store, the app's circuits are read from it (after a restart too), cached and bounded", async () => {
  clearCircuitBreakers();
  const store = new CountingStore(new MemoryStore());
  // A FakeClock: "within the refresh interval" must not depend on how fast a loaded machine runs.
  const clock = new FakeClock();
  const opts = { store, failureThreshold: 1, resetTimeout: 60_000, logger: silent, clock };
  const routes = Array.from({ length: 120 }, (_, i) => `/api/r${i}`);
  const build = () => {
    const h = new HealthCheck();
    h.register("db", () => true);
    const a = new Hono();
    a.use("/api/*", routeCircuitBreaker({ ...opts, storeKey: "hh-store-1" }));
    for (const r of routes) a.get(r, (c) => c.text("down", 500));
    a.get("/other", (c) => c.text("not guarded"));
    a.get("/health", healthHandler(h, { breakers: true, app: a }));
    return a;
  };
  // The first instance opens the circuit of /api/r7 in the store.
  const first = build();
  assert.equal((await first.request("/api/r7")).status, 500);
  await new Promise((r) => setTimeout(r, 0)); // the report reaches the store (waitUntil)
  assert.equal((await first.request("/api/r7")).status, 503);
  // "Restart": a new instance that has served nothing yet.
  const fresh = build();
  store.ops.sync = 0;
  let body = await (await fresh.request("/health")).json();
  assert.equal(body.status, "degraded"); // was "healthy" when only local breakers counted
  assert.equal(body.circuits.total, 50);
  assert.equal(body.circuits.unread, 70); // at most 50 store reads per request
  assert.equal(store.ops.sync, 50);
  for (let i = 0; i < 2; i++) body = await (await fresh.request("/health")).json();
  assert.deepEqual(
    [body.circuits.total, body.circuits.unread, body.circuits.open],
    [120, 0, 1],
  );
  const open = body.checks.find((c: { details: { state?: string } }) => c.details.state === "open");
  assert.equal(open.name, "circuit:route:GET /api/r7");
  assert.equal(open.details.source, "store");
  assert.ok(!body.checks.some((c: { name: string }) => c.name.includes("/other")));
  // Cached: another request within the refresh interval reads nothing.
  const before = store.ops.sync;
  await fresh.request("/health");
  assert.equal(store.ops.sync, before);
  // Past it, read again (at most 50 per request).
  clock.tick(60_000);
  await fresh.request("/health");
  assert.equal(store.ops.sync, before + 50);
});

test("healthHandler: unknown options are refused", () => {
  assert.throws(
    () => healthHandler(new HealthCheck(), { exposeError: true } as never),
    /healthHandler: unknown option 'exposeError' \(did you mean 'exposeErrors'\?\)/,
  );
  assert.throws(() => healthHandler(new HealthCheck(), { maxBreakers: -1 }), /'maxBreakers'/);
  assert.throws(() => healthHandler(new HealthCheck(), { app: {} as never }), /'app'/);
  assert.throws(
    () => healthHandler(new HealthCheck(), { breakers: ["payments"] as never }),
    /'breakers' must be a boolean or an array of breakers and route middlewares/,
  );
  assert.throws(
    () => healthHandler(new HealthCheck(), { breakers: [async () => {}] as never }),
    /'breakers'/,
  );
});

test("healthHandler: a hanging or failing store does not hang /health: bounded by the store timeout, the rest counted unread", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new FaultyStore(new MemoryStore({ clock }));
  const counting = new CountingStore(store);
  const h = new HealthCheck();
  h.register("db", () => true);
  const a = new Hono();
  a.use(
    "/api/*",
    routeCircuitBreaker({
      store: counting,
      storeKey: "hh-faulty",
      storeOptions: { timeout: 200 },
      clock,
      logger: silent,
    }),
  );
  for (let i = 0; i < 30; i++) a.get(`/api/r${i}`, (c) => c.text("ok"));
  a.get("/health", healthHandler(h, { breakers: true, app: a }));
  for (const fault of ["hang", "throw", "corrupt"] as const) {
    store.fault = fault;
    counting.ops.sync = 0;
    const pending = a.request("/health");
    await clock.tickAsync(200);
    const res = await pending;
    assert.equal(res.status, 200, fault);
    const body = await res.json();
    assert.equal(body.status, "healthy", fault); // the store's trouble is not the app's health
    assert.equal(body.circuits.unread, 30, fault);
    assert.ok(counting.ops.sync <= 6, `${fault}: ${counting.ops.sync} reads`); // one round, then none
  }
  store.heal();
  const pending = a.request("/health");
  await clock.tickAsync(0);
  const body = await (await pending).json();
  assert.equal(body.circuits.unread, 0);
  assert.equal(body.circuits.closed, 30);
});

test("healthHandler: a future-dated OPEN entry from a custom store shows no longer than the breaker keeps it", async () => {
  clearCircuitBreakers();
  const inner = new MemoryStore();
  const opts = { failureThreshold: 1, resetTimeout: 10_000, storeKey: "skewed", logger: silent };
  // One instance opens the route's circuit in the store.
  const first = new Hono();
  first.use("/api/*", routeCircuitBreaker({ ...opts, store: inner }));
  first.get("/api/x", (c) => c.text("down", 500));
  assert.equal((await first.request("/api/x")).status, 500);
  await new Promise((r) => setTimeout(r, 0)); // the report reaches the store
  assert.equal((await first.request("/api/x")).status, 503);
  // Another instance reads it through a custom store whose clock runs a day ahead.
  const skewed: SharedStore = {
    kind: "authoritative",
    async run(key, op) {
      const s = await inner.run(key, op) as SharedState;
      return s && s.state === "open" ? { ...s, openedAt: Date.now() + 86_400_000 } : s;
    },
  };
  const h = new HealthCheck();
  const a = new Hono();
  a.use("/api/*", routeCircuitBreaker({ ...opts, store: sharedStore(skewed) }));
  a.get("/api/x", (c) => c.text("ok"));
  a.get("/health", healthHandler(h, { breakers: true, app: a }));
  const body = await (await a.request("/health")).json();
  const open = body.checks.find((c: { details: { state?: string } }) => c.details.state === "open");
  assert.ok(open, JSON.stringify(body));
  // resetTimeout plus the stated skew allowance (min(resetTimeout, 5 s)), not a day.
  assert.ok(open.details.timeUntilReset <= 15_000, JSON.stringify(open));
});

test("healthHandler: a shared circuit's time left counts its grown open duration (maxResetTimeout), read from the store", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const opts = {
    failureThreshold: 1,
    resetTimeout: 1_000,
    maxResetTimeout: 8_000,
    halfOpenMaxCalls: 1,
    storeKey: "grown",
    clock,
    logger: silent,
  };
  // One instance opens the route's circuit, then fails its trial: OPEN for 2 s (doubled).
  const first = new Hono();
  first.use("/api/*", routeCircuitBreaker({ ...opts, store }));
  first.get("/api/x", (c) => c.text("down", 500));
  assert.equal((await first.request("/api/x")).status, 500);
  await new Promise((r) => setTimeout(r, 0));
  clock.tick(1_000);
  assert.equal((await first.request("/api/x")).status, 500); // the trial fails
  await new Promise((r) => setTimeout(r, 0));
  // Another instance's health endpoint reads the circuit from the store.
  const other = new Hono();
  other.use("/api/*", routeCircuitBreaker({ ...opts, store }));
  other.get("/api/x", (c) => c.text("ok"));
  other.get("/health", healthHandler(new HealthCheck(), { breakers: true, app: other }));
  clock.tick(1_500);
  const body = await (await other.request("/health")).json();
  const open = body.checks.find((c: { details: { state?: string } }) => c.details.state === "open");
  assert.ok(open, JSON.stringify(body));
  // 2 s open, 1.5 s of them gone: 500 ms left (not 0: it is not resetTimeout's 1 s).
  assert.equal(open.details.timeUntilReset, 500);
});
