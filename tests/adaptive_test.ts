import assert from "node:assert/strict";
import {
  adaptiveConcurrency,
  AdaptiveConcurrencyRejectedError,
  type LimitChangeEvent,
  ResilienceError,
  ResilienceTimeoutError,
  retry,
  retryBudget,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, recordingLogger, silent, test } from "./_harness.ts";

type Limiter = ReturnType<typeof adaptiveConcurrency>;

/**
 * Rounds of saturating load: each round starts `limit` calls (all the limiter
 * admits) that end after `latency(round)` ms, as `outcome` says, and waits for
 * them on the fake clock.
 */
async function rounds(
  limiter: Limiter,
  clock: FakeClock,
  n: number,
  latency: (round: number) => number,
  outcome: "ok" | "fail" | "timeout" = "ok",
): Promise<void> {
  for (let r = 0; r < n; r++) {
    const ms = latency(r);
    const k = limiter.getStats().limit;
    const calls = Array.from(
      { length: k },
      () =>
        limiter.execute(() =>
          new Promise<void>((resolve, reject) =>
            clock.setTimeout(
              () =>
                outcome === "ok" ? resolve() : reject(
                  outcome === "fail" ? new Error("boom") : new ResilienceTimeoutError("up", ms),
                ),
              ms,
            )
          )
        ).catch(() => {}),
    );
    await clock.tickAsync(ms);
    await Promise.all(calls);
  }
}

test("adaptiveConcurrency: admits up to the limit, refuses beyond at once with a stackless error", async () => {
  const limiter = adaptiveConcurrency({ name: "db", initialLimit: 2 });
  const gate = deferred();
  const running = [limiter.execute(() => gate.promise), limiter.execute(() => gate.promise)];
  let ran = false;
  const e = await limiter.execute(() => (ran = true)).catch((e) => e);
  assert.equal(ran, false);
  assert.ok(e instanceof AdaptiveConcurrencyRejectedError);
  assert.ok(e instanceof ResilienceError);
  assert.ok(e instanceof Error);
  assert.equal(e.name, "AdaptiveConcurrencyRejectedError");
  assert.equal(e.limiterName, "db");
  assert.equal(e.limit, 2);
  assert.equal(e.inFlight, 2);
  assert.equal(e.reason, "limit");
  assert.equal(e.message, "Adaptive limiter 'db' is at its limit: 2 in flight, limit 2");
  assert.equal(e.stack, `AdaptiveConcurrencyRejectedError: ${e.message}`);
  const made = new AdaptiveConcurrencyRejectedError("x", 1, 1, "queue-timeout", { cause: e });
  assert.equal(made.name, "AdaptiveConcurrencyRejectedError");
  assert.equal(made.cause, e);
  assert.match(made.message, /waited too long/);
  assert.deepEqual(
    { ...limiter.getStats(), noLoadLatency: 0 },
    {
      name: "db",
      algorithm: "gradient",
      limit: 2,
      inFlight: 2,
      queued: 0,
      noLoadLatency: 0,
      latency: null,
      refused: 1,
      admitted: 2,
      probing: false,
    },
  );
  gate.resolve();
  await Promise.all(running);
  assert.equal(limiter.getStats().inFlight, 0);
  assert.equal(await limiter.execute(() => "again"), "again");
  // Wrapper and sync throws: the slot is freed however the call ends.
  const wrapped = limiter((a: number, b: number) => a + b);
  assert.equal(await wrapped(2, 3), 5);
  await assert.rejects(
    limiter.execute(() => {
      throw new TypeError("sync");
    }),
    TypeError,
  );
  assert.equal(limiter.getStats().inFlight, 0);
  assert.equal(JSON.parse(JSON.stringify(limiter.getStats())).limit, 2);
});

