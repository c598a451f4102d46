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
