import assert from "node:assert/strict";
import { Hono } from "hono";
import { HealthCheck } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { type ResilienceEnv, routeBulkhead, routeTimeout } from "../src/hono/mod.ts";
import { deferred, silent, test } from "./_harness.ts";

function app(options: Parameters<typeof routeBulkhead>[0]) {
  const gates: ReturnType<typeof deferred<void>>[] = [];
  let handled = 0;
  const mw = routeBulkhead(options);
  const a = new Hono();
  a.use("/work/*", mw);
  a.get("/work/slow", async (c) => {
    handled++;
    const g = deferred<void>();
    gates.push(g);
    await g.promise;
    return c.text("done");
  });
  return { a, gates, mw, handled: () => handled };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cond(), "condition not reached");
}

test("routeBulkhead: over capacity → 503 problem+json with Retry-After; the handler does not run", async () => {
  const { a, gates, mw, handled } = app({ name: "work", maxConcurrent: 2, retryAfter: 3 });
  const first = a.request("/work/slow");
  const second = a.request("/work/slow");
  await until(() => gates.length === 2);
  const res = await a.request("/work/slow");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "3");
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.bulkhead, "work");
  assert.equal(body.reason, "queue-full");
  assert.equal(handled(), 2);
  gates.forEach((g) => g.resolve());
  assert.equal((await first).status, 200);
  assert.equal((await second).status, 200);
  assert.deepEqual(
    [mw.bulkhead.getStats().running, mw.bulkhead.getStats().rejected],
    [0, 1],
  );
});

test("routeBulkhead: queued requests run when a slot frees; a queue timeout answers 503", async () => {
  const { a, gates } = app({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 30 });
  const first = a.request("/work/slow");
  await until(() => gates.length === 1);
  const queued = a.request("/work/slow");
  const res = await queued;
  assert.equal(res.status, 503);
  assert.equal((await res.json()).reason, "queue-timeout");
  const again = a.request("/work/slow");
  gates[0].resolve();
  assert.equal((await first).status, 200);
  await until(() => gates.length === 2);
  gates[1].resolve();
  assert.equal((await again).status, 200);
});

test("routeBulkhead: a client that disconnects while queued leaves the queue", async () => {
  const { a, gates, mw } = app({ maxConcurrent: 1, maxQueue: 5 });
  const first = a.request("/work/slow");
  await until(() => gates.length === 1);
  const ctl = new AbortController();
  const gone = Promise.resolve(a.request(new Request("http://x/work/slow", { signal: ctl.signal })))
    .catch((e: unknown) => e);
  await until(() => mw.bulkhead.getStats().queued === 1);
  ctl.abort(new Error("client went away"));
  assert.equal(mw.bulkhead.getStats().queued, 0);
  assert.equal(((await gone) as Response).status, 499, "answered quietly, not via onError");
  gates[0].resolve();
  await first;
  assert.equal(gates.length, 1, "the disconnected request never ran");
});

test("routeBulkhead: a custom fallback; handler errors pass through to onError", async () => {
  const mw = routeBulkhead({ maxConcurrent: 1, fallback: (c) => c.text("busy", 429) });
  const a = new Hono();
  const gate = deferred<void>();
  a.onError((e, c) => c.text(`onError: ${e.message}`, 500));
  a.get("/slow", mw, async (c) => (await gate.promise, c.text("ok")));
  a.get("/boom", mw, () => {
    throw new Error("bug");
  });
  const first = a.request("/slow");
  await until(() => mw.bulkhead.getStats().running === 1);
  const busy = await a.request("/boom");
  assert.equal(busy.status, 429);
  gate.resolve();
  await first;
  const boom = await a.request("/boom");
  assert.equal(await boom.text(), "onError: bug");
  assert.equal(mw.bulkhead.getStats().running, 0);
});

