// Tests written to kill the mutants of src/hono/health.ts that survived the
// /health tests (docs/mutation-testing.md): each circuit's check and its
// order, the status the circuits make, the health+json document member by
// member, Accept negotiation's edges and the option messages, through
// `app.request`.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { circuitBreaker, HealthCheck, MemoryStore } from "../mod.ts";
import { healthHandler, type HealthHandlerOptions, routeCircuitBreaker } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";
import { FaultyStore } from "./_stores.ts";

async function get(h: HealthCheck, opts: HealthHandlerOptions, accept?: string) {
  const app = new Hono();
  app.get("/health", healthHandler(h, opts));
  const res = await app.request("/health", accept ? { headers: { accept } } : {});
  return { res, body: await res.json() };
}

/** Three breakers: CLOSED, HALF_OPEN (OPEN past its reset timeout), OPEN, in that order. */
function breakers(clock: FakeClock) {
  const id = crypto.randomUUID();
  const make = (n: string) =>
    circuitBreaker({ name: `${n}-${id}`, clock, resetTimeout: 1000, logger: silent });
  const closed = make("c");
  const half = make("h");
  half.open();
  clock.tick(1000);
  const open = make("o");
  open.open();
  return { closed, half, open, id };
}

test("healthHandler: each circuit's check, and the circuits ordered OPEN, HALF_OPEN, CLOSED when capped", async () => {
  const clock = new FakeClock();
  const h = new HealthCheck({ clock });
  const { closed, half, open, id } = breakers(clock);
  const all = [closed, half, open];
  const { res, body } = await get(h, { breakers: all, maxBreakers: 3 });
  assert.equal(res.status, 200);
  assert.equal(body.status, "degraded");
  // Not over the cap: listed as given.
  assert.deepEqual(body.checks, [
    {
      name: `circuit:c-${id}`,
      status: "healthy",
      message: null,
      latency_ms: 0,
      details: { state: "closed", failureCount: 0, timeUntilReset: 0 },
    },
    {
      name: `circuit:h-${id}`,
      status: "degraded",
      message: "circuit half_open",
      latency_ms: 0,
      details: { state: "half_open", failureCount: 0, timeUntilReset: 0 },
    },
    {
      name: `circuit:o-${id}`,
      status: "degraded",
      message: "circuit open",
      latency_ms: 0,
      details: { state: "open", failureCount: 0, timeUntilReset: 1000 },
    },
  ]);
  assert.deepEqual(body.circuits, {
    total: 3,
    closed: 1,
    open: 1,
    half_open: 1,
    listed: 3,
    omitted: 0,
    unread: 0,
  });
  const capped = await get(h, { breakers: all, maxBreakers: 2 });
  assert.deepEqual(capped.body.checks.map((c: { name: string }) => c.name), [
    `circuit:o-${id}`,
    `circuit:h-${id}`,
  ]);
  assert.deepEqual(capped.body.circuits, {
    total: 3,
    closed: 1,
    open: 1,
    half_open: 1,
    listed: 2,
    omitted: 1,
    unread: 0,
  });
  const one = await get(h, { breakers: [closed, half], maxBreakers: 1 });
  assert.deepEqual(one.body.checks.map((c: { name: string }) => c.name), [`circuit:h-${id}`]);
});

test("healthHandler: a store-backed breaker's check says whether the store is available", async () => {
  const b = circuitBreaker({
    name: `st-${crypto.randomUUID()}`,
    store: new MemoryStore(),
    storeKey: `st-${crypto.randomUUID()}`,
    logger: silent,
  });
  const { body } = await get(new HealthCheck(), { breakers: [b] });
  assert.equal(body.checks[0].details.storeAvailable, b.getStats().storeAvailable);
  assert.equal(typeof body.checks[0].details.storeAvailable, "boolean");
  assert.equal("source" in body.checks[0].details, false);
});

test("healthHandler: the circuits make the status: none checked and a circuit is healthy, HALF_OPEN degrades, unhealthy stays 503", async () => {
  const clock = new FakeClock();
  const { closed, half, open } = breakers(clock);
  const none = new HealthCheck({ clock });
  assert.equal((await get(none, { breakers: [closed] })).body.status, "healthy");
  assert.equal((await get(none, { breakers: [] })).body.status, "unknown");
  assert.equal((await get(none, { breakers: [half] })).body.status, "degraded");
  assert.equal((await get(none, { breakers: [open] })).body.status, "degraded");
  const down = new HealthCheck({ clock });
  down.register("db", () => false);
  const r = await get(down, { breakers: [open] });
  assert.equal(r.res.status, 503);
  assert.equal(r.body.status, "unhealthy");
  // A degraded service stays degraded (200) with its circuits CLOSED.
  const partly = new HealthCheck({ clock });
  partly.register("db", () => true);
  partly.register("cache", () => false, { critical: false });
  const d = await get(partly, { breakers: [closed] });
  assert.equal(d.res.status, 200);
  assert.equal(d.body.status, "degraded");
});

