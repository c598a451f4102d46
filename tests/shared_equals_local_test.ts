// The seven ways a shared circuit used to differ from a local one (issue #17),
// each measured the way it was found, with and without a store.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerOptions,
  CircuitOpenError,
  clearCircuitBreakers,
  MemoryStore,
  parseSharedState,
  type SharedStore,
  type StateChangeEvent,
} from "../mod.ts";
import { CountWindow } from "../src/circuit_breaker/count_window.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, FC_RUNS, silent, test } from "./_harness.ts";
import { SlowStore } from "./_stores.ts";

const boom = () => Promise.reject(new Error("boom"));
class NotFound extends Error {}

/**
 * Calls arrive one per ms at an upstream that fails 1 ms later; how many reach
 * it with `failureThreshold: 5` (the store, if any, answers `latency` ms later).
 */
async function upstreamCalls(latency: number | undefined): Promise<number> {
  clearCircuitBreakers();
  const clock = new FakeClock();
  let calls = 0;
  const store = latency === undefined
    ? undefined
    : new SlowStore(new MemoryStore({ clock }), latency, clock);
  const b = circuitBreaker({
    failureThreshold: 5,
    resetTimeout: 60_000,
    clock,
    logger: silent,
    ...(store ? { store, storeKey: `lat-${latency}`, storeOptions: { timeout: 10_000 } } : {}),
  });
  const upstream = () => {
    calls++;
    return new Promise<never>((_, reject) => clock.setTimeout(() => reject(new Error("down")), 1));
  };
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < 300; i++) {
    all.push(b.execute(upstream).catch(() => {}));
    await clock.tickAsync(1);
  }
  await clock.tickAsync(1_000);
  await Promise.all(all);
  const done = b.flush();
  await clock.tickAsync(1_000);
  await done;
  return calls;
}

test("shared = local (1): an instance's own failures stop it as soon as a local breaker's would, whatever the store's latency", async () => {
  const local = await upstreamCalls(undefined);
  assert.equal(local, 5);
  const measured: Record<number, number> = {};
  for (const latency of [0, 5, 20, 50, 200]) measured[latency] = await upstreamCalls(latency);
  // Was 7 / 10 / 29 / 70 / 178 before the breaker applied its own outcomes at once.
  assert.deepEqual(measured, { 0: 5, 5: 5, 20: 5, 50: 5, 200: 5 });
});

function pair(store: SharedStore, clock: FakeClock, extra: CircuitBreakerOptions = {}) {
  clearCircuitBreakers();
  const events: Record<string, StateChangeEvent[]> = { a: [], b: [] };
  const mk = (name: "a" | "b") =>
    circuitBreaker({
      name,
      storeKey: "svc",
      store,
      clock,
      logger: silent,
      resetTimeout: 1_000,
      storeOptions: { refreshInterval: 100 },
      onStateChange: (e) => events[name].push(e),
      ...extra,
    });
  return { a: mk("a"), b: mk("b"), events };
}

test("shared = local (2): open() and reset() act on the shared circuit; every instance follows within its refresh", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const { a, b, events } = pair(store, clock);
  assert.equal(await b.execute(() => 1), 1);
  a.open();
  assert.equal(a.state, "open"); // at once, here
  await a.flush();
  let ran = 0;
  // b learns it at its next refresh (refreshInterval 100 ms), then fails fast too.
  clock.tick(101);
  await b.execute(() => ran++).catch(() => {});
  await b.flush();
  await assert.rejects(b.execute(() => ran++), CircuitOpenError);
  assert.ok(ran <= 1, `${ran} calls ran after open()`);
  assert.equal(b.state, "open");
  const bOpen = events.b.find((e) => e.to === "open")!;
  assert.equal(bOpen.reason, "manual_open");
  assert.equal(bOpen.remote, true);
  assert.equal(events.a.find((e) => e.to === "open")!.remote, false);
  // reset() on an OPEN shared circuit closes it for every instance, now.
  b.reset();
  assert.equal(b.state, "closed");
  await b.flush();
  clock.tick(101);
  // a's first call after its refresh interval is still decided by its copy; the refresh
  // it starts brings the reset.
  await a.execute(() => "a runs").catch(() => {});
  await a.flush();
  assert.equal(a.state, "closed");
  assert.equal(await a.execute(() => "a runs"), "a runs");
  assert.equal(events.a.at(-1)!.reason, "reset");
  assert.equal(parseSharedState(await readEntry(store, "svc")).state, "closed");
});

async function readEntry(store: MemoryStore, key: string): Promise<unknown> {
  return await store.run(`cb:${key}`, {
    type: "circuit",
    action: "sync",
    outcomes: [],
    config: { failureThreshold: 5, resetTimeout: 1_000, halfOpenMaxCalls: 3 },
  });
}