test("routeBulkhead: the health check is degraded while shedding load", async () => {
  const health = new HealthCheck();
  const { a, gates } = app({ name: "search", maxConcurrent: 1, health });
  let h = await health.runAll();
  assert.equal(h.status, "healthy");
  const first = a.request("/work/slow");
  await until(() => gates.length === 1);
  assert.equal((await a.request("/work/slow")).status, 503);
  h = await health.runAll();
  assert.equal(h.status, "degraded");
  assert.match(JSON.stringify(h.toDict()), /shedding load/);
  gates[0].resolve();
  await first;
});

test("routeBulkhead: the health check counts its 10 s from the last refusal, however sparse the polling", async () => {
  const clock = new FakeClock();
  const health = new HealthCheck();
  const { a, gates, mw } = app({ name: "sparse", maxConcurrent: 1, health, clock });
  const first = a.request("/work/slow");
  await until(() => gates.length === 1);
  const status = async () => (await health.runAll()).status;
  // Refused at t = 0; nobody polls until 9.999 s later: still degraded then.
  assert.equal((await a.request("/work/slow")).status, 503);
  assert.equal(mw.bulkhead.getStats().lastRejectedAt, clock.now());
  clock.tick(9_999);
  assert.equal(await status(), "degraded");
  // 10 s after the refusal (not after the check that first saw it): healthy again.
  clock.tick(1);
  assert.equal(await status(), "healthy");
  // A first poll 10 s or more after a refusal never reports it.
  assert.equal((await a.request("/work/slow")).status, 503);
  clock.tick(10_000);
  assert.equal(await status(), "healthy");
  // Each refusal restarts the 10 s.
  assert.equal((await a.request("/work/slow")).status, 503);
  clock.tick(6_000);
  assert.equal((await a.request("/work/slow")).status, 503);
  clock.tick(6_000);
  assert.equal(await status(), "degraded");
  clock.tick(4_000);
  assert.equal(await status(), "healthy");
  gates[0].resolve();
  await first;
});

test("routeBulkhead: options are validated when the app is built", () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /'maxConcurrent' is required/],
    [{ maxConcurrent: 0 }, /'maxConcurrent'/],
    [{ maxConcurrent: 1, retryAfter: -1 }, /'retryAfter'/],
    [{ maxConcurrent: 1, fallback: 1 }, /'fallback'/],
    [{ maxConcurrent: 1, health: {} }, /'health' must be a HealthCheck/],
    [{ maxConcurrent: 1, clock: 5 }, /routeBulkhead: option 'clock' must be an object/],
    [{ maxConcurent: 1 }, /unknown option 'maxConcurent' \(did you mean 'maxConcurrent'\?\)/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => routeBulkhead(options as never), message, JSON.stringify(options));
  }
});

test("routeBulkhead: behind an outer routeTimeout, a request queued past its deadline leaves the queue and never runs", async () => {
  // A global `app.use("*", routeTimeout(…))` puts the deadline outside the bulkhead: a request
  // still queued when it answers 504 must not take a slot later and run the handler for nobody.
  const clock = new FakeClock();
  const mw = routeBulkhead({ maxConcurrent: 1, maxQueue: 5, clock });
  const a = new Hono<ResilienceEnv>();
  let runs = 0;
  a.get("/x", routeTimeout(100, { clock, logger: silent }), mw, async (c) => {
    runs++;
    await new Promise<void>((r) => clock.setTimeout(r, 500));
    return c.text("ok");
  });
  const first = a.request("/x");
  await clock.tickAsync(1);
  const queued = a.request("/x");
  await clock.tickAsync(1);
  assert.equal(mw.bulkhead.getStats().queued, 1);
  await clock.tickAsync(100);
  assert.deepEqual([(await first).status, (await queued).status], [504, 504]);
  assert.equal(mw.bulkhead.getStats().queued, 0, "the queued request left at its deadline");
  await clock.tickAsync(1_000);
  assert.equal(runs, 1, "the handler ran for the first request only");
  const s = mw.bulkhead.getStats();
  assert.deepEqual([s.running, s.queued, clock.pending], [0, 0, 0]);
});