test("adaptiveConcurrency: the queue is FIFO, bounded, times out and is left on abort", async () => {
  const clock = new FakeClock();
  const limiter = adaptiveConcurrency({ initialLimit: 1, maxQueue: 2, queueTimeout: 1_000, clock });
  const order: number[] = [];
  const gate = deferred();
  const first = limiter.execute(() => gate.promise);
  const controller = new AbortController();
  const second = limiter.execute(() => order.push(2), controller.signal);
  const third = limiter.execute(() => order.push(3));
  const full = await limiter.execute(() => order.push(4)).catch((e) => e);
  assert.equal(full.reason, "queue-full");
  assert.equal(limiter.getStats().queued, 2);
  controller.abort(new Error("gone"));
  await assert.rejects(second, /gone/);
  assert.equal(limiter.getStats().queued, 1);
  gate.resolve();
  await first;
  await third;
  assert.deepEqual(order, [3]);
  // A queue timeout.
  const gate2 = deferred();
  const busy = limiter.execute(() => gate2.promise);
  const waiting = limiter.execute(() => "never").catch((e) => e);
  await clock.tickAsync(1_000);
  const late = await waiting;
  assert.ok(late instanceof AdaptiveConcurrencyRejectedError);
  assert.equal(late.reason, "queue-timeout");
  assert.equal(limiter.getStats().refused, 2);
  gate2.resolve();
  await busy;
  assert.equal(clock.pending, 0);
  assert.deepEqual([limiter.getStats().inFlight, limiter.getStats().queued], [0, 0]);
});

test("adaptiveConcurrency: grows while latency stays at the no-load level and the limit is reached", async () => {
  const clock = new FakeClock();
  const events: LimitChangeEvent[] = [];
  const limiter = adaptiveConcurrency({
    initialLimit: 10,
    clock,
    probeInterval: 0,
    onLimitChange: (e) => events.push(e),
    logger: silent,
  });
  await rounds(limiter, clock, 40, () => 50);
  const s = limiter.getStats();
  assert.ok(s.limit >= 25, `limit ${s.limit}`);
  assert.equal(s.noLoadLatency, 50);
  assert.equal(s.latency, 50);
  assert.ok(events.length > 3);
  assert.ok(events.every((e) => e.reason === "increase" && e.to > e.from && e.name === "adaptive"));
});

test("adaptiveConcurrency: shrinks as latency rises above the no-load level (both algorithms)", async () => {
  for (const algorithm of ["gradient", "vegas"] as const) {
    const clock = new FakeClock();
    const limiter = adaptiveConcurrency({ initialLimit: 40, algorithm, clock, probeInterval: 0 });
    await rounds(limiter, clock, 6, () => 50);
    const before = limiter.getStats().limit;
    // The upstream queues: latency proportional to the calls sent (capacity 10).
    await rounds(limiter, clock, 30, () => 50 * Math.max(1, limiter.getStats().limit / 10));
    const after = limiter.getStats();
    assert.ok(after.limit < before, `${algorithm}: ${before} -> ${after.limit}`);
    assert.ok(
      after.limit >= 8 && after.limit <= 15,
      `${algorithm}: settles near 10, got ${after.limit}`,
    );
    assert.equal(after.noLoadLatency, 50);
  }
});

test("adaptiveConcurrency: timeouts are strong congestion signals, the caller's cancellation no sample", async () => {
  const clock = new FakeClock();
  const limiter = adaptiveConcurrency({ initialLimit: 40, clock, probeInterval: 0 });
  await rounds(limiter, clock, 4, () => 50);
  const before = limiter.getStats().limit;
  await rounds(limiter, clock, 2, () => 50, "timeout"); // fast timeouts: still a signal
  assert.ok(
    limiter.getStats().limit <= Math.ceil(before / 2) + 4,
    `${before} -> ${limiter.getStats().limit}`,
  );

  // The caller aborts (not a timeout): no samples, no window, no change.
  const clock2 = new FakeClock();
  const quiet = adaptiveConcurrency({ initialLimit: 10, clock: clock2, probeInterval: 0 });
  for (let i = 0; i < 5; i++) {
    const controller = new AbortController();
    const calls = Array.from(
      { length: 10 },
      () =>
        quiet.execute(
          ({ signal }) =>
            new Promise((_, reject) =>
              signal.addEventListener("abort", () => reject(signal.reason))
            ),
          controller.signal,
        ).catch(() => {}),
    );
    await clock2.tickAsync(500);
    controller.abort(new Error("client left"));
    await Promise.all(calls);
  }
  assert.deepEqual([quiet.getStats().latency, quiet.getStats().limit], [null, 10]);
  // The caller's deadline (its signal aborted with a timeout) is a congestion signal.
  const controller = new AbortController();
  const calls = Array.from(
    { length: 10 },
    () =>
      quiet.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
        controller.signal,
      ).catch(() => {}),
  );
  await clock2.tickAsync(500);
  controller.abort(new ResilienceTimeoutError("call", 500));
  await Promise.all(calls);
  assert.equal(quiet.getStats().latency, 500);
  assert.ok(quiet.getStats().limit < 10);
});

