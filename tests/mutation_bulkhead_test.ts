// Tests that would notice (issue #10): each one pins a behaviour of
// src/bulkhead.ts that a surviving mutant changed without any test failing.
// See docs/mutation-testing.md.
import assert from "node:assert/strict";
import { bulkhead, BulkheadRejectedError, retry } from "../mod.ts";
import { deferred, silent, test } from "./_harness.ts";

async function settle() {
  for (let i = 0; i < 20; i++) await null;
}

test("bulkhead: without a name it is called 'bulkhead' in stats and errors", async () => {
  const b = bulkhead({ maxConcurrent: 1 });
  assert.equal(b.name, "bulkhead");
  assert.equal(b.getStats().name, "bulkhead");
  const gate = deferred();
  const first = b.execute(() => gate.promise);
  const e = await b.execute(() => "never").catch((x) => x);
  assert.ok(e instanceof BulkheadRejectedError);
  assert.equal(e.bulkheadName, "bulkhead");
  assert.equal(e.message, "Bulkhead 'bulkhead' is full: 1 running and 0 queued");
  gate.resolve();
  await first;
});

test("bulkhead: a call queued by an attempt that has since been given up never starts", async () => {
  const b = bulkhead({ maxConcurrent: 1, maxQueue: 5 });
  const gate = deferred();
  const holder = b.execute(() => gate.promise);
  let ran = false;
  let queued: Promise<unknown> | undefined;
  const failure = new Error("attempt failed");
  // The attempt queues work in its context, then fails: retry aborts the attempt's context.
  const r = retry({ maxAttempts: 1, logger: silent }).execute(() => {
    queued = b.execute(() => (ran = true));
    queued.catch(() => {});
    throw failure;
  });
  await assert.rejects(r, (e) => e === failure);
  assert.equal(b.getStats().queued, 1);
  gate.resolve();
  await holder;
  await settle();
  await assert.rejects(queued!, (e) => e === failure);
  assert.equal(ran, false);
  assert.deepEqual(
    { ...b.getStats(), name: undefined },
    {
      name: undefined,
      running: 0,
      queued: 0,
      rejected: 0,
      lastRejectedAt: null,
      executed: 1,
      maxConcurrent: 1,
      maxQueue: 5,
    },
  );
  // The slot is free again.
  assert.equal(await b.execute(() => "next"), "next");
});

test("bulkhead: option messages name bulkhead and the option", () => {
  const M = Number.MAX_SAFE_INTEGER;
  const cases: [unknown, string, string][] = [
    [
      { maxConcurrent: 1, maxQueue: 1.5 },
      "RangeError",
      `bulkhead: option 'maxQueue' must be an integer >= 0 and <= ${M}, got 1.5`,
    ],
    [
      { maxConcurrent: 1, maxQueue: M + 2 },
      "RangeError",
      `bulkhead: option 'maxQueue' must be an integer >= 0 and <= ${M}, got ${M + 2}`,
    ],
    [
      { maxConcurrent: 1, clock: 5 },
      "TypeError",
      "bulkhead: option 'clock' must be an object, got 5",
    ],
    [
      { maxConcurrent: 0 },
      "RangeError",
      `bulkhead: option 'maxConcurrent' must be an integer >= 1 and <= ${M}, got 0`,
    ],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => bulkhead(options as never), { name, message });
  }
  // Large queues are fine.
  assert.equal(bulkhead({ maxConcurrent: 1, maxQueue: 2 ** 40 }).getStats().maxQueue, 2 ** 40);
});
