// Shared failure rates (issue #13): with an authoritative store the rate is
// over every instance's calls. Instances report outcomes in their batched
// reports (no round trip per call while CLOSED); the store keeps one window
// and trips it with the same rules as a local breaker.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  applyOutcomes,
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  initialSharedState,
  MemoryStore,
  type Outcome,
  parseSharedState,
  type SharedConfig,
} from "../mod.ts";
import { type DenoKvLike, denoKvStore } from "../src/deno_kv/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, recordingLogger, silent, test } from "./_harness.ts";
import { CountingStore } from "./_stores.ts";

const RATE = { failureRateThreshold: 0.3, windowCalls: 30, minimumThroughput: 30 };

function fleet(n: number, store: ConstructorParameters<typeof CountingStore>[0], extra = {}) {
  clearCircuitBreakers();
  return Array.from({ length: n }, (_, i) =>
    circuitBreaker({
      name: `isolate-${i}`,
      storeKey: "api",
      store,
      logger: silent,
      resetTimeout: 10_000,
      ...RATE,
      ...extra,
    }));
}

/** 30% errors spread evenly over the instances, round robin; returns the calls made. */
async function spread(bs: ReturnType<typeof fleet>, calls: number): Promise<number> {
  let made = 0;
  for (let i = 0; i < calls; i++) {
    const b = bs[i % bs.length];
    const fail = i % 10 === 1 || i % 10 === 4 || i % 10 === 7;
    const r = await b.execute(() => (fail ? Promise.reject(new Error("5xx")) : "ok")).catch((e) =>
      e
    );
    if (!(r instanceof CircuitOpenError)) made++;
  }
  for (const b of bs) await b.flush();
  return made;
}

test("shared rate (MemoryStore): 30% errors spread over 3 instances open the shared circuit though no instance has minimumThroughput", async () => {
  const clock = new FakeClock();
  const store = new CountingStore(new MemoryStore({ clock }));
  const logs = [recordingLogger(), recordingLogger(), recordingLogger()];
  const bs = fleet(3, store, { clock }).map((_, i) =>
    circuitBreaker({
      name: `logged-${i}`,
      storeKey: "api",
      store,
      clock,
      logger: logs[i],
      resetTimeout: 10_000,
      ...RATE,
    })
  );
  const made = await spread(bs, 30); // 10 calls per instance, 30 in the shared window
  assert.equal(made, 30);
  for (const b of bs) await b.flush(); // every view refreshed
  for (const b of bs) {
    assert.equal(b.state, "open", b.name);
    assert.ok(b.getStats().totalCalls <= 10); // none had minimumThroughput calls of its own
    await assert.rejects(b.execute(() => "never"), CircuitOpenError);
  }
  const w = bs[0].getStats().window;
  assert.equal(w?.calls, 30); // the window that tripped, as a local breaker keeps it while OPEN
  assert.equal(w?.failures, 9);
  assert.equal(bs[0].getStats().failureCount, 9);
  // No instance tripped on its own evidence: each says the shared circuit opened, and why.
  for (const l of logs) {
    assert.match(
      l.lines.join("\n"),
      /OPEN: failure rate at or above its threshold \(9 failures in the window\) \(shared circuit\)/,
    );
  }
  // Batched: far fewer store operations than calls (successes go in batches; failures at once).
  assert.ok(store.ops.acquire === 0, JSON.stringify(store.ops));

  // The same breakers without a store: each sees 10 calls, below minimumThroughput.
  clearCircuitBreakers();
  const local = Array.from(
    { length: 3 },
    (_, i) => circuitBreaker({ name: `local-${i}`, logger: silent, ...RATE }),
  );
  await spread(local as never, 30);
  for (const b of local) assert.equal(b.state, "closed");
});

test("shared rate: stats show the shared window while CLOSED; below the threshold it stays closed", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const bs = fleet(3, store, { clock, failureRateThreshold: 0.5 });
  await spread(bs, 60);
  for (const b of bs) await b.flush();
  for (const b of bs) assert.equal(b.state, "closed");
  const w = bs[1].getStats().window!;
  assert.equal(w.calls, 30); // the last 30 calls reported by all instances
  // Successes travel in batches (failures at once), so the store's "last 30" is in report
  // order: an instance's trailing successes may arrive after others' failures.
  assert.ok(w.failureRate >= 0.15 && w.failureRate <= 0.35, JSON.stringify(w));
  assert.equal(bs[1].getStats().failureCount, w.failures); // as a local rate breaker counts
  assert.deepEqual(JSON.parse(JSON.stringify(w)), w);
});

