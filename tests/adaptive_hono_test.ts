import assert from "node:assert/strict";
import { Hono } from "hono";
import { HealthCheck, ResilienceTimeoutError } from "../mod.ts";
import { routeAdaptiveConcurrency } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, test } from "./_harness.ts";

function app(options: Parameters<typeof routeAdaptiveConcurrency>[0]) {
  const gates: ReturnType<typeof deferred<void>>[] = [];
  let handled = 0;
  const mw = routeAdaptiveConcurrency(options);
  const a = new Hono();
  a.use("/work/*", mw);
  a.get("/work/slow", async (c) => {
    handled++;
    const g = deferred<void>();
    gates.push(g);
    await g.promise;
    return c.text("done");
  });
  a.get("/work/timeout", () => {
    throw new ResilienceTimeoutError("route", 10);
  });
  a.onError((e, c) => c.text(`handled ${(e as Error).name}`, 504));
  return { a, gates, mw, handled: () => handled };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cond(), "condition not reached");
}

test("routeAdaptiveConcurrency: at the limit → 503 problem+json with Retry-After; the handler does not run", async () => {
  const { a, gates, mw, handled } = app({ name: "work", initialLimit: 2, retryAfter: 3 });
  const first = a.request("/work/slow");
  const second = a.request("/work/slow");
  await until(() => gates.length === 2);
  const res = await a.request("/work/slow");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "3");
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.deepEqual(
    [body.limiter, body.limit, body.reason, body.status, body.retryAfter],
    ["work", 2, "limit", 503, 3],
  );
  assert.equal(handled(), 2);
  gates.forEach((g) => g.resolve());
  assert.equal((await first).status, 200);
  assert.equal((await second).status, 200);
  const s = mw.limiter()!.getStats();
  assert.deepEqual([s.inFlight, s.refused, s.admitted], [0, 1, 2]);
  assert.deepEqual(mw.keys(), []);
});

test("routeAdaptiveConcurrency: a fallback answers a shed request; a queued client that leaves gets 499", async () => {
  const { a, gates } = app({
    initialLimit: 1,
    maxQueue: 1,
    fallback: (c, e) => c.text(`busy ${e.reason}`, 429),
  });
  const first = a.request("/work/slow");
  await until(() => gates.length === 1);
  const controller = new AbortController();
  const queued = a.request(new Request("http://x/work/slow", { signal: controller.signal }));
  const shed = await a.request("/work/slow");
  assert.equal(shed.status, 429);
  assert.equal(await shed.text(), "busy queue-full");
  controller.abort();
  assert.equal((await queued).status, 499);
  gates[0].resolve();
  assert.equal((await first).status, 200);
  assert.equal(gates.length, 1, "the queued request never ran");
});

test("routeAdaptiveConcurrency: a timeout Hono answered is a congestion sample; the answer stays", async () => {
  const clock = new FakeClock();
  const { a, mw } = app({
    initialLimit: 40,
    sampleWindow: 1,
    minSamples: 1,
    probeInterval: 0,
    clock,
  });
  clock.tick(5);
  const res = await a.request("/work/timeout");
  assert.equal(res.status, 504);
  assert.equal(await res.text(), "handled ResilienceTimeoutError");
  const s = mw.limiter()!.getStats();
  assert.equal(s.inFlight, 0);
  assert.ok(s.limit < 40, `a timeout shrinks the limit: ${s.limit}`);
  // A 504 answer (routeTimeout's, or an upstream's) is one too.
  const clock2 = new FakeClock();
  const mw2 = routeAdaptiveConcurrency({
    initialLimit: 40,
    sampleWindow: 1,
    minSamples: 1,
    probeInterval: 0,
    clock: clock2,
  });
  const a2 = new Hono();
  a2.get("/", mw2, (c) => c.text("gateway timeout", 504));
  clock2.tick(5);
  const res2 = await a2.request("/");
  assert.deepEqual([res2.status, await res2.text()], [504, "gateway timeout"]);
  assert.ok(mw2.limiter()!.getStats().limit < 40);
  // A 200 is no such signal.
  const a3 = new Hono();
  const mw3 = routeAdaptiveConcurrency({
    initialLimit: 40,
    sampleWindow: 1,
    minSamples: 1,
    clock: clock2,
  });
  a3.get("/", mw3, (c) => c.text("ok"));
  clock2.tick(5);
  assert.equal((await a3.request("/")).status, 200);
  assert.equal(mw3.limiter()!.getStats().limit, 40);
});

