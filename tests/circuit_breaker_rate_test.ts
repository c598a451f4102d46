// Breaker v2: failure-rate and slow-call windows, failures by result, growing
// open durations, half-open in rate mode, stats and validation.
import assert from "node:assert/strict";
import fc from "fast-check";
import { circuitBreaker, CircuitOpenError, CircuitState, type StateChangeEvent } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, recordingLogger, silent, test } from "./_harness.ts";

const ok = () => "ok";
const fail = () => {
  throw new Error("fail");
};
async function call(b: ReturnType<typeof circuitBreaker>, good: boolean): Promise<unknown> {
  return await b.execute(good ? ok : fail).catch((e) => e);
}

test("rate: 30% errors spread evenly open a rate breaker; the consecutive breaker never opens", async () => {
  const rate = circuitBreaker({
    failureRateThreshold: 0.25,
    windowCalls: 20,
    minimumThroughput: 10,
    logger: silent,
  });
  const consecutive = circuitBreaker({ failureThreshold: 2, logger: silent });
  for (let i = 0; i < 1000; i++) {
    const good = i % 10 !== 0 && i % 10 !== 4 && i % 10 !== 7; // 3 of every 10 fail
    await call(rate, good);
    await call(consecutive, good);
  }
  assert.equal(consecutive.state, CircuitState.CLOSED);
  assert.equal(rate.state, CircuitState.OPEN);
  const w = rate.getStats().window!;
  assert.ok(w.failureRate >= 0.25, JSON.stringify(w));
  assert.ok(w.calls >= 10);
});

test("rate: nothing trips below minimumThroughput; with failureRateThreshold alone a run of failures does not trip", async () => {
  const b = circuitBreaker({ failureRateThreshold: 0.5, windowCalls: 100, minimumThroughput: 30 });
  for (let i = 0; i < 29; i++) await call(b, false);
  assert.equal(b.state, CircuitState.CLOSED);
  assert.deepEqual(b.getStats().window, {
    calls: 29,
    failures: 29,
    slowCalls: 0,
    failureRate: 1,
    slowCallRate: 0,
  });
  await call(b, false);
  assert.equal(b.state, CircuitState.OPEN);
});

test("rate: with failureThreshold too, either trips (the run of failures before the throughput)", async () => {
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    failureThreshold: 3,
    failureRateThreshold: 0.9,
    windowCalls: 100,
    minimumThroughput: 50,
    onStateChange: (e) => events.push(e),
  });
  for (let i = 0; i < 3; i++) await call(b, false);
  assert.equal(b.state, CircuitState.OPEN);
  assert.equal(events[0].reason, "failure_threshold");
});

test("rate: the time window forgets failures after an idle gap (no stale buckets)", async () => {
  const clock = new FakeClock();
  const log = recordingLogger();
  const b = circuitBreaker({
    failureRateThreshold: 0.5,
    windowDuration: 10_000,
    minimumThroughput: 10,
    clock,
    logger: log,
  });
  for (let i = 0; i < 9; i++) await call(b, false); // 9 failures: one short of the throughput
  clock.tick(3_600_000); // an idle hour
  await call(b, false); // with stale buckets, 10 of 10 failed: it would open
  assert.equal(b.state, CircuitState.CLOSED);
  assert.equal(b.getStats().window!.calls, 1);
  for (let i = 0; i < 9; i++) await call(b, i % 2 === 0);
  assert.equal(b.state, CircuitState.OPEN); // 5 of 10 within 10 s
  assert.match(log.lines.join("\n"), /OPEN: failure rate at or above its threshold \(5 failures/);
});

test("rate: the time window reads the clock lazily, and the stats roll with it", async () => {
  const clock = new FakeClock();
  const b = circuitBreaker({
    failureRateThreshold: 1,
    windowDuration: 1000,
    windowBuckets: 4,
    clock,
  });
  await call(b, true);
  clock.tick(500);
  await call(b, false);
  assert.equal(b.getStats().window!.calls, 2);
  clock.tick(600); // the first call's bucket (0-250) has left
  assert.deepEqual(b.getStats().window, {
    calls: 1,
    failures: 1,
    slowCalls: 0,
    failureRate: 1,
    slowCallRate: 1 - 1,
  });
  clock.tick(10_000);
  const s = b.getStats();
  assert.equal(JSON.stringify(JSON.parse(JSON.stringify(s))), JSON.stringify(s));
  assert.deepEqual(s.window, {
    calls: 0,
    failures: 0,
    slowCalls: 0,
    failureRate: 0,
    slowCallRate: 0,
  });
});

test("slow calls: slow successes open the circuit by slow-call rate; fast ones do not count", async () => {
  const clock = new FakeClock();
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    slowCallDuration: 100,
    slowCallRateThreshold: 0.5,
    windowCalls: 10,
    minimumThroughput: 4,
    clock,
    onStateChange: (e) => events.push(e),
  });
  const slow = async (ms: number) => {
    const p = b.execute(() => new Promise((r) => clock.setTimeout(() => r("done"), ms)));
    await clock.tickAsync(ms);
    return await p;
  };
  assert.equal(await slow(99), "done");
  assert.equal(await slow(100), "done"); // at least slowCallDuration: slow
  assert.equal(await slow(10), "done");
  assert.equal(b.state, CircuitState.CLOSED);
  assert.equal(b.getStats().window!.slowCalls, 1);
  await slow(500); // 2 of 4 slow
  assert.equal(b.state, CircuitState.OPEN);
  assert.equal(events[0].reason, "slow_call_rate");
  assert.equal(b.getStats().totalFailures, 0);
});

