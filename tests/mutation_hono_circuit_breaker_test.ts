// Tests written to kill the mutants of src/hono/circuit_breaker.ts that
// survived the route-breaker tests (docs/mutation-testing.md): what counts as
// a failure of a route (a route timeout's signal, a client gone), the 503 of
// an isolated breaker, and the option messages, through `app.request`.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HealthCheck, MemoryStore } from "../mod.ts";
import {
  healthHandler,
  type ResilienceEnv,
  routeCircuitBreaker,
  routeTimeout,
} from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

test("routeCircuitBreaker: an isolated breaker answers 503 'Service Unavailable' without Retry-After", async () => {
  const mw = routeCircuitBreaker({ logger: silent });
  const app = new Hono();
  app.get("/api", mw, (c) => c.text("ok"));
  assert.equal((await app.request("/api")).status, 200);
  const release = mw.breakers.get("GET /api")!.isolate();
  const res = await app.request("/api");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), null);
  const body = await res.json();
  assert.equal(body.title, "Service Unavailable");
  assert.equal(body.state, "open");
  assert.equal(body.breaker, "route:GET /api");
  assert.equal("retryAfter" in body, false);
  release();
  assert.equal((await app.request("/api")).status, 200);
});

test("routeCircuitBreaker: under a routeTimeout, a failing response still counts (the route's signal is not aborted)", async () => {
  const mw = routeCircuitBreaker({ failureThreshold: 1, logger: silent });
  const app = new Hono<ResilienceEnv>();
  app.get("/api", mw, routeTimeout(5_000, { logger: silent }), (c) => c.text("down", 500));
  assert.equal((await app.request("/api")).status, 500);
  assert.equal((await app.request("/api")).status, 503, "opened by the failure");
});

test("routeCircuitBreaker: a route timeout's 504 counts as a failure", async () => {
  const clock = new FakeClock();
  const mw = routeCircuitBreaker({ failureThreshold: 1, logger: silent });
  const app = new Hono<ResilienceEnv>();
  app.get(
    "/api",
    mw,
    routeTimeout(50, { clock, logger: silent }),
    (c) =>
      new Promise<Response>((_, reject) =>
        c.var.signal.addEventListener("abort", () => reject(c.var.signal.reason))
      ),
  );
  const pending = app.request("/api");
  await clock.tickAsync(50);
  assert.equal((await pending).status, 504);
  assert.equal(mw.breakers.get("GET /api")?.getStats().failureCount, 1);
  assert.equal((await app.request("/api")).status, 503);
});

test("routeCircuitBreaker: the route's signal aborted for another reason than a deadline is a client gone, not a failure", async () => {
  const mw = routeCircuitBreaker({ failureThreshold: 1, logger: silent });
  const app = new Hono<ResilienceEnv>();
  const ctl = new AbortController();
  app.use("/api", async (c, next) => {
    c.set("signal", ctl.signal); // e.g. an outer layer that follows the client its own way
    await next();
  });
  app.get("/api", mw, (c) => {
    ctl.abort(new Error("client went away"));
    return c.text("down", 500);
  });
  assert.equal((await app.request("/api")).status, 500);
  assert.equal(mw.breakers.get("GET /api")?.getStats().failureCount, 0);
  assert.equal(mw.breakers.get("GET /api")?.state, "closed");
});

test("routeCircuitBreaker: option messages name the option", () => {
  const cases: [unknown, RegExp][] = [
    [5, /^routeCircuitBreaker: option 'options' must be an object/],
    [{ isFailureResult: 1 }, /^routeCircuitBreaker: option 'isFailureResult' must be a function/],
    [{ storeKey: 1 }, /^routeCircuitBreaker: option 'storeKey' must be a non-empty string/],
  ];
  for (const [o, message] of cases) {
    assert.throws(() => routeCircuitBreaker(o as never), { message }, String(message));
  }
  const name = `mut-hcb-${crypto.randomUUID()}`;
  routeCircuitBreaker({ name, failureThreshold: 2, logger: silent });
  assert.throws(
    () => routeCircuitBreaker({ name, failureThreshold: 3, resetTimeout: 5, logger: silent }),
    {
      message: new RegExp(
        `^routeCircuitBreaker: name '${name}' is used with other options ` +
          `\\(failureThreshold: 2 vs 3; resetTimeout: undefined vs 5\\): ` +
          `pass only \\{ name: '${name}' \\} to share its circuits, the same values, or another name$`,
      ),
    },
  );
});

test("routeCircuitBreaker: the key is the handler's route, not a middleware's in between", async () => {
  const mw = routeCircuitBreaker({ logger: silent });
  const app = new Hono();
  app.use("/api/*", mw);
  app.use("/api/*", async (_c, next) => await next());
  app.get("/api/items/:id", (c) => c.text("ok"));
  assert.equal((await app.request("/api/items/7")).status, 200);
  assert.deepEqual([...mw.breakers.keys()], ["GET /api/items/:id"]);
});

test("routeCircuitBreaker: with a store, each request's outcome is handed to waitUntil and reaches the store", async () => {
  const store = new MemoryStore();
  const opts = {
    store,
    storeKey: `mut-hcb-${crypto.randomUUID()}`,
    failureThreshold: 2,
    logger: silent,
  };
  const handed: Promise<unknown>[] = [];
  const ctx = {
    waitUntil: (p: Promise<unknown>) => void handed.push(p),
    passThroughOnException() {},
    props: {},
  };
  const first = new Hono();
  first.use("/api/*", routeCircuitBreaker(opts));
  first.get("/api/ok", (c) => c.text("ok"));
  first.get("/api/down", (c) => c.text("down", 500));
  assert.equal((await first.request("/api/ok", undefined, undefined, ctx)).status, 200);
  assert.equal(handed.length, 1, "a success is flushed");
  await Promise.all(handed);
  assert.equal((await first.request("/api/down", undefined, undefined, ctx)).status, 500);
  assert.equal(handed.length, 2, "a failure is flushed");
  await Promise.all(handed);
  // Another instance, which has served nothing, sees that failure in the store: one more opens it.
  const other = new Hono();
  other.use("/api/*", routeCircuitBreaker(opts));
  other.get("/api/down", (c) => c.text("down", 500));
  assert.equal((await other.request("/api/down")).status, 500);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal((await other.request("/api/down")).status, 503);
});

test("routeCircuitBreaker: a middleware given to healthHandler's breakers lists its circuits", async () => {
  const mw = routeCircuitBreaker({ logger: silent });
  const app = new Hono();
  app.get("/api", mw, (c) => c.text("ok"));
  app.get("/health", healthHandler(new HealthCheck(), { breakers: [mw] }));
  await app.request("/api");
  const body = await (await app.request("/health")).json();
  assert.deepEqual(
    body.checks.map((c: { name: string }) => c.name),
    ["circuit:route:GET /api"],
  );
});
