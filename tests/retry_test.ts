import assert from "node:assert/strict";
import fc from "fast-check";
import { retry, type RetryEvent } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { backoffDelay, type ResolvedBackoff } from "../src/backoff.ts";
import { FC_RUNS, recordingLogger, silent, test } from "./_harness.ts";

test("retry: succeeds first time without waiting or retrying", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const f = retry({ clock, logger: silent })(async (a: number, b: number) => {
    calls++;
    return a + b;
  });
  assert.equal(await f(2, 3), 5);
  assert.equal(calls, 1);
  assert.equal(clock.pending, 0);
});

test("retry: backoff schedule is initialDelay * factor^(n-1) without jitter", async () => {
  const clock = new FakeClock();
  const events: RetryEvent[] = [];
  const starts: number[] = [];
  const p = retry({
    clock,
    maxAttempts: 5,
    initialDelay: 1000,
    backoffFactor: 2,
    jitter: false,
    logger: silent,
    onRetry: (e) => events.push(e),
  }).execute(() => {
    starts.push(clock.now());
    throw new Error("down");
  });
  const done = p.catch((e) => e);
  await clock.tickAsync(20_000);
  const err = await done;
  assert.equal(err.message, "down");
  assert.deepEqual(starts, [0, 1000, 3000, 7000, 15000]);
  assert.deepEqual(events.map((e) => [e.attempt, e.delay]), [[1, 1000], [2, 2000], [3, 4000], [
    4,
    8000,
  ]]);
});

test("retry: maxDelay caps the delay", async () => {
  const clock = new FakeClock();
  const delays: number[] = [];
  const p = retry({
    clock,
    maxAttempts: 6,
    initialDelay: 1000,
    maxDelay: 3000,
    jitter: false,
    logger: silent,
    onRetry: (e) => delays.push(e.delay),
  }).execute(() => Promise.reject(new Error("x")));
  const done = p.catch(() => {});
  await clock.tickAsync(60_000);
  await done;
  assert.deepEqual(delays, [1000, 2000, 3000, 3000, 3000]);
});

test("retry: throws the original last error (same identity) after the last attempt", async () => {
  const errors = [new Error("a"), new Error("b"), new Error("c")];
  let i = 0;
  const log = recordingLogger();
  const f = retry({ initialDelay: 0, maxAttempts: 3, logger: log })(function fetchThing() {
    throw errors[i++];
  });
  await assert.rejects(f(), (e) => e === errors[2]);
  assert.deepEqual(log.lines, [
    "WARN Attempt 1/3 failed for fetchThing: Error: a. Retrying in 0.00s",
    "WARN Attempt 2/3 failed for fetchThing: Error: b. Retrying in 0.00s",
    "ERROR All 2 retries failed for fetchThing: Error: c",
  ]);
});

test("retry: non-retryable errors propagate at once", async () => {
  class Fatal extends Error {}
  let calls = 0;
  const f = retry({ initialDelay: 0, retryOn: [TypeError], logger: silent })(() => {
    calls++;
    throw new Fatal("no");
  });
  await assert.rejects(f(), Fatal);
  assert.equal(calls, 1);
  // A predicate works too, and a lone class is accepted.
  let calls2 = 0;
  await assert.rejects(
    retry({ initialDelay: 0, retryOn: TypeError as never, logger: silent })(() => {
      calls2++;
      throw new RangeError("r");
    })(),
    RangeError,
  );
  assert.equal(calls2, 1);
  let calls3 = 0;
  await assert.rejects(
    retry({ initialDelay: 0, retryOn: (e) => (e as Error).message === "again", logger: silent })(
      () => {
        calls3++;
        throw new Error(calls3 < 2 ? "again" : "stop");
      },
    )(),
    /stop/,
  );
  assert.equal(calls3, 2);
});

test("retry: retryOnResult retries on a value and returns the last value", async () => {
  let n = 0;
  const f = retry({
    initialDelay: 0,
    maxAttempts: 3,
    logger: silent,
    retryOnResult: (v) => v === 503,
  })(
    () => [503, 503, 200][n++],
  );
  assert.equal(await f(), 200);
  n = 0;
  const g = retry({ initialDelay: 0, maxAttempts: 2, logger: silent, retryOnResult: () => true })(
    () => ++n,
  );
  assert.equal(await g(), 2);
});

