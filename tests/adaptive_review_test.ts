// Defects found by reviewing issue #21's adaptive concurrency as a new user
// would, each with the test that failed before its fix.
import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  adaptiveConcurrency,
  type Clock,
  policies,
  subscribe,
  type TelemetryEvent,
} from "../mod.ts";
import { type ResilienceEnv, routeAdaptiveConcurrency, routeTimeout } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import fc from "fast-check";
import { deferred, FC_RUNS, silent, test } from "./_harness.ts";

test("routeAdaptiveConcurrency: a key that is not a non-empty string is a TypeError naming 'key'", async () => {
  for (const bad of [undefined, 42, null, ""]) {
    const mw = routeAdaptiveConcurrency({ key: () => bad as string, logger: silent });
    const a = new Hono();
    let seen: unknown;
    a.onError((e, c) => {
      seen = e;
      return c.text("error", 500);
    });
    a.get("/x", mw, (c) => c.text("ok"));
    const res = await a.request("/x");
    assert.equal(res.status, 500);
    await res.body?.cancel();
    assert.ok(seen instanceof TypeError, `a TypeError for ${String(bad)}, got ${seen}`);
    assert.equal(
      (seen as Error).message,
      `routeAdaptiveConcurrency: option 'key' must give a non-empty string, got ${
        JSON.stringify(bad)
      }`,
    );
    assert.deepEqual(mw.keys(), [], "no limiter made for it");
  }
});

test("routeAdaptiveConcurrency: behind an outer routeTimeout, a request queued past its deadline leaves the queue and never runs", async () => {
  // A global `app.use("*", routeTimeout(…))` puts the deadline outside the limiter. A
  // request still queued when it answers 504 must not take a slot later and run the
  // handler for nobody: that is the very work a limiter exists to shed.
  const clock = new FakeClock();
  const mw = routeAdaptiveConcurrency({
    initialLimit: 1,
    maxLimit: 1,
    maxQueue: 5,
    clock,
    logger: silent,
  });
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
  assert.equal(mw.limiter()!.getStats().queued, 1);
  await clock.tickAsync(100);
  assert.deepEqual([(await first).status, (await queued).status], [504, 504]);
  assert.equal(mw.limiter()!.getStats().queued, 0, "the queued request left at its deadline");
  await clock.tickAsync(1_000);
  assert.equal(runs, 1, "the handler ran for the first request only");
  const s = mw.limiter()!.getStats();
  assert.deepEqual([s.inFlight, s.queued, s.admitted, clock.pending], [0, 0, 1, 0]);
});

test("adaptiveConcurrency: a clock that is not a Clock is refused at construction, naming 'clock'", () => {
  for (const clock of [{}, { now: 5 }, { now: () => 0 }]) {
    for (
      const build of [
        () => adaptiveConcurrency({ clock: clock as unknown as Clock }),
        () => routeAdaptiveConcurrency({ clock: clock as unknown as Clock }),
      ]
    ) {
      assert.throws(build, (e: unknown) => {
        assert.ok(e instanceof TypeError);
        assert.match(
          e.message,
          /^adaptiveConcurrency: option 'clock' must be a Clock \(now, wallNow, setTimeout, clearTimeout\)/,
        );
        return true;
      });
    }
  }
  // A FakeClock, the system clock's shape, is accepted.
  assert.equal(adaptiveConcurrency({ clock: new FakeClock() }).getStats().limit, 20);
});

test("adaptiveConcurrency: a limit change event is frozen: one listener cannot change what the next one sees", async () => {
  const clock = new FakeClock();
  const seen: { to: number; frozen: boolean }[] = [];
  let assignment: unknown;
  const l = adaptiveConcurrency({
    initialLimit: 4,
    sampleWindow: 1,
    minSamples: 1,
    clock,
    logger: silent,
    onLimitChange: (e) => {
      try {
        (e as { to: number }).to = 999;
      } catch (err) {
        assignment = err;
      }
    },
  });
  l.onLimitChange((e) => seen.push({ to: e.to, frozen: Object.isFrozen(e) }));
  for (let i = 0; i < 5 && seen.length === 0; i++) {
    const calls = [1, 2, 3, 4, 5].map(() =>
      l.execute(() => new Promise<void>((r) => clock.setTimeout(r, 1))).catch(() => {})
    );
    await clock.tickAsync(1);
    await Promise.all(calls);
  }
  assert.ok(seen.length > 0, "the limit changed");
  assert.ok(assignment instanceof TypeError, "assigning to the event throws (strict code)");
  for (const s of seen) assert.deepEqual([s.to === 999, s.frozen], [false, true]);
});

