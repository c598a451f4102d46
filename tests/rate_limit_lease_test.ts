// Leased shared rate limits under concurrency: concurrent takes of one key in
// one isolate share one lease request (the others take their own permit), so
// however many arrive at once an isolate never holds more than `lease − 1`
// extra permits, and a window admits at most `limit + isolates × (lease − 1)`.
import assert from "node:assert/strict";
import fc from "fast-check";
import { MemoryStore, rateLimiter } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, silent, test } from "./_harness.ts";

const INTERVAL = 1_000;

test("lease: concurrent takes in each isolate, random window edges — every fixed window admits at most limit + isolates × (lease − 1)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 2, max: 6 }),
      fc.integer({ min: 0, max: 14 }),
      fc.array(
        fc.record({
          isolate: fc.nat(2),
          concurrent: fc.integer({ min: 1, max: 8 }),
          advance: fc.integer({ min: 0, max: INTERVAL }),
        }),
        { minLength: 1, maxLength: 30 },
      ),
      async (isolates, lease, extraLimit, steps) => {
        const limit = lease + extraLimit;
        const clock = new FakeClock(0, 1_800_000_000_000); // a window edge
        const store = new MemoryStore({ clock });
        const limiters = Array.from({ length: isolates }, () =>
          rateLimiter({
            name: "leased",
            limit,
            interval: INTERVAL,
            algorithm: "fixed-window",
            clock,
            store,
            logger: silent,
            storeOptions: { lease, leaseTtl: INTERVAL },
          }));
        const perWindow = new Map<number, number>();
        for (const { isolate, concurrent, advance } of steps) {
          const l = limiters[isolate % isolates];
          const window = Math.floor(clock.wallNow() / INTERVAL);
          const answers = await Promise.all(
            Array.from({ length: concurrent }, () => l.take("k")),
          );
          const n = answers.filter((a) => a.allowed).length;
          perWindow.set(window, (perWindow.get(window) ?? 0) + n);
          await clock.tickAsync(advance);
        }
        for (const [w, n] of perWindow) {
          assert.ok(
            n <= limit + isolates * (lease - 1),
            `window ${w}: ${n} admitted > ${limit} + ${isolates} × ${lease - 1}`,
          );
        }
      },
    ),
    { numRuns: Math.min(FC_RUNS, 200) },
  );
});

test("lease: 8 concurrent takes find no leased permit — one asks the store for a batch, the 7 others for one permit each; the isolate keeps lease − 1", async () => {
  const clock = new FakeClock(0, 1_800_000_000_000);
  const store = new MemoryStore({ clock });
  const l = rateLimiter({
    limit: 100,
    interval: 60_000,
    algorithm: "fixed-window",
    clock,
    store,
    logger: silent,
    storeOptions: { lease: 5, leaseTtl: 60_000 },
  });
  const answers = await Promise.all(Array.from({ length: 8 }, () => l.take("k")));
  assert.ok(answers.every((a) => a.allowed));
  // 5 + 7 taken from the store; 4 held here.
  const peek = await l.peek("k");
  assert.equal(peek.remaining, 100 - 12);
  let fromLease = 0;
  const before = await l.peek("k");
  for (let i = 0; i < 4; i++) if ((await l.take("k")).allowed) fromLease++;
  assert.equal(fromLease, 4);
  assert.equal((await l.peek("k")).remaining, before.remaining, "the 4 came from the lease");
});