test("adaptiveConcurrency: failures are samples but say nothing of the no-load latency", async () => {
  const clock = new FakeClock();
  const limiter = adaptiveConcurrency({ initialLimit: 10, clock, probeInterval: 0 });
  await rounds(limiter, clock, 3, () => 40, "fail");
  const s = limiter.getStats();
  assert.equal(s.latency, 40);
  assert.equal(s.noLoadLatency, null);
  await rounds(limiter, clock, 3, () => 60);
  assert.equal(limiter.getStats().noLoadLatency, 60);
});

test("adaptiveConcurrency: probes halve the limit for two windows; a slower upstream is re-measured at once", async () => {
  const clock = new FakeClock();
  const events: LimitChangeEvent[] = [];
  const limiter = adaptiveConcurrency({
    initialLimit: 20,
    maxLimit: 20,
    minSamples: 5,
    clock,
    probeInterval: 5_000,
    onLimitChange: (e) => events.push(e),
  });
  await rounds(limiter, clock, 8, () => 50);
  assert.equal(limiter.getStats().noLoadLatency, 50);
  const probe = events.find((e) => e.reason === "probe");
  assert.ok(probe, "a first probe at the first saturated window");
  assert.equal(probe.to, 10);
  assert.ok(events.some((e) => e.reason === "probe-end" && e.to === 20));
  // The upstream becomes slower for good (100 ms unloaded): the limit falls, latency does not,
  // so a probe comes before its time and learns it; the limit grows back.
  const at = events.length;
  await rounds(limiter, clock, 30, () => 100);
  assert.equal(limiter.getStats().noLoadLatency, 100);
  const probes = events.slice(at).filter((e) => e.reason === "probe");
  assert.equal(probes.length, 1);
  assert.ok(clock.now() < 5_000, "before the probe interval");
  // 20 -> 13 -> 9: halved, latency still 100 ms: a probe at the next window.
  assert.deepEqual(events.slice(at, at + 5).map((e) => e.reason), [
    "decrease",
    "decrease",
    "probe",
    "probe-end",
    "increase",
  ]);
  assert.ok(limiter.getStats().limit >= 10, `limit ${limiter.getStats().limit}`);
});

test("adaptiveConcurrency: limit transitions are logged, aggregated, and a throwing listener is logged", async () => {
  const clock = new FakeClock();
  const log = recordingLogger();
  const limiter = adaptiveConcurrency({
    name: "agg",
    initialLimit: 10,
    clock,
    probeInterval: 0,
    logger: log,
    onLimitChange: () => {
      throw new Error("listener");
    },
  });
  await rounds(limiter, clock, 20, () => 50);
  const limitLines = log.lines.filter((l) => l.includes(" -> "));
  assert.ok(limitLines.length >= 1);
  assert.match(
    limitLines[0],
    /^INFO Adaptive limiter 'agg' limit 10 -> \d+ \(increase; latency 50\.0ms, no-load 50\.0ms\)/,
  );
  assert.ok(
    log.lines.some((l) =>
      /^ERROR Adaptive limiter 'agg' limit listener threw: Error: listener/.test(l)
    ),
  );
  // Twenty windows of increases, far fewer lines (aggregated per interval).
  assert.ok(limitLines.length < 10, `${limitLines.length} lines`);
});

test("adaptiveConcurrency: a retry after a refusal costs no retry budget", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 0, clock });
  const limiter = adaptiveConcurrency({ initialLimit: 1, clock });
  const gate = deferred();
  const busy = limiter.execute(() => gate.promise);
  let attempts = 0;
  const p = retry({ maxAttempts: 3, initialDelay: 10, jitter: false, budget, clock }).execute(
    () => {
      attempts++;
      if (attempts === 2) gate.resolve();
      return limiter.execute(() => "ran");
    },
  );
  await clock.tickAsync(10);
  await busy;
  await clock.tickAsync(20);
  assert.equal(await p, "ran");
  assert.equal(budget.getStats().refused, 0);
});