test("shared rate: half-open trials in rate mode, and growing open durations, in the store", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const [a, b] = fleet(2, store, {
    clock,
    failureRateThreshold: 0.5,
    windowCalls: 4,
    minimumThroughput: 4,
    halfOpenMaxCalls: 2,
    resetTimeout: 1000,
    maxResetTimeout: 3000,
  });
  const fail = () => Promise.reject(new Error("down"));
  for (const x of [a, b, a, b]) await x.execute(fail).catch(() => {});
  for (const x of [a, b]) await x.flush();
  assert.equal(a.state, "open");
  assert.equal(a.getStats().openDuration, 1000);
  clock.tick(1000);
  // Trials: one fails (1 of 2 = 50% ≥ 50%: reopen, certain), the duration doubles.
  await a.execute(fail).catch(() => {});
  await a.flush();
  await b.flush();
  assert.equal(b.state, "open");
  assert.equal(b.getStats().openDuration, 2000);
  assert.ok(b.getTimeUntilReset() > 1000);
  clock.tick(2000);
  assert.equal(await a.execute(() => "ok"), "ok");
  assert.equal(await b.execute(() => "ok"), "ok");
  for (const x of [a, b]) await x.flush();
  assert.equal(a.state, "closed");
  assert.equal(a.getStats().openDuration, 1000); // a close resets it
});

test("shared rate: applyOutcomes runs the local rules on the stored window (model, ≥ 1,000 runs)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }).map((p) => p / 100),
      fc.integer({ min: 1, max: 10 }),
      fc.array(fc.array(fc.record({ ok: fc.boolean(), slow: fc.boolean() }), { maxLength: 8 }), {
        maxLength: 12,
      }),
      (rate, size, batches) => {
        const cfg: SharedConfig = {
          failureThreshold: Number.MAX_SAFE_INTEGER,
          resetTimeout: 1000,
          halfOpenMaxCalls: 2,
          rates: {
            failureRateThreshold: rate,
            slowCallRateThreshold: 0.9,
            minimumThroughput: size,
            windowCalls: size,
          },
        };
        let s = initialSharedState();
        let seen: { ok: boolean; slow: boolean }[] = [];
        for (const batch of batches) {
          const outcomes: Outcome[] = batch.map((o) => ({ ...o, generation: s.generation }));
          // Stored and read back between batches, as every store does.
          s = parseSharedState(JSON.parse(JSON.stringify(applyOutcomes(s, outcomes, cfg, 0))));
          for (const o of batch) {
            if (seen === undefined) break;
            seen.push(o);
            const win = seen.slice(-size);
            const f = win.filter((x) => !x.ok).length;
            const sl = win.filter((x) => x.slow).length;
            if (win.length >= size && (f / win.length >= rate || sl / win.length >= 0.9)) {
              seen = undefined as never;
            }
          }
          if (seen === undefined) {
            assert.equal(s.state, "open");
            return;
          }
          assert.equal(s.state, "closed");
          assert.equal(
            String(s.window ?? "").length,
            seen.slice(-size).length,
          );
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

const DENO = { runtimes: ["deno" as const], why: "Deno KV (Deno.openKv)" };

test(
  "shared rate (Deno KV, by compare-and-set): 30% errors spread over 3 instances open the shared circuit",
  async () => {
    const kv = await (globalThis as unknown as {
      Deno: { openKv(p: string): Promise<DenoKvLike & { close(): void }> };
    }).Deno.openKv(":memory:");
    try {
      const bs = fleet(3, denoKvStore(kv));
      assert.equal(await spread(bs, 30), 30);
      for (const b of bs) await b.flush();
      for (const b of bs) {
        assert.equal(b.state, "open");
        assert.ok(b.getStats().totalCalls <= 10);
      }
    } finally {
      kv.close();
    }
  },
  DENO,
);

test("shared rate, time window: the store's buckets forget an idle gap (no stale failures), then trip on recent ones", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const bs = fleet(3, store, {
    clock,
    windowCalls: undefined,
    windowDuration: 10_000,
    minimumThroughput: 10,
    failureRateThreshold: 0.5,
  });
  const fail = () => Promise.reject(new Error("5xx"));
  for (let i = 0; i < 9; i++) await bs[i % 3].execute(fail).catch(() => {});
  for (const b of bs) await b.flush();
  assert.equal(bs[0].state, "closed"); // 9 calls: below minimumThroughput
  clock.tick(3_600_000); // an idle hour
  await bs[0].execute(fail).catch(() => {});
  for (const b of bs) await b.flush();
  assert.equal(bs[1].state, "closed"); // stale buckets would make it 10 of 10
  assert.equal(bs[1].getStats().window!.calls, 1);
  for (let i = 0; i < 9; i++) await bs[i % 3].execute(i % 2 ? fail : () => "ok").catch(() => {});
  for (const b of bs) await b.flush();
  assert.equal(bs[2].state, "open"); // 5 of 10 within 10 s, from three instances
});
