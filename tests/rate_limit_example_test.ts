import assert from "node:assert/strict";
import { throttleDemo } from "../examples/throttle.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

test("examples/throttle.ts: 20 calls at once against a 5-per-500 ms quota — all served, no 429", async () => {
  const clock = new FakeClock();
  let done = false;
  const run = throttleDemo({ clock }).finally(() => (done = true));
  for (let i = 0; i < 1000 && !done; i++) await clock.tickAsync(10);
  const r = await run;
  assert.equal(r.served, 20);
  assert.equal(r.tooMany, 0);
  assert.ok(r.elapsed >= 1500 && r.elapsed <= 2500, `${r.elapsed}`);
  assert.equal(clock.pending, 0);
});