test("shared = local (2b): isolate() holds this instance; isolate({ scope: 'fleet' }) holds every instance until released", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const { a, b } = pair(store, clock);
  await a.execute(() => 1);
  await b.execute(() => 1);
  const mine = a.isolate();
  await assert.rejects(a.execute(() => 1), (e) => e instanceof CircuitOpenError && e.isolated);
  assert.equal(await b.execute(() => "b goes on"), "b goes on"); // instance scope
  mine();
  const fleet = b.isolate({ scope: "fleet" });
  await b.flush();
  clock.tick(101);
  await a.execute(() => 1).catch(() => {});
  await a.flush();
  for (const x of [a, b]) {
    await assert.rejects(x.execute(() => 1), (e) => e instanceof CircuitOpenError && e.isolated);
    assert.equal(x.getStats().timeUntilReset, null);
  }
  fleet();
  await b.flush();
  clock.tick(101);
  await a.execute(() => 1).catch(() => {});
  await a.flush();
  // Released: trial calls at once, then closed.
  for (let i = 0; i < 3; i++) await a.execute(() => i);
  assert.equal(a.state, "closed");
  assert.throws(
    () => circuitBreaker({ name: "alone" }).isolate({ scope: "fleet" }),
    /needs a breaker with a store/,
  );
});

async function halfOpenNeutral(makeStore: ((clock: FakeClock) => SharedStore) | undefined) {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = makeStore?.(clock);
  const b = circuitBreaker({
    failureThreshold: 1,
    halfOpenMaxCalls: 2,
    resetTimeout: 1_000,
    excludedErrors: [NotFound],
    isFailureResult: (v) => v === "bad",
    clock,
    logger: silent,
    ...(store ? { store: store, storeKey: "neutral", storeOptions: { refreshInterval: 0 } } : {}),
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  const states: string[] = [];
  // Two trials that throw an excluded error: neutral, the permits come back, nothing counted.
  for (let i = 0; i < 2; i++) {
    await assert.rejects(b.execute(() => Promise.reject(new NotFound("404"))), NotFound);
    await b.flush();
    states.push(b.state);
  }
  // A trial its caller cancels: neutral too.
  const ctl = new AbortController();
  const gate = deferred<string>();
  const p = b.execute(() => gate.promise, ctl.signal);
  await new Promise((r) => setTimeout(r, 0));
  ctl.abort(new Error("caller gave up"));
  gate.reject(new Error("aborted"));
  await assert.rejects(p);
  await b.flush();
  states.push(b.state);
  // A trial returning a failing result: a failure (reopens), and the value is still returned.
  assert.equal(await b.execute(() => "bad"), "bad");
  await b.flush();
  states.push(b.state);
  return states;
}

test("shared = local (3): excluded errors, caller aborts and failing results in half-open trials count the same with a store", async () => {
  const local = await halfOpenNeutral(undefined);
  assert.deepEqual(local, ["half_open", "half_open", "half_open", "open"]);
  assert.deepEqual(await halfOpenNeutral((clock) => new MemoryStore({ clock })), local);
});

test("shared = local (4): a success never resets a failure that happened after it (reports in any order)", async () => {
  for (
    const mode of [
      { failureThreshold: 2 },
      { failureRateThreshold: 1, windowCalls: 2, minimumThroughput: 2 },
    ] as CircuitBreakerOptions[]
  ) {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock });
    clearCircuitBreakers();
    const mk = (name: string, batchSize: number) =>
      circuitBreaker({
        name,
        storeKey: "order",
        store,
        clock,
        logger: silent,
        ...mode,
        storeOptions: { batchSize, refreshInterval: 60_000 },
      });
    const a = mk("a", 1);
    const b = mk("b", 50);
    await a.execute(() => 1);
    await a.flush();
    for (let i = 0; i < 5; i++) {
      assert.equal(await b.execute(() => i), i); // B's successes wait for a batch...
      clock.tick(1);
    }
    clock.tick(10);
    await assert.rejects(a.execute(boom)); // ...A fails (sent at once)...
    await a.flush();
    clock.tick(10);
    await assert.rejects(b.execute(boom)); // ...then B fails: its older successes arrive with it
    await b.flush();
    await a.flush();
    assert.equal(b.state, "open", JSON.stringify(mode));
    assert.equal(parseSharedState(await readEntry(store, "order")).state, "open");
  }
});