test("slow calls: a slow failure counts as slow and as a failure; a slow trial reopens", async () => {
  const clock = new FakeClock();
  const b = circuitBreaker({
    failureRateThreshold: 1,
    slowCallDuration: 50,
    slowCallRateThreshold: 1,
    windowCalls: 4,
    minimumThroughput: 1,
    resetTimeout: 1000,
    halfOpenMaxCalls: 1,
    clock,
  });
  const p = b.execute(() =>
    new Promise((_, reject) => clock.setTimeout(() => reject(new Error("late fail")), 60))
  ).catch((e) => e);
  await clock.tickAsync(60);
  assert.match(String(await p), /late fail/);
  assert.equal(b.state, CircuitState.OPEN);
  clock.tick(1000);
  const trial = b.execute(() => new Promise((r) => clock.setTimeout(() => r("slow ok"), 80)));
  await clock.tickAsync(80);
  assert.equal(await trial, "slow ok");
  assert.equal(b.state, CircuitState.OPEN); // the one trial was slow: 100% ≥ 100%
});

test("isFailureResult: a returned value counts as a failure and is still returned", async () => {
  const b = circuitBreaker({
    failureThreshold: 2,
    isFailureResult: (v) => (v as { status: number }).status >= 500,
  });
  const r1 = await b.execute(() => ({ status: 503 }));
  assert.deepEqual(r1, { status: 503 });
  assert.equal(b.getStats().failureCount, 1);
  await b.execute(() => ({ status: 200 }));
  assert.equal(b.getStats().failureCount, 0);
  await b.execute(() => Promise.resolve({ status: 500 }));
  const r2 = await b.execute(() => ({ status: 502 }));
  assert.deepEqual(r2, { status: 502 });
  assert.equal(b.state, CircuitState.OPEN);
  assert.equal(b.getStats().totalFailures, 3);
  assert.ok((await b.execute(() => ({ status: 200 })).catch((e) => e)) instanceof CircuitOpenError);
});

test("isFailureResult: in rate mode, and for half-open trials", async () => {
  const clock = new FakeClock();
  const b = circuitBreaker({
    failureRateThreshold: 0.5,
    windowCalls: 4,
    minimumThroughput: 4,
    halfOpenMaxCalls: 2,
    resetTimeout: 100,
    isFailureResult: (v) => v === "bad",
    clock,
  });
  for (const v of ["bad", "good", "bad", "good"]) assert.equal(await b.execute(() => v), v);
  assert.equal(b.state, CircuitState.OPEN);
  clock.tick(100);
  assert.equal(await b.execute(() => "bad"), "bad");
  assert.equal(b.state, CircuitState.OPEN); // 1 of 2 trials failed: 50% ≥ 50%, certain
});