test("adaptiveConcurrency: options are validated, naming the option", () => {
  const bad: [unknown, RegExp][] = [
    [{ initalLimit: 3 }, /unknown option 'initalLimit' \(did you mean 'initialLimit'\?\)/],
    [{ minLimit: 0 }, /option 'minLimit' must be an integer >= 1/],
    [
      { minLimit: 5, maxLimit: 4 },
      /option 'maxLimit' \(4\) must not be below option 'minLimit' \(5\)/,
    ],
    [{ initialLimit: 50, maxLimit: 40 }, /option 'initialLimit' must be an integer >= 1 and <= 40/],
    [{ initialLimit: 1.5 }, /option 'initialLimit'/],
    [{ algorithm: "reno" }, /option 'algorithm' must be "gradient", "vegas"/],
    [
      { algorithm: { type: "gradient", tolerence: 2 } },
      /algorithm: unknown option 'tolerence' \(did you mean 'tolerance'\?\)/,
    ],
    [
      { algorithm: { type: "gradient", tolerance: 0.5 } },
      /'tolerance' must be a finite number >= 1/,
    ],
    [{ algorithm: { type: "gradient", smoothing: 0 } }, /'smoothing' must be a finite number > 0/],
    [{ algorithm: { type: "vegas", alpha: 5, beta: 3 } }, /'beta' must be a finite number >= 5/],
    [{ algorithm: { type: "vegas", backoff: 1 } }, /'backoff'/],
    [{ algorithm: { type: "vegas", tolerance: 1 } }, /unknown option 'tolerance'/],
    [{ algorithm: null }, /option 'algorithm'/],
    [{ maxQueue: -1 }, /option 'maxQueue'/],
    [{ queueTimeout: NaN }, /option 'queueTimeout'/],
    [{ sampleWindow: 0 }, /option 'sampleWindow'/],
    [{ minSamples: 0 }, /option 'minSamples'/],
    [{ probeInterval: -1 }, /option 'probeInterval'/],
    [{ name: "" }, /option 'name'/],
    [{ clock: 1 }, /option 'clock'/],
    [{ onLimitChange: 1 }, /option 'onLimitChange'/],
    ["x", /options must be an object/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => adaptiveConcurrency(options as never), message, JSON.stringify(options));
  }
  assert.equal(adaptiveConcurrency({ minLimit: 30 }).getStats().limit, 30);
  assert.equal(adaptiveConcurrency({ maxLimit: 5 }).getStats().limit, 5);
  assert.equal(adaptiveConcurrency().name, "adaptive");
  assert.equal(adaptiveConcurrency({ algorithm: { type: "vegas" } }).getStats().algorithm, "vegas");
});

test("adaptiveConcurrency: at high rates one call in many is timed; untimed timeouts still count", async () => {
  const clock = new FakeClock();
  const limiter = adaptiveConcurrency({ initialLimit: 50, clock, probeInterval: 0 });
  let nowReads = 0;
  const counting = Object.assign(Object.create(clock), {
    now: () => (nowReads++, clock.now()),
  });
  const counted = adaptiveConcurrency({ initialLimit: 50, clock: counting, probeInterval: 0 });
  const reads: number[] = [];
  for (let w = 0; w < 5; w++) {
    const before = nowReads;
    for (let i = 0; i < 2_000; i++) {
      await limiter.execute(() => i);
      await counted.execute(() => i);
    }
    clock.tick(100);
    reads.push(nowReads - before);
  }
  // The first window times every call (two reads each); later ones about 128 calls.
  assert.ok(reads[0] >= 4_000, `${reads}`);
  for (const r of reads.slice(1)) assert.ok(r >= 2 * 100 && r <= 2 * 160, `${reads}`);
  assert.equal(counted.getStats().admitted, 10_000);
  assert.equal(counted.getStats().inFlight, 0);
  assert.equal(limiter.getStats().limit, 50);
  // Timeouts of untimed calls are congestion signals too.
  for (let i = 0; i < 2_000; i++) {
    await limiter.execute(() => Promise.reject(new ResilienceTimeoutError("up", 1))).catch(
      () => {},
    );
  }
  clock.tick(100);
  await limiter.execute(() => "closes the window");
  assert.ok(limiter.getStats().limit < 50, `limit ${limiter.getStats().limit}`);
});