test("count window: an older call reported late is its oldest (model, ≥ 1,000 runs)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.record({ old: fc.boolean(), failed: fc.boolean(), slow: fc.boolean() }), {
        maxLength: 40,
      }),
      (size, ops) => {
        const w = new CountWindow(size);
        let model: { failed: boolean; slow: boolean }[] = [];
        for (const o of ops) {
          if (o.old) {
            w.addOldest(o.failed, o.slow);
            if (model.length < size) model = [o, ...model];
          } else {
            w.add(o.failed, o.slow, 0);
            model = [...model, o].slice(-size);
          }
          assert.equal(w.save(), model.map((c) => (c.failed ? 1 : 0) | (c.slow ? 2 : 0)).join(""));
          assert.equal(w.failures, model.filter((c) => c.failed).length);
          assert.equal(w.slowCalls, model.filter((c) => c.slow).length);
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("shared = local (5): a time window never trusts a fast clock beyond the skew allowance", async () => {
  const clock = new FakeClock();
  const fast = new FakeClock(0, clock.wallNow() + 3_600_000); // an hour ahead
  const entries = new Map<string, unknown>();
  // Deno KV's case: each process's own clock is the store's time for its operations.
  const stores = [new MemoryStore({ clock, entries }), new MemoryStore({ clock: fast, entries })];
  clearCircuitBreakers();
  const opts = {
    storeKey: "window",
    logger: silent,
    failureRateThreshold: 0.5,
    windowDuration: 10_000,
    windowBuckets: 10,
    minimumThroughput: 10,
    resetTimeout: 60_000, // skew allowance: 5 s
    storeOptions: { batchSize: 1, refreshInterval: 0 },
  };
  const ahead = circuitBreaker({ ...opts, name: "ahead", store: stores[1], clock: fast });
  const normal = circuitBreaker({ ...opts, name: "normal", store: stores[0], clock });
  for (let i = 0; i < 40; i++) await ahead.execute(() => i);
  await ahead.flush();
  await normal.execute(() => 1);
  await normal.flush();
  // The other instance waits out the window (and the allowance), then fails 10 times.
  clock.tick(10_000 + 5_000 + 1);
  for (let i = 0; i < 10; i++) await normal.execute(boom).catch(() => {});
  await normal.flush();
  assert.equal(normal.state, "open", JSON.stringify(normal.getStats().window));
  assert.ok(normal.getStats().window!.calls <= 11, JSON.stringify(normal.getStats().window));
});

async function hungTrial(
  makeStore: ((clock: FakeClock) => SharedStore) | undefined,
): Promise<number[]> {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = makeStore?.(clock);
  const b: CircuitBreaker = circuitBreaker({
    failureThreshold: 1,
    halfOpenMaxCalls: 1,
    resetTimeout: 60_000,
    clock,
    logger: silent,
    ...(store ? { store, storeKey: "hung", storeOptions: { refreshInterval: 0 } } : {}),
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(60_000);
  const hang = deferred<string>();
  const stuck = b.execute(() => hang.promise);
  await new Promise((r) => setTimeout(r, 0));
  const admittedAt: number[] = [];
  for (const step of [30_000, 29_999, 1]) {
    clock.tick(step);
    const r = await b.execute(() => "trial").catch((e) => e);
    if (r === "trial") admittedAt.push(clock.now() - 120_000);
    await b.flush();
  }
  hang.resolve("late");
  await stuck;
  await b.flush();
  return admittedAt;
}

test("shared = local (6, 7): a hung trial frees its permit exactly resetTimeout after it started, with and without a store", async () => {
  const local = await hungTrial(undefined);
  assert.deepEqual(local, [0]); // at 60 000 ms after the trial started, not a ms later
  assert.deepEqual(await hungTrial((clock) => new MemoryStore({ clock })), local);
});

test("options: storeKey, storeOptions and onStoreStatus without a store are refused, naming 'store'", () => {
  for (
    const o of [{ storeKey: "x" }, { storeOptions: {} }, { onStoreStatus: () => {} }]
  ) {
    assert.throws(
      () => circuitBreaker(o),
      (e) => e instanceof TypeError && /'store'/.test(e.message),
    );
  }
  assert.throws(
    () => circuitBreaker({ resetTimeout: 0, maxResetTimeout: 1000 }),
    (e) => e instanceof RangeError && /maxResetTimeout/.test(e.message),
  );
});

test("stats: rate-only mode reports its rates, no failureThreshold; past the open duration the counts of HALF_OPEN", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const b = circuitBreaker({
    failureRateThreshold: 0.5,
    windowCalls: 4,
    minimumThroughput: 4,
    resetTimeout: 1_000,
    clock,
    logger: silent,
  });
  for (let i = 0; i < 4; i++) await b.execute(boom).catch(() => {});
  let s = b.getStats();
  assert.equal(s.state, "open");
  assert.equal(s.failureThreshold, null);
  assert.deepEqual(s.rates, { minimumThroughput: 4, failureRateThreshold: 0.5, windowCalls: 4 });
  assert.equal(s.window!.calls, 4);
  assert.equal(s.lastTransition!.reason, "failure_rate");
  assert.equal(s.lastTransition!.to, "open");
  assert.equal(s.lastTransition!.at, clock.wallNow());
  clock.tick(1_000);
  s = b.getStats();
  assert.equal(s.state, "half_open");
  assert.equal(s.failureCount, 0);
  assert.equal(s.window!.calls, 0);
});