test("half-open in rate mode: the trials' failure rate below the threshold closes, at or above reopens", async () => {
  const clock = new FakeClock();
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    failureRateThreshold: 0.5,
    windowCalls: 10,
    minimumThroughput: 2,
    halfOpenMaxCalls: 4,
    resetTimeout: 1000,
    clock,
    onStateChange: (e) => events.push(e),
  });
  await call(b, false);
  await call(b, false);
  assert.equal(b.state, CircuitState.OPEN);
  clock.tick(1000);
  // One failed trial of four: 25% < 50%. The consecutive rule would reopen at once.
  for (const good of [true, false, true]) await call(b, good);
  assert.equal(b.state, CircuitState.HALF_OPEN);
  await call(b, true);
  assert.equal(b.state, CircuitState.CLOSED);
  assert.equal(b.getStats().window!.calls, 0); // a close starts a fresh window
  await call(b, false);
  await call(b, false);
  clock.tick(1000);
  await call(b, false);
  assert.equal(b.state, CircuitState.HALF_OPEN);
  await call(b, false); // 2 of 4 failed: 50%, certain before the other two
  assert.equal(b.state, CircuitState.OPEN);
  assert.deepEqual(events.map((e) => e.reason), [
    "failure_rate",
    "reset_timeout",
    "recovered",
    "failure_rate",
    "reset_timeout",
    "half_open_failure",
  ]);
});

test("maxResetTimeout: each reopening from HALF_OPEN doubles the open duration up to it; a close resets it", async () => {
  const clock = new FakeClock();
  const b = circuitBreaker({
    failureThreshold: 1,
    resetTimeout: 1000,
    maxResetTimeout: 3500,
    halfOpenMaxCalls: 1,
    clock,
  });
  await call(b, false);
  assert.equal(b.getTimeUntilReset(), 1000);
  const durations = [];
  for (let i = 0; i < 4; i++) {
    clock.tick(b.getTimeUntilReset());
    await call(b, false); // a failed trial
    durations.push(b.getTimeUntilReset());
    assert.equal(b.getStats().openDuration, durations.at(-1));
  }
  assert.deepEqual(durations, [2000, 3500, 3500, 3500]);
  clock.tick(1000);
  assert.ok((await call(b, true)) instanceof CircuitOpenError); // still open: 3500 in force
  clock.tick(2500);
  await call(b, true); // the trial succeeds: closed, back to resetTimeout
  assert.equal(b.state, CircuitState.CLOSED);
  assert.equal(b.getStats().openDuration, 1000);
  await call(b, false);
  assert.equal(b.getTimeUntilReset(), 1000);
  // Without maxResetTimeout the duration never grows.
  const plain = circuitBreaker({
    failureThreshold: 1,
    resetTimeout: 1000,
    halfOpenMaxCalls: 1,
    clock,
  });
  await call(plain, false);
  clock.tick(1000);
  await call(plain, false);
  assert.equal(plain.getTimeUntilReset(), 1000);
});