test("adaptiveConcurrency: onLimitChange(listener) adds a listener and returns its removal", async () => {
  const clock = new FakeClock();
  const limiter = adaptiveConcurrency({ initialLimit: 10, clock, probeInterval: 0 });
  const seen: LimitChangeEvent[] = [];
  const stop = limiter.onLimitChange((e) => seen.push(e));
  assert.throws(() => limiter.onLimitChange(1 as never), /'listener' must be a function/);
  await rounds(limiter, clock, 6, () => 50);
  const n = seen.length;
  assert.ok(n >= 1);
  stop();
  await rounds(limiter, clock, 6, () => 50);
  assert.equal(seen.length, n);
});

test("adaptiveConcurrency: an aborted caller never starts; one that aborts while running frees its slot", async () => {
  const limiter = adaptiveConcurrency({ initialLimit: 1 });
  const gone = new AbortController();
  gone.abort(new Error("before"));
  let ran = false;
  await assert.rejects(limiter.execute(() => (ran = true), gone.signal), /before/);
  assert.equal(ran, false);
  assert.deepEqual([limiter.getStats().admitted, limiter.getStats().refused], [0, 0]);
  const during = new AbortController();
  const p = limiter.execute(
    ({ signal }) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    during.signal,
  );
  during.abort(new Error("during"));
  await assert.rejects(p, /during/);
  assert.equal(limiter.getStats().inFlight, 0);
  const after = new AbortController();
  assert.equal(await limiter.execute(() => "done", after.signal), "done");
  after.abort(new Error("after"));
  assert.deepEqual([limiter.getStats().inFlight, limiter.getStats().admitted], [0, 2]);
});

test("adaptiveConcurrency: with noisy latencies the no-load estimate is typical, not the luckiest window", async () => {
  const clock = new FakeClock();
  const limiter = adaptiveConcurrency({
    initialLimit: 20,
    clock,
    probeInterval: 0,
    minSamples: 5,
    sampleWindow: 1,
  });
  // Unqueued windows (5 calls at a time, the limit 20): medians alternate 40 and 60 ms.
  for (let w = 0; w < 20; w++) {
    const ms = w % 2 ? 60 : 40;
    const calls = Array.from(
      { length: 5 },
      () => limiter.execute(() => new Promise<void>((r) => clock.setTimeout(r, ms))),
    );
    await clock.tickAsync(100);
    await Promise.all(calls);
  }
  const noLoad = limiter.getStats().noLoadLatency!;
  assert.ok(noLoad > 44 && noLoad < 56, `estimate ${noLoad}`);
  // Saturated windows at 55 ms (within 10% of the estimate) are no congestion: the limit holds.
  await rounds(limiter, clock, 10, () => 55);
  assert.ok(limiter.getStats().limit >= 20, `limit ${limiter.getStats().limit}`);
});

test("adaptiveConcurrency: option combinations that would do nothing are refused, naming the option", async () => {
  const { adaptiveConcurrency: ac } = await import("../mod.ts");
  const { routeAdaptiveConcurrency } = await import("../src/hono/mod.ts");
  assert.throws(
    () => ac({ queueTimeout: 100 }),
    (e) => e instanceof TypeError && /'queueTimeout' needs 'maxQueue'/.test(e.message),
  );
  assert.throws(
    () => ac({ maxQueue: 5, queueTimeout: 0 }),
    (e) => e instanceof RangeError && /queueTimeout/.test(e.message),
  );
  assert.throws(
    () => routeAdaptiveConcurrency({ maxKeys: 5 }),
    (e) => e instanceof TypeError && /'maxKeys' needs option 'key'/.test(e.message),
  );
  ac({ maxQueue: 5, queueTimeout: 100 });
});