test("adaptiveConcurrency: at high rates (untimed calls) a synchronous throw still rejects the call's own promise", async () => {
  // Past ~256 calls a window only one call in N is timed. An untimed call whose function threw
  // synchronously made `execute` throw instead of rejecting and, started from the queue, failed
  // the call that freed the slot with the waiter's error while the waiter never settled.
  const clock = new FakeClock();
  const l = adaptiveConcurrency({
    initialLimit: 2,
    minLimit: 2,
    maxLimit: 2,
    sampleWindow: 1,
    minSamples: 1,
    maxQueue: 10,
    probeInterval: 0,
    clock,
    logger: silent,
  });
  const busyWindow = async () => {
    for (let k = 0; k < 300; k++) await l.execute(() => k);
    clock.tick(1);
    await l.execute(() => "window ends");
  };
  await busyWindow();
  const direct: string[] = [];
  for (let i = 0; i < 8; i++) {
    let p: Promise<unknown>;
    try {
      p = l.execute(() => {
        throw new Error(`sync ${i}`);
      });
    } catch (e) {
      direct.push(`threw ${(e as Error).message}`);
      continue;
    }
    direct.push(await p.then(() => "ok", (e) => `rejected ${e.message}`));
  }
  assert.deepEqual(direct, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `rejected sync ${i}`));

  await busyWindow();
  const holder = deferred<string>();
  const held = l.execute(() => holder.promise);
  const never = deferred<string>();
  const other = l.execute(() => never.promise);
  const waiters = [1, 2, 3, 4, 5].map((i) =>
    l.execute(() => {
      throw new Error(`waiter ${i}`);
    }).then(() => "ok", (e) => `rejected ${e.message}`)
  );
  assert.equal(l.getStats().queued, 5);
  holder.resolve("holder's value");
  assert.equal(await held, "holder's value", "the call that freed the slot keeps its own result");
  assert.deepEqual(await Promise.all(waiters), [1, 2, 3, 4, 5].map((i) => `rejected waiter ${i}`));
  never.resolve("done");
  await other;
  const s = l.getStats();
  assert.deepEqual([s.inFlight, s.queued], [0, 0]);
});

test("adaptiveConcurrency: windows of zero latency (a coarse or frozen clock) never shrink the limit", async () => {
  // 0 ms calls are common where the clock does not move during a call (Workers between I/O, a
  // FakeClock, a cache hit on a 1 ms clock). The gradient computed 0 / 0 = NaN and the limit
  // fell to minLimit for good; Vegas grew by 1 instead of `beta` (no queue at all).
  for (const algorithm of ["gradient", "vegas"] as const) {
    const clock = new FakeClock();
    const changes: string[] = [];
    const l = adaptiveConcurrency({
      algorithm,
      initialLimit: 10,
      minLimit: 2,
      maxLimit: 100,
      sampleWindow: 1,
      minSamples: 1,
      probeInterval: 0,
      clock,
      logger: silent,
      onLimitChange: (e) => changes.push(`${e.reason} ${e.from}->${e.to}`),
    });
    for (let i = 0; i < 20; i++) {
      // More calls than the limit, all settling at once: the limit is what holds them back.
      await Promise.all(
        Array.from({ length: 15 }, () => l.execute(() => Promise.resolve(i)).catch(() => {})),
      );
      clock.tick(1);
    }
    assert.ok(changes.length > 0, `${algorithm}: the limit moved`);
    assert.ok(changes.every((c) => c.startsWith("increase")), `${algorithm}: ${changes}`);
    assert.ok(l.getStats().limit > 10, `${algorithm}: limit ${l.getStats().limit}`);
    if (algorithm === "vegas") assert.equal(changes[0], "increase 10->14", "no queue: + beta");
  }
});