test("retry: the context gives the attempt number and a signal aborted on give-up", async () => {
  const signals: AbortSignal[] = [];
  const attempts: number[] = [];
  await assert.rejects(
    retry({ initialDelay: 0, maxAttempts: 3, logger: silent }).execute(({ signal, attempt }) => {
      signals.push(signal);
      attempts.push(attempt);
      throw new Error(`fail ${attempt}`);
    }),
  );
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.ok(signals.every((s) => s.aborted));
  assert.equal((signals[0].reason as Error).message, "fail 1");
});

test("retry: the signal of a successful attempt is not aborted", async () => {
  let seen: AbortSignal | undefined;
  await retry({ logger: silent }).execute(({ signal }) => {
    seen = signal;
    return 1;
  });
  assert.equal(seen!.aborted, false);
});

test("retry: caller abort cancels the backoff sleep at once", async () => {
  const clock = new FakeClock();
  const ctl = new AbortController();
  let calls = 0;
  const p = retry({ clock, initialDelay: 10_000, logger: silent }).execute(() => {
    calls++;
    throw new Error("x");
  }, ctl.signal);
  const done = p.catch((e) => e);
  await clock.tickAsync(1);
  assert.equal(clock.pending, 1);
  ctl.abort(new Error("caller gave up"));
  const e = await done;
  assert.equal((e as Error).message, "caller gave up");
  assert.equal(calls, 1);
  assert.equal(clock.pending, 0);
});

test("retry: an already aborted caller signal runs nothing", async () => {
  const ctl = new AbortController();
  ctl.abort(new Error("before"));
  let calls = 0;
  await assert.rejects(
    retry({ logger: silent }).execute(() => calls++, ctl.signal),
    /before/,
  );
  assert.equal(calls, 0);
});