test("validation: rates outside (0, 1], both window kinds, options that need another one; defaults", async () => {
  const bad: [Record<string, unknown>, RegExp, typeof TypeError][] = [
    [{ failureRateThreshold: 0 }, /'failureRateThreshold'.*> 0 and <= 1, got 0/, RangeError],
    [{ failureRateThreshold: 1.2 }, /'failureRateThreshold'/, RangeError],
    [
      { failureRateThreshold: 0.5, windowCalls: 10, windowDuration: 1000 },
      /'windowCalls'.*'windowDuration'.*exclude each other/,
      TypeError,
    ],
    [
      { windowCalls: 10 },
      /'windowCalls' needs 'failureRateThreshold' or 'slowCallRateThreshold'/,
      TypeError,
    ],
    [{ windowDuration: 10 }, /'windowDuration' needs/, TypeError],
    [{ minimumThroughput: 10 }, /'minimumThroughput' needs/, TypeError],
    [
      { failureRateThreshold: 0.5, windowCalls: 10, windowBuckets: 5 },
      /'windowBuckets' needs 'windowDuration'/,
      TypeError,
    ],
    [
      { failureRateThreshold: 0.5, windowCalls: 10, minimumThroughput: 11 },
      /'minimumThroughput' \(11\) is larger than 'windowCalls' \(10\)/,
      RangeError,
    ],
    [{ slowCallRateThreshold: 0.5 }, /'slowCallRateThreshold' needs 'slowCallDuration'/, TypeError],
    [{ slowCallDuration: 100 }, /'slowCallDuration' needs 'slowCallRateThreshold'/, TypeError],
    [
      { resetTimeout: 1000, maxResetTimeout: 500 },
      /'maxResetTimeout' must be .*>= 1000/,
      RangeError,
    ],
  ];
  for (const [o, message, Class] of bad) {
    assert.throws(
      () => circuitBreaker(o),
      (e) => e instanceof Class && message.test((e as Error).message),
      JSON.stringify(o),
    );
  }
  // Defaults: the last 100 calls, 20 calls at least (or the whole window if smaller).
  const b = circuitBreaker({ failureRateThreshold: 0.5, logger: silent });
  assert.deepEqual(b.getStats().window, {
    calls: 0,
    failures: 0,
    slowCalls: 0,
    failureRate: 0,
    slowCallRate: 0,
  });
  assert.equal(b.getStats().openDuration, 60_000);
  assert.equal(circuitBreaker().getStats().window, undefined);
  for (let i = 0; i < 150; i++) await call(b, true);
  assert.equal(b.getStats().window!.calls, 100);
  for (let i = 0; i < 49; i++) await call(b, false);
  assert.equal(b.state, CircuitState.CLOSED); // 49 of the last 100
  await call(b, false);
  assert.equal(b.state, CircuitState.OPEN); // 50 of the last 100
  const small = circuitBreaker({ failureRateThreshold: 1, windowCalls: 5, logger: silent });
  for (let i = 0; i < 4; i++) await call(small, false);
  assert.equal(small.state, CircuitState.CLOSED);
  await call(small, false);
  assert.equal(small.state, CircuitState.OPEN);
});

// A model of the breaker in rate mode (count window, sequential calls): the
// rate trip, the half-open verdict of the trials, and growing open durations.
test("rate mode model: trips, half-open verdicts and growing open durations (≥ 1,000 runs)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 100 }).map((p) => p / 100),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 0, max: 3 }),
      fc.array(
        fc.oneof(
          fc.record({ ok: fc.boolean() }),
          fc.record({ tick: fc.integer({ min: 0, max: 2500 }) }),
        ),
        { maxLength: 80 },
      ),
      async (rate, size, minRaw, maxHalf, growth, cmds) => {
        const min = Math.min(minRaw, size);
        const reset = 100;
        const maxReset = reset * 2 ** growth;
        const clock = new FakeClock();
        const b = circuitBreaker({
          failureRateThreshold: rate,
          windowCalls: size,
          minimumThroughput: min,
          halfOpenMaxCalls: maxHalf,
          resetTimeout: reset,
          maxResetTimeout: maxReset,
          clock,
          logger: silent,
        });
        // The model.
        let state = "closed" as "closed" | "open" | "half_open";
        let win: boolean[] = [];
        let trials: boolean[] = [];
        let openedAt = 0;
        let openFor = reset;
        let now = 0;
        const open = (fromHalf: boolean) => {
          state = "open";
          if (fromHalf) openFor = Math.min(openFor * 2, maxReset);
          openedAt = now;
        };
        for (const c of cmds) {
          if ("tick" in c) {
            clock.tick(c.tick);
            now += c.tick;
            continue;
          }
          if (state === "open" && now - openedAt >= openFor) {
            state = "half_open";
            trials = [];
          }
          const admitted = state !== "open";
          const r = await call(b, c.ok);
          assert.equal(!(r instanceof CircuitOpenError), admitted);
          if (!admitted) continue;
          if (state === "closed") {
            win = [...win, !c.ok].slice(-size);
            const f = win.filter((x) => x).length;
            if (win.length >= min && f / win.length >= rate) open(false);
          } else {
            trials.push(!c.ok);
            const f = trials.filter((x) => x).length;
            if (f / maxHalf >= rate) open(true);
            else if (trials.length >= maxHalf) {
              state = "closed";
              win = [];
              openFor = reset;
            }
          }
          const s = b.getStats();
          const view = state === "open" && now - openedAt >= openFor ? "half_open" : state;
          assert.equal(s.state, view);
          assert.equal(s.openDuration, openFor);
          if (state === "closed") assert.equal(s.window!.calls, win.length);
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});