test("healthHandler: a failing check's message is hidden only when it has one, details only when it has some", async () => {
  const h = new HealthCheck();
  h.register("a", () => ({ healthy: false }));
  h.register("b", () => ({ healthy: false, host: "db.internal" }));
  h.register("c", () => ({ healthy: true, host: "ok.internal" }));
  const { body } = await get(h, {});
  const by = (n: string) => body.checks.find((c: { name: string }) => c.name === n);
  assert.equal(by("a").message, null);
  assert.deepEqual(by("a").details, {});
  assert.deepEqual(by("b").details, {});
  assert.equal(by("b").message, null);
  // With exposeErrors, untouched.
  const shown = await get(h, { exposeErrors: true });
  assert.deepEqual(shown.body.checks[1].details, { host: "db.internal" });
  assert.deepEqual(by("c").details, { host: "ok.internal" });
});

test("healthHandler: the health+json document, member by member", async () => {
  const clock = new FakeClock();
  const h = new HealthCheck({ version: "3.1.0", clock });
  h.register("db", () => true);
  h.register("cache", () => ({ healthy: false, message: "refused" }), { critical: false });
  const { closed, open, id } = breakers(clock);
  const seed = await get(h, { breakers: [closed, open], exposeErrors: true, format: "seed" });
  const time = seed.body.timestamp;
  const { res, body } = await get(h, {
    breakers: [closed, open],
    exposeErrors: true,
    format: "health+json",
    serviceId: "svc-1",
    description: "the shop",
  });
  assert.equal(res.headers.get("content-type"), "application/health+json");
  assert.equal(res.headers.get("cache-control"), "no-store");
  const latency = (n: string) =>
    seed.body.checks.find((c: { name: string }) => c.name === n).latency_ms;
  assert.deepEqual(body, {
    status: "warn",
    version: "3.1.0",
    serviceId: "svc-1",
    description: "the shop",
    circuits: {
      total: 2,
      closed: 1,
      open: 1,
      half_open: 0,
      listed: 2,
      omitted: 0,
      unread: 0,
    },
    checks: {
      "db:responseTime": [{
        componentId: "db",
        componentType: "component",
        observedValue: latency("db"),
        observedUnit: "ms",
        status: "pass",
        time,
      }],
      "cache:responseTime": [{
        componentId: "cache",
        componentType: "component",
        observedValue: latency("cache"),
        observedUnit: "ms",
        status: "fail",
        time,
        output: "refused",
      }],
      [`c-${id}:circuit`]: [{
        componentId: `c-${id}`,
        componentType: "component",
        observedValue: "closed",
        status: "pass",
        time,
      }],
      [`o-${id}:circuit`]: [{
        componentId: `o-${id}`,
        componentType: "component",
        observedValue: "open",
        status: "warn",
        time,
        output: "circuit open",
      }],
    },
  });
  // Capped: a note says how many were left out; none without breakers.
  const capped = await get(h, { breakers: [closed, open], maxBreakers: 1, format: "health+json" });
  assert.deepEqual(capped.body.notes, [
    "2 circuits (1 open, 0 half-open, 1 closed): 1 listed, 1 left out",
  ]);
  const plain = await get(h, { format: "health+json" });
  assert.deepEqual(Object.keys(plain.body).sort(), ["checks", "status", "version"]);
  assert.equal((await get(h, { format: "seed" })).body.circuits, undefined);
});

