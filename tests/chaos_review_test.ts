// Defects found by reviewing issue #21's fault injection as a new user would
// (chaos and routeChaos), each with the test that failed before its fix.
import assert from "node:assert/strict";
import { chaos } from "../mod.ts";
import { test } from "./_harness.ts";

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