test("routeAdaptiveConcurrency: per-key limiters, bounded by maxKeys (idle ones dropped first)", async () => {
  const mw = routeAdaptiveConcurrency({
    name: "t",
    initialLimit: 1,
    key: (c) => c.req.header("x-tenant") ?? "none",
    maxKeys: 2,
  });
  const gates: ReturnType<typeof deferred<void>>[] = [];
  const a = new Hono();
  a.use("*", mw);
  a.get("/", async (c) => {
    const g = deferred<void>();
    gates.push(g);
    await g.promise;
    return c.text("ok");
  });
  const get = (tenant: string) => a.request("/", { headers: { "x-tenant": tenant } });
  const busy = get("a"); // a: busy
  await until(() => gates.length === 1);
  assert.equal((await get("a")).status, 503, "a's own limit");
  const b = get("b");
  await until(() => gates.length === 2);
  gates[1].resolve();
  assert.equal((await b).status, 200); // b: idle now
  assert.deepEqual(mw.keys(), ["a", "b"]);
  const c = get("c".repeat(300)); // a third key: b (idle) is dropped, not a (busy)
  await until(() => gates.length === 3);
  assert.equal(mw.keys().length, 2);
  assert.equal(mw.keys()[0], "a");
  assert.match(mw.keys()[1], /^c{64}…#[0-9a-f]{8}$/);
  assert.equal(mw.limiter(mw.keys()[1])!.name.startsWith("t:cccc"), true);
  assert.equal(mw.limiter("b"), undefined);
  gates[0].resolve();
  gates[2].resolve();
  assert.equal((await busy).status, 200);
  assert.equal((await c).status, 200);
});

test("routeAdaptiveConcurrency: the health check is degraded while shedding, healthy 10 s later", async () => {
  const health = new HealthCheck();
  const clock = new FakeClock();
  const { a, gates } = app({ name: "search", initialLimit: 1, health, clock });
  let h = await health.runAll();
  assert.equal(h.status, "healthy");
  const first = a.request("/work/slow");
  await until(() => gates.length === 1);
  assert.equal((await a.request("/work/slow")).status, 503);
  h = await health.runAll();
  assert.equal(h.status, "degraded");
  const dict = JSON.stringify(h.toDict());
  assert.match(dict, /shedding load: 1 requests refused so far/);
  assert.match(dict, /adaptive:search/);
  gates[0].resolve();
  await first;
  clock.tick(10_000);
  h = await health.runAll();
  assert.equal(h.status, "healthy");
});

test("routeAdaptiveConcurrency: options are validated when the app is built", () => {
  const bad: [unknown, RegExp][] = [
    [{ maxKeys: 0 }, /routeAdaptiveConcurrency: option 'maxKeys'/],
    [{ key: "tenant" }, /option 'key' must be a function/],
    [{ retryAfter: -1 }, /'retryAfter'/],
    [{ fallback: 1 }, /'fallback'/],
    [{ health: {} }, /'health' must be a HealthCheck/],
    [{ minLimit: 0 }, /adaptiveConcurrency: option 'minLimit'/],
    [{ key: () => "k", algorithm: "reno" }, /option 'algorithm'/],
    [{ maxKey: 1 }, /unknown option 'maxKey' \(did you mean 'maxKeys'\?\)/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => routeAdaptiveConcurrency(options as never),
      message,
      JSON.stringify(options),
    );
  }
});