test("adaptive property: a constant latency, whatever it is (0 included), never shrinks a limit that is reached", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("gradient" as const, "vegas" as const),
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 8 }),
      async (algorithm, latency, initialLimit, extra) => {
        const clock = new FakeClock();
        const changes: string[] = [];
        const l = adaptiveConcurrency({
          algorithm,
          initialLimit,
          maxLimit: 200,
          sampleWindow: 1,
          minSamples: 1,
          probeInterval: 0,
          clock,
          logger: silent,
          onLimitChange: (e) => changes.push(`${e.reason} ${e.from}->${e.to}`),
        });
        for (let i = 0; i < 12; i++) {
          const calls = Array.from(
            { length: l.getStats().limit + extra },
            () =>
              l.execute(() =>
                latency === 0
                  ? Promise.resolve()
                  : new Promise<void>((r) => clock.setTimeout(r, latency))
              ).catch(() => {}),
          );
          // Every call settles `latency` after it started (0: before the clock moves).
          if (latency === 0) {
            await Promise.all(calls);
            clock.tick(1);
          } else {
            clock.tick(latency);
            await Promise.all(calls);
          }
        }
        assert.deepEqual(changes.filter((c) => !c.startsWith("increase")), []);
        assert.equal(clock.pending, 0);
      },
    ),
    { numRuns: Math.min(FC_RUNS, 200) },
  );
});

test("routeAdaptiveConcurrency: with a key, building it makes no limiter (no ghost in policies() or the status page)", async () => {
  const events: TelemetryEvent[] = [];
  const stop = subscribe((e) => void events.push(e));
  try {
    const named = () =>
      [...policies("adaptiveConcurrency")].filter((p) => p.name.startsWith("ghost-check"));
    const mw = routeAdaptiveConcurrency({
      name: "ghost-check",
      key: (c) => c.req.header("x-tenant") ?? "none",
      logger: silent,
    });
    assert.deepEqual(named().map((p) => p.name), [], "validated, not built");
    assert.deepEqual(events.filter((e) => e.type === "policy.created"), []);
    // Bad options are still refused when the app is built.
    assert.throws(
      () => routeAdaptiveConcurrency({ name: "ghost-check", key: () => "k", minLimit: 0 }),
      /adaptiveConcurrency: option 'minLimit'/,
    );
    const a = new Hono();
    a.get("/x", mw, (c) => c.text("ok"));
    const res = await a.request("/x", { headers: { "x-tenant": "t1" } });
    await res.body?.cancel();
    assert.deepEqual(named().map((p) => p.name), ["ghost-check:t1"]);
  } finally {
    stop();
  }
});

test("adaptiveConcurrency: zero-latency windows set no no-load estimate of 0 (later real latencies are not an endless queue)", async () => {
  // A start on cache hits (0 ms on a coarse clock) made the estimate 0: every later window looked
  // infinitely queued and, under a load the limit holds back (so no window moves the estimate)
  // and without probes, the limit sank to minLimit for good.
  for (const algorithm of ["gradient", "vegas"] as const) {
    const clock = new FakeClock();
    const l = adaptiveConcurrency({
      algorithm,
      initialLimit: 10,
      minLimit: 2,
      maxLimit: 100,
      sampleWindow: 100,
      minSamples: 1,
      probeInterval: 0,
      clock,
      logger: silent,
    });
    // Window 1: zero-latency answers.
    await Promise.all(Array.from({ length: 5 }, () => l.execute(() => Promise.resolve(0))));
    clock.tick(100);
    // Then a steady 20 ms upstream, offered more calls than the limit (closed loop).
    const call = () =>
      l.execute(() => new Promise<void>((r) => clock.setTimeout(r, 20))).catch(() => {});
    let inFlight: Promise<void>[] = [];
    for (let t = 0; t < 100; t++) {
      const room = l.getStats().limit - l.getStats().inFlight;
      for (let i = 0; i < room + 2; i++) inFlight.push(call());
      await clock.tickAsync(10);
      inFlight = inFlight.slice(-500);
    }
    await clock.tickAsync(100);
    await Promise.all(inFlight);
    const s = l.getStats();
    assert.ok(s.limit >= 10, `${algorithm}: limit ${s.limit}, no-load ${s.noLoadLatency}`);
    assert.ok(s.noLoadLatency !== null && s.noLoadLatency > 0, `${algorithm}: ${s.noLoadLatency}`);
  }
});
