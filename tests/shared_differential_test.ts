// Local and shared are the same machine: random schedules (calls that succeed,
// fail, throw an excluded error, return a failing result, are cancelled by
// their caller, hang and settle later; clock steps; open, reset, isolate) run
// through a local breaker and through one instance over each store must give
// identical admissions, results, transitions with reasons, and stats. A fleet
// of instances over one store, kept in step, admits exactly what one local
// breaker fed the interleaved sequence admits.
import assert from "node:assert/strict";
import fc from "fast-check";
import { clearCircuitBreakers, MemoryStore, type SharedStore, systemClock } from "../mod.ts";
import type { FakeClock } from "../src/testing/mod.ts";
import { denoKvStore } from "../src/deno_kv/mod.ts";
import { MODES, run, schedules, type Step } from "./_differential.ts";
import { FC_RUNS, test } from "./_harness.ts";

const DENO = { runtimes: ["deno" as const], why: "Deno KV is Deno's own API" };

/** Local vs shared on `makeStore()`'s store, one instance, every mode. */
async function sameAsLocal(
  makeStore: (clock: FakeClock) => SharedStore,
  runs: number,
): Promise<void> {
  for (const [name, mode] of Object.entries(MODES)) {
    let key = 0;
    await fc.assert(
      fc.asyncProperty(schedules(1), async (steps: Step[]) => {
        clearCircuitBreakers();
        const local = await run(steps, mode, undefined, 1, true, "local");
        const shared = await run(steps, mode, makeStore, 1, true, `${name}-${key++}`);
        assert.deepEqual(shared, local, `${name} mode`);
      }),
      { numRuns: runs },
    );
  }
}

test("differential (MemoryStore): one shared instance is the local breaker — admissions, results, transitions, stats (3 modes, ≥ 1,000 runs each)", async () => {
  await sameAsLocal((clock) => new MemoryStore({ clock }), FC_RUNS);
});

test("differential (Deno KV): one shared instance is the local breaker (3 modes)", async () => {
  const kv = await (globalThis as unknown as { Deno: { openKv(p: string): Promise<Deno.Kv> } })
    .Deno.openKv(":memory:");
  try {
    // The store's time is the fake wall time; its contention backoff waits on real timers.
    const storeClock = (clock: FakeClock) => ({
      now: () => systemClock.now(),
      wallNow: () => clock.wallNow(),
      setTimeout: (fn: () => void, ms: number) => systemClock.setTimeout(fn, ms),
      clearTimeout: (h: unknown) => systemClock.clearTimeout(h as never),
    });
    await sameAsLocal(
      (clock) => denoKvStore(kv, { clock: storeClock(clock) }),
      Math.max(100, FC_RUNS / 4),
    );
  } finally {
    kv.close();
  }
}, DENO);

test("differential (MemoryStore): 3 instances kept in step admit what one local breaker fed the interleaved calls admits", async () => {
  for (const [name, mode] of Object.entries(MODES)) {
    let key = 0;
    await fc.assert(
      fc.asyncProperty(schedules(3), async (steps: Step[]) => {
        clearCircuitBreakers();
        // The local breaker gets every step, whichever instance it went to.
        const one = steps.map((s) => ("at" in s ? { ...s, at: 0 } : s)) as Step[];
        const local = await run(one, mode, undefined, 1, false, "local");
        const fleet = await run(
          steps,
          mode,
          (clock) => new MemoryStore({ clock }),
          3,
          false,
          `f${key++}`,
        );
        const calls = (t: string[]) => t.filter((l) => l.startsWith("call"));
        assert.deepEqual(calls(fleet), calls(local), `${name} mode`);
      }),
      { numRuns: FC_RUNS },
    );
  }
});
