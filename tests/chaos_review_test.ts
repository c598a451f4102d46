// Defects found by reviewing issue #21's fault injection as a new user would
// (chaos and routeChaos), each with the test that failed before its fix.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { chaos, setDefaultLogger } from "../mod.ts";
import { routeChaos } from "../src/hono/mod.ts";
import { recordingLogger, test } from "./_harness.ts";

function app(options: Parameters<typeof routeChaos>[0]) {
  let handled = 0;
  const mw = routeChaos(options);
  const a = new Hono();
  a.use("/api/*", mw);
  a.get("/api/items", (c) => {
    handled++;
    return c.json({ items: [] });
  });
  return { a, mw, handled: () => handled };
}

test("routeChaos: an onInject that throws or rejects never fails the request (logged once)", async () => {
  const log = recordingLogger();
  const previous = setDefaultLogger(log);
  try {
    const thrower = app({
      name: "hooked",
      enabled: true,
      injectionRate: 1,
      fault: 503,
      onInject: () => {
        throw new Error("hook broke");
      },
    });
    for (let i = 0; i < 3; i++) {
      const res = await thrower.a.request("/api/items");
      assert.equal(res.status, 503, "the fault is served, not a 500 from the hook");
      assert.equal(res.headers.get("x-resilience-chaos"), "fault");
    }
    assert.equal(thrower.mw.chaos.getStats().faults, 3);
    const lines = log.lines.filter((l) => l.includes("hook broke"));
    assert.equal(lines.length, 1, `logged once: ${JSON.stringify(log.lines)}`);
    assert.match(lines[0], /routeChaos 'hooked' onInject threw/);

    const rejecter = app({
      enabled: true,
      injectionRate: 1,
      latency: 1,
      onInject: (() => Promise.reject(new Error("async hook broke"))) as () => void,
    });
    const res = await rejecter.a.request("/api/items");
    assert.equal(res.status, 200);
    assert.equal(rejecter.handled(), 1);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(log.lines.filter((l) => l.includes("async hook broke")).length, 1);
  } finally {
    setDefaultLogger(previous);
  }
});

test("routeChaos: a fault function answering undefined means no fault this time (the handler runs)", async () => {
  let n = 0;
  const { a, mw, handled } = app({
    enabled: true,
    injectionRate: 1,
    // Fail every other request, like chaos's `fault: ({ attempt }) => … : undefined`.
    fault: (c) => (n++ % 2 === 0 ? c.text("injected", 503) : undefined),
  });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await a.request("/api/items");
    await res.body?.cancel();
    statuses.push(res.status);
  }
  assert.deepEqual(statuses, [503, 200, 503, 200]);
  assert.equal(handled(), 2);
  const s = mw.chaos.getStats();
  assert.deepEqual([s.injected, s.faults], [4, 2], "only the answers served count as faults");
  // An async function answering null does the same.
  const nul = app({ enabled: true, injectionRate: 1, fault: () => Promise.resolve(null) });
  const res = await nul.a.request("/api/items");
  assert.deepEqual([res.status, nul.handled(), nul.mw.chaos.getStats().faults], [200, 1, 0]);
  await res.body?.cancel();
});

test("chaos: an enabled function answering a promise fails the call (never chaos on by mistake)", async () => {
  // A JavaScript caller passing routeChaos's async gate to chaos: a promise is truthy,
  // and before the fix every call was injected even when the gate said false.
  let calls = 0;
  const c = chaos({
    injectionRate: 1,
    fault: true,
    enabled: (() => Promise.resolve(false)) as unknown as () => boolean,
  });
  const e = await c.execute(() => ++calls).then(() => undefined, (e) => e);
  assert.ok(e instanceof TypeError, `a TypeError, got ${e}`);
  assert.match(e.message, /chaos: option 'enabled' .*promise/);
  assert.equal(calls, 0);
  const s = c.getStats();
  assert.deepEqual([s.calls, s.enabled, s.injected], [1, 0, 0]);
});