test("healthHandler: Accept negotiation: q parameters' edges, repeated ranges, the most specific range first", async () => {
  const h = new HealthCheck();
  h.register("db", () => true);
  const app = new Hono();
  app.get("/health", healthHandler(h));
  app.get("/seed", healthHandler(h, { format: "seed" }));
  app.get("/negotiate", healthHandler(h, { format: "negotiate" }));
  const type = async (accept: string, path = "/health") =>
    (await app.request(path, { headers: { accept } })).headers.get("content-type");
  const HEALTH = "application/health+json";
  const JSON_ = "application/json";
  const cases: [string, string][] = [
    ["application/health+json; q = 0.5, application/json;q=0.4", HEALTH],
    ["application/health+json;q=2, application/json;q=0.9", HEALTH],
    ["application/health+json;q=.", JSON_],
    ["application/health+json;q = 0", JSON_],
    ["application/health+json;xq=0", HEALTH],
    ["application/health+json;q=0x, application/json;q=0.5", HEALTH],
    ["application/json;q=0.5, text/html", JSON_],
    ["text/html, application/json;q=0.5", JSON_],
    ["application/health+json;q=abc", HEALTH],
    ["application/health+json;level=1", HEALTH],
    ["application/*;q=0.5, application/json;q=0.4", HEALTH],
    ["*/*;q=0.5, application/json;q=0.4", HEALTH],
    ["application/health+json;q=0.2, application/*;q=0.9", JSON_],
    ["application/*;q=0.9, application/health+json;q=0.2", JSON_],
    ["*/*;q=0.9, application/*;q=0.1, application/json;q=0.05", HEALTH],
    ["application/*;q=0.1, */*;q=0.9, application/json;q=0.05", HEALTH],
    [
      "application/health+json;q=0.9, application/health+json;q=0.1, application/json;q=0.5",
      HEALTH,
    ],
    ["application/json;q=0.1, application/json;q=0.9, application/health+json;q=0.5", HEALTH],
    ["application/json;q=0.5, application/health+json;q=0.5", HEALTH],
    ["application/*;q=0.5, application/json;q=0.5", JSON_],
    ["application/json", JSON_],
    ["", JSON_],
  ];
  for (const [accept, want] of cases) assert.equal(await type(accept), want, accept);
  assert.equal(await type(HEALTH, "/seed"), JSON_);
  assert.equal(await type(HEALTH, "/negotiate"), HEALTH);
});

test("healthHandler: option messages name the option", () => {
  const h = new HealthCheck();
  const cases: [unknown, unknown, RegExp][] = [
    [undefined, {}, /^healthHandler: expected a HealthCheck$/],
    [{ runAll: 1 }, {}, /^healthHandler: expected a HealthCheck$/],
    [h, { app: 5 }, /^healthHandler: option 'app' must be an object/],
    [h, { app: {} }, /^healthHandler: option 'app' must be a Hono app \(with 'routes'\)$/],
    [h, { app: { routes: {} } }, /^healthHandler: option 'app' must be a Hono app/],
    [h, { maxBreakers: -1 }, /'maxBreakers'/],
    [h, { maxBreakers: 1.5 }, /'maxBreakers'/],
    [h, { maxBreakers: 1_000_001 }, /'maxBreakers'/],
    [h, { description: 5 }, /'description'/],
    [
      h,
      { format: "xml" },
      /^healthHandler: option 'format' must be "seed", "health\+json" or "negotiate", got xml$/,
    ],
    [
      h,
      { breakers: [circuitBreaker({ logger: silent }), {}] },
      /^healthHandler: option 'breakers' must be a boolean or an array of breakers and route middlewares$/,
    ],
    [h, { breakers: 1 }, /'breakers'/],
  ];
  for (const [health, o, message] of cases) {
    assert.throws(() => healthHandler(health as never, o as never), { message }, String(message));
  }
  healthHandler(h, { maxBreakers: 0 });
  healthHandler(h, { maxBreakers: 1_000_000, breakers: false, format: "seed" });
  healthHandler(h, { breakers: [circuitBreaker({ logger: silent })], app: new Hono() });
});

test("healthHandler: the health+json note counts the circuits not read from the store", async () => {
  const clock = new FakeClock();
  const store = new FaultyStore(new MemoryStore({ clock }));
  const h = new HealthCheck({ clock });
  h.register("db", () => true);
  const a = new Hono();
  const mw = routeCircuitBreaker({
    store,
    storeKey: `hh-note-${crypto.randomUUID()}`,
    storeOptions: { timeout: 200 },
    clock,
    logger: silent,
  });
  a.use("/api/*", mw);
  for (let i = 0; i < 3; i++) a.get(`/api/r${i}`, (c) => c.text("ok"));
  a.get("/health", healthHandler(h, { breakers: [mw], app: a, format: "health+json" }));
  store.fault = "hang";
  const pending = a.request("/health");
  await clock.tickAsync(200);
  const body = await (await pending).json();
  assert.equal(body.circuits.unread, 3);
  assert.deepEqual(body.notes, [
    "0 circuits (0 open, 0 half-open, 0 closed): 0 listed, 0 left out, 3 not read from the store yet",
  ]);
  store.heal();
});