test("retry: the caller's signal reaches the work and its abort stops retrying", async () => {
  const ctl = new AbortController();
  let calls = 0;
  const p = retry({ initialDelay: 0, maxAttempts: 5, logger: silent }).execute(({ signal }) => {
    calls++;
    return new Promise((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }, ctl.signal);
  await Promise.resolve();
  ctl.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
  assert.equal(calls, 1);
});

test("retry: wrapper keeps `this` and arguments; decorator works on methods", async () => {
  class Svc {
    factor = 3;
    calls = 0;
    @retry({ initialDelay: 0, logger: silent })
    async times(x: number): Promise<number> {
      if (++this.calls < 2) throw new Error("flaky");
      return x * this.factor;
    }
  }
  const s = new Svc();
  assert.equal(await s.times(5), 15);
  assert.equal(s.calls, 2);
});

const BACKOFF = fc.record({
  initialDelay: fc.integer({ min: 0, max: 10_000 }),
  backoffFactor: fc.double({ min: 1, max: 5, noNaN: true }),
  extra: fc.integer({ min: 0, max: 100_000 }),
  jitter: fc.constantFrom("none", "proportional", "full", "equal", "decorrelated") as fc.Arbitrary<
    ResolvedBackoff["jitter"]
  >,
  failed: fc.integer({ min: 1, max: 40 }),
  previous: fc.double({ min: 0, max: 200_000, noNaN: true }),
  r: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
});

test("retry: every jitter strategy stays within its bounds and never exceeds maxDelay", () => {
  fc.assert(
    fc.property(BACKOFF, ({ initialDelay, backoffFactor, extra, jitter, failed, previous, r }) => {
      const b: ResolvedBackoff = {
        initialDelay,
        backoffFactor,
        maxDelay: initialDelay + extra,
        jitter,
      };
      const d = backoffDelay(b, failed, previous, r);
      const base = Math.min(initialDelay * Math.pow(backoffFactor, failed - 1), b.maxDelay);
      assert.ok(d >= 0 && d <= b.maxDelay, `delay ${d} outside [0, ${b.maxDelay}]`);
      const eps = 1e-9 * Math.max(1, base);
      switch (jitter) {
        case "none":
          assert.equal(d, base);
          break;
        case "proportional":
          assert.ok(d >= base * 0.75 - eps && d <= Math.min(base * 1.25, b.maxDelay) + eps);
          break;
        case "full":
          assert.ok(d <= base + eps);
          break;
        case "equal":
          assert.ok(d >= base / 2 - eps && d <= base + eps);
          break;
        case "decorrelated":
          assert.ok(
            d >= Math.min(initialDelay, b.maxDelay) - eps &&
              d <= Math.max(initialDelay, previous * 3) + eps,
          );
      }
    }),
    { numRuns: FC_RUNS },
  );
});

test("retry: proportional jitter spans ±25% around the base delay", () => {
  const b: ResolvedBackoff = {
    initialDelay: 1000,
    backoffFactor: 2,
    maxDelay: 60_000,
    jitter: "proportional",
  };
  assert.equal(backoffDelay(b, 1, 0, 0), 750);
  assert.equal(backoffDelay(b, 2, 0, 0.5), 2000);
  assert.ok(Math.abs(backoffDelay(b, 3, 0, 0.999999) - 5000) < 0.01);
  // The cap holds after jitter (the seed could exceed maxDelay by 25%).
  assert.equal(backoffDelay({ ...b, maxDelay: 4000 }, 3, 0, 0.99), 4000);
});

test("retry: injected random drives the jitter seen by onRetry", async () => {
  const delays: number[] = [];
  const clock = new FakeClock();
  const p = retry({
    clock,
    maxAttempts: 3,
    initialDelay: 100,
    jitter: "full",
    random: () => 0.5,
    logger: silent,
    onRetry: (e) => delays.push(e.delay),
  }).execute(() => Promise.reject(new Error("x")));
  const done = p.catch(() => {});
  await clock.tickAsync(1000);
  await done;
  assert.deepEqual(delays, [50, 100]);
});

test("retry: delayHint replaces the backoff delay, capped by maxDelay", async () => {
  const delays: number[] = [];
  let n = 0;
  const f = retry({
    initialDelay: 0,
    maxDelay: 5,
    maxAttempts: 4,
    jitter: false,
    retryOnResult: (v) => v !== "ok",
    delayHint: ({ result }) => (result === "wait-3" ? 3 : result === "wait-long" ? 1e9 : undefined),
    onRetry: (e) => delays.push(e.delay),
  })(() => ["wait-3", "wait-long", "no-hint", "ok"][n++]);
  assert.equal(await f(), "ok");
  assert.deepEqual(delays, [3, 5, 0]);
});

const ALL_JITTERS = [true, false, "none", "proportional", "full", "equal", "decorrelated"] as const;

test("retry: no delay is ever NaN or Infinity, in every jitter mode (onRetry and log)", async () => {
  for (const jitter of ALL_JITTERS) {
    for (
      const [initialDelay, maxDelay, expect] of [
        [0, 60_000, (d: number) => d === 0],
        [1, 5_000, (d: number) => d >= 0 && d <= 5_000],
      ] as const
    ) {
      const delays: number[] = [];
      const log = recordingLogger();
      const clock = new FakeClock();
      const p = retry({
        clock,
        maxAttempts: 120, // 1000^119 overflows to Infinity
        initialDelay,
        maxDelay,
        backoffFactor: 1000,
        jitter,
        random: () => 0.999,
        logger: log,
        onRetry: (e) => delays.push(e.delay),
      }).execute(() => Promise.reject(new Error("down")));
      const done = p.catch(() => {});
      while (delays.length < 119) await clock.tickAsync(maxDelay);
      await clock.tickAsync(maxDelay); // the last wait
      await done;
      const bad = delays.filter((d) => !Number.isFinite(d) || !expect(d));
      assert.deepEqual(bad, [], `jitter ${jitter}, initialDelay ${initialDelay}`);
      assert.ok(
        log.lines.every((l) => !/NaN|Infinity/.test(l)),
        `jitter ${jitter}: ${log.lines.find((l) => /NaN|Infinity/.test(l))}`,
      );
    }
  }
});

test("retry: backoffDelay is finite for any attempt number, initialDelay 0 included", () => {
  fc.assert(
    fc.property(
      BACKOFF,
      fc.integer({ min: 1, max: 10_000 }),
      fc.double({ min: 1, max: 1000, noNaN: true }),
      (b, failed, backoffFactor) => {
        const r: ResolvedBackoff = { ...b, backoffFactor, maxDelay: b.initialDelay + b.extra };
        const d = backoffDelay(r, failed, Math.min(b.previous, r.maxDelay), b.r);
        assert.ok(Number.isFinite(d) && d >= 0 && d <= r.maxDelay, `delay ${d}`);
        if (b.initialDelay === 0 && r.jitter !== "decorrelated") assert.equal(d, 0);
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("retry: every jitter mode through retry() gives its own delays", async () => {
  const expected: Record<string, number[]> = {
    true: [87.5, 175, 350],
    proportional: [87.5, 175, 350],
    false: [100, 200, 400],
    none: [100, 200, 400],
    full: [25, 50, 100],
    equal: [62.5, 125, 250],
    // U[initialDelay, previous × 3]: 100 + (300 - 100) × 0.25, then from 150 × 3, …
    decorrelated: [150, 187.5, 215.625],
  };
  for (const jitter of ALL_JITTERS) {
    const delays: number[] = [];
    const clock = new FakeClock();
    const p = retry({
      clock,
      maxAttempts: 4,
      initialDelay: 100,
      jitter,
      random: () => 0.25,
      logger: silent,
      onRetry: (e) => delays.push(e.delay),
    }).execute(() => Promise.reject(new Error("x")));
    const done = p.catch(() => {});
    await clock.tickAsync(10_000);
    await done;
    assert.deepEqual(delays, expected[String(jitter)], `jitter ${jitter}`);
  }
});

test("retry: decorrelated jitter grows from one delay to the next", async () => {
  const delays: number[] = [];
  const clock = new FakeClock();
  const p = retry({
    clock,
    maxAttempts: 8,
    initialDelay: 100,
    maxDelay: 1e9,
    jitter: "decorrelated",
    random: () => 0.9,
    logger: silent,
    onRetry: (e) => delays.push(e.delay),
  }).execute(() => Promise.reject(new Error("x")));
  const done = p.catch(() => {});
  while (delays.length < 7) await clock.tickAsync(1e6);
  await done;
  for (let i = 1; i < delays.length; i++) assert.ok(delays[i] > delays[i - 1], `${delays}`);
  // Each is drawn from [100, previous × 3]: 100 + 0.9 × (3 × previous − 100).
  for (let i = 1; i < delays.length; i++) {
    assert.ok(Math.abs(delays[i] - (100 + 0.9 * (3 * delays[i - 1] - 100))) < 1e-6);
  }
  assert.ok(delays[6] > 50_000);
});

test("retry: negative, infinite, NaN and non-number delay hints are ignored", async () => {
  const delays: number[] = [];
  const hints: unknown[] = [-5, Infinity, NaN, "7", -Infinity];
  let n = 0;
  const f = retry({
    initialDelay: 1,
    maxAttempts: 6,
    jitter: false,
    logger: silent,
    delayHint: () => hints[n - 1] as number,
    onRetry: (e) => delays.push(e.delay),
  })(() => {
    if (++n < 6) throw new Error("x");
    return "ok";
  });
  assert.equal(await f(), "ok");
  assert.deepEqual(delays, [1, 2, 4, 8, 16]);
});

test("retry: the give-up message counts the retries made (none, one, several)", async () => {
  for (
    const [maxAttempts, line] of [
      [1, "ERROR No retries for op after 1 failure: Error: boom"],
      [2, "ERROR 1 retry failed for op: Error: boom"],
      [3, "ERROR All 2 retries failed for op: Error: boom"],
      [5, "ERROR All 4 retries failed for op: Error: boom"],
    ] as const
  ) {
    const log = recordingLogger();
    let calls = 0;
    await assert.rejects(
      retry({ maxAttempts, initialDelay: 0, logger: log, name: "op" })(() => {
        calls++;
        throw new Error("boom");
      })(),
      /boom/,
    );
    assert.equal(calls, maxAttempts);
    assert.equal(log.lines.at(-1), line);
    assert.equal(log.lines.length, maxAttempts, "one warn per retry, one error");
  }
});

test("retry: retryOn given one error class instead of an array works", async () => {
  class Flaky extends Error {}
  let n = 0;
  const f = retry({ retryOn: Flaky, initialDelay: 0, logger: silent })(() => {
    n++;
    throw n === 1 ? new Flaky("again") : new TypeError("fatal");
  });
  await assert.rejects(f(), TypeError);
  assert.equal(n, 2); // Flaky retried, TypeError thrown at once
});
