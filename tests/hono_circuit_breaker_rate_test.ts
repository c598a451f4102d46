// routeCircuitBreaker takes the breaker's rate options (issue #13): failure
// rates over a window of requests, slow requests, growing open durations.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { routeCircuitBreaker } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

function upstreamApp(options: Parameters<typeof routeCircuitBreaker>[0]) {
  const a = new Hono();
  let n = 0;
  const mw = routeCircuitBreaker({ logger: silent, ...options });
  // 3 of every 10 requests fail, spread evenly: never 2 failures in a row.
  a.get(
    "/quote",
    mw,
    (c) => (n++ % 10 % 3 === 0 && n % 10 !== 0 ? c.text("bad", 502) : c.text("ok")),
  );
  return { a, mw };
}

test("routeCircuitBreaker: a failure rate over the last requests opens the route's circuit; consecutive counting never does", async () => {
  const rate = upstreamApp({ failureRateThreshold: 0.25, windowCalls: 20, minimumThroughput: 10 });
  const consecutive = upstreamApp({ failureThreshold: 2 });
  let rejected = 0;
  for (let i = 0; i < 200; i++) {
    if ((await rate.a.request("/quote")).status === 503) rejected++;
    assert.notEqual((await consecutive.a.request("/quote")).status, 503);
  }
  assert.ok(rejected > 0);
  const stats = rate.mw.breakers.get("GET /quote")!.getStats();
  assert.equal(stats.state, "open");
  assert.ok(stats.window!.failureRate >= 0.25, JSON.stringify(stats.window));
  assert.equal(consecutive.mw.breakers.get("GET /quote")!.getStats().window, undefined);
});

test("routeCircuitBreaker: slow requests open it by slow-call rate; isFailureResult is the failure rule in rate mode", async () => {
  const clock = new FakeClock();
  const a = new Hono();
  const mw = routeCircuitBreaker({
    slowCallDuration: 1000,
    slowCallRateThreshold: 0.5,
    windowCalls: 4,
    minimumThroughput: 4,
    clock,
    logger: silent,
  });
  a.get("/slow", mw, async (c) => {
    await new Promise((r) => clock.setTimeout(() => r(undefined), 1500));
    return c.text("finally");
  });
  a.get("/fast", mw, (c) => c.text("quick"));
  const slow = async () => {
    const p = a.request("/slow");
    await clock.tickAsync(1500);
    return await p;
  };
  // One breaker per route: /slow's own window fills with slow calls.
  for (let i = 0; i < 4; i++) assert.equal((await slow()).status, 200);
  assert.equal((await a.request("/slow")).status, 503);
  assert.equal((await a.request("/fast")).status, 200);
  assert.equal(mw.breakers.get("GET /slow")!.getStats().window!.slowCalls, 4);

  const b = new Hono();
  const limited = routeCircuitBreaker({
    failureRateThreshold: 0.5,
    windowCalls: 4,
    minimumThroughput: 4,
    isFailureResult: (res) => res.status === 429,
    logger: silent,
  });
  let i = 0;
  b.get("/x", limited, (c) => (i++ % 2 === 0 ? c.text("slow down", 429) : c.text("ok")));
  for (let k = 0; k < 4; k++) await b.request("/x");
  assert.equal((await b.request("/x")).status, 503);
});

test("routeCircuitBreaker: the rate options are checked at setup, naming the option", () => {
  assert.throws(() => routeCircuitBreaker({ failureRateThreshold: 2 }), /'failureRateThreshold'/);
  assert.throws(
    () => routeCircuitBreaker({ failureRateThreshold: 0.5, windowCalls: 10, windowDuration: 100 }),
    /'windowCalls'.*'windowDuration'/,
  );
  assert.throws(() => routeCircuitBreaker({ slowCallDuration: 10 }), /'slowCallDuration' needs/);
  assert.throws(
    () => routeCircuitBreaker({ resetTimeout: 1000, maxResetTimeout: 10 }),
    /'maxResetTimeout'/,
  );
});
