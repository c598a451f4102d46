import assert from "node:assert/strict";
import { Hono } from "hono";
import { clearCircuitBreakers, getCircuitBreaker } from "../mod.ts";
import { routeCircuitBreaker } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, test } from "./_harness.ts";

function app(clock: FakeClock, opts: Parameters<typeof routeCircuitBreaker>[0] = {}) {
  clearCircuitBreakers();
  const state = { fail: true, calls: 0 };
  const a = new Hono();
  a.use(
    "/api/*",
    routeCircuitBreaker({
      failureThreshold: 2,
      resetTimeout: 2500,
      halfOpenMaxCalls: 2,
      clock,
      ...opts,
    }),
  );
  a.get("/api/items/:id", (c) => {
    state.calls++;
    return state.fail ? c.text("upstream broke", 502) : c.json({ id: c.req.param("id") });
  });
  a.get("/api/throws", () => {
    state.calls++;
    throw new Error("handler bug");
  });
  return { a, state };
}

test("routeCircuitBreaker: 5xx responses open it; 503 + Retry-After + problem+json while open", async () => {
  const clock = new FakeClock();
  const { a, state } = app(clock);
  assert.equal((await a.request("/api/items/1")).status, 502);
  assert.equal((await a.request("/api/items/2")).status, 502);
  assert.equal(state.calls, 2);
  clock.tick(1000);
  const res = await a.request("/api/items/3");
  assert.equal(res.status, 503);
  assert.equal(state.calls, 2); // the handler did not run
  assert.equal(res.headers.get("retry-after"), "2"); // 1500 ms left → 2 s
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.status, 503);
  assert.equal(body.breaker, "route:GET /api/items/:id");
  assert.equal(body.retryAfter, 2);
  // Per-route breakers: the key is method + route pattern.
  assert.equal(getCircuitBreaker("route:GET /api/items/:id")!.state, "open");
  // Recovery through half-open.
  state.fail = false;
  clock.tick(1500);
  assert.equal((await a.request("/api/items/4")).status, 200);
  assert.equal((await a.request("/api/items/5")).status, 200);
  assert.equal(getCircuitBreaker("route:GET /api/items/:id")!.state, "closed");
});

test("routeCircuitBreaker: thrown errors count; routes have separate breakers", async () => {
  const clock = new FakeClock();
  const { a, state } = app(clock);
  assert.equal((await a.request("/api/throws")).status, 500);
  assert.equal((await a.request("/api/throws")).status, 500);
  assert.equal((await a.request("/api/throws")).status, 503);
  state.fail = false;
  assert.equal((await a.request("/api/items/1")).status, 200);
});

test("routeCircuitBreaker: half-open lets at most halfOpenMaxCalls probes through under concurrent requests", async () => {
  const clock = new FakeClock();
  clearCircuitBreakers();
  const a = new Hono();
  let running = 0;
  let maxRunning = 0;
  let fail = true;
  const gate = deferred<void>();
  a.get(
    "/probe",
    routeCircuitBreaker({ failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 3, clock }),
    async (c) => {
      if (fail) return c.text("down", 500);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running--;
      return c.text("ok");
    },
  );
  assert.equal((await a.request("/probe")).status, 500);
  fail = false;
  clock.tick(1000);
  const responses = Array.from({ length: 50 }, () => a.request("/probe"));
  await new Promise((r) => setTimeout(r, 10));
  gate.resolve();
  const statuses = (await Promise.all(responses)).map((r) => r.status);
  assert.equal(maxRunning, 3);
  assert.equal(statuses.filter((s) => s === 200).length, 3);
  assert.equal(statuses.filter((s) => s === 503).length, 47);
});

test("routeCircuitBreaker: custom key, isFailure and fallback response", async () => {
  const clock = new FakeClock();
  clearCircuitBreakers();
  const a = new Hono();
  a.use(
    "*",
    routeCircuitBreaker({
      name: "upstream",
      key: () => "prices.example",
      failureThreshold: 1,
      clock,
      isFailure: (res) => res.status === 429 || res.status >= 500,
      fallback: (c, e) => c.json({ cached: true, breaker: e.breakerName }, 200),
    }),
  );
  a.get("/a", (c) => c.text("slow down", 429));
  a.get("/b", (c) => c.text("fine"));
  assert.equal((await a.request("/a")).status, 429);
  const res = await a.request("/b"); // same upstream key → same open breaker
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { cached: true, breaker: "upstream:prices.example" });
});

test("routeCircuitBreaker: bad options fail at setup", () => {
  assert.throws(() => routeCircuitBreaker({ failureThreshold: 0 }), RangeError);
  assert.throws(() => routeCircuitBreaker({ key: "x" as never }), /'key'/);
  assert.throws(() => routeCircuitBreaker({ fallback: 1 as never }), /'fallback'/);
  assert.throws(() => routeCircuitBreaker({ name: "" }), /'name'/);
});
