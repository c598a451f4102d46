import assert from "node:assert/strict";
import fc from "fast-check";
import { circuitBreaker, compose, retry, retryBudget } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, recordingLogger, silent, test } from "./_harness.ts";

test("retryBudget: retries stay within ratio × attempts + minPerSecond × window", () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0.1, minPerSecond: 0, window: 1_000, clock });
  for (let i = 0; i < 100; i++) budget.recordAttempt();
  let granted = 0;
  for (let i = 0; i < 50; i++) if (budget.tryRetry()) granted++;
  assert.equal(granted, 10);
  assert.deepEqual(budget.getStats(), { attempts: 100, retries: 10, available: 0, refused: 40 });
  // First attempts are never refused, and each 10 more earn one retry.
  for (let i = 0; i < 10; i++) budget.recordAttempt();
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), false);
});

test("retryBudget: minPerSecond retries are always allowed, even with no traffic", () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 2, window: 5_000, clock });
  let granted = 0;
  for (let i = 0; i < 100; i++) if (budget.tryRetry()) granted++;
  assert.equal(granted, 10);
});

test("retryBudget: the window slides lazily and forgets everything after an idle gap", () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0.5, minPerSecond: 0, window: 1_000, clock });
  for (let i = 0; i < 10; i++) budget.recordAttempt();
  for (let i = 0; i < 5; i++) assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), false);
  clock.tick(999);
  assert.equal(budget.getStats().attempts, 10, "still inside the window");
  clock.tick(1);
  assert.deepEqual(budget.getStats(), { attempts: 0, retries: 0, available: 0, refused: 1 });
  for (let i = 0; i < 2; i++) budget.recordAttempt();
  assert.equal(budget.tryRetry(), true);
  clock.tick(3_600_000); // an hour of silence
  assert.deepEqual(budget.getStats().attempts, 0);
  assert.equal(clock.pending, 0, "no timers");
});

test("retry({ budget }): a spent budget stops retrying at once and rethrows the last error", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 0.1, window: 10_000, clock });
  const log = recordingLogger();
  let calls = 0;
  const policy = retry({
    maxAttempts: 5,
    initialDelay: 10,
    jitter: false,
    budget,
    clock,
    logger: log,
  });
  const failing = policy(function upstream() {
    calls++;
    throw new Error(`fail ${calls}`);
  });
  const p = failing().catch((e) => e);
  await clock.runAllAsync();
  const e = await p;
  assert.equal(e.message, "fail 2", "one retry (the reserve), then the last error");
  assert.equal(calls, 2);
  assert.ok(
    log.lines.some((l) => /Retry budget exhausted for upstream/.test(l)),
    log.lines.join("\n"),
  );
  // Another policy sharing the budget gets no retry either, but its first attempt runs.
  let other = 0;
  const q = retry({ maxAttempts: 3, budget, clock, logger: silent })(() => {
    other++;
    throw new Error("other");
  })().catch((e) => e);
  await clock.runAllAsync();
  assert.equal((await q).message, "other");
  assert.equal(other, 1);
});

test("retry({ budget }): under an outage retries add at most ratio to the traffic", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0.2, minPerSecond: 0, window: 10_000, clock });
  let upstream = 0;
  const call = retry({
    maxAttempts: 4,
    initialDelay: 1,
    jitter: false,
    budget,
    clock,
    logger: silent,
  })(
    () => {
      upstream++;
      throw new Error("down");
    },
  );
  const all = [];
  for (let i = 0; i < 500; i++) all.push(call().catch(() => {}));
  await clock.runAllAsync();
  await Promise.all(all);
  assert.equal(upstream, 600, "500 first attempts + 20% retries, not 2,000");
});

test("retry({ budget }): options are validated", () => {
  assert.throws(() => retry({ budget: {} as never }), /option 'budget' must be a RetryBudget/);
  const bad: [unknown, RegExp][] = [
    [{ ratio: -1 }, /'ratio'/],
    [{ ratio: NaN }, /'ratio'/],
    [{ minPerSecond: -1 }, /'minPerSecond'/],
    [{ window: 0 }, /'window'/],
    [{ windw: 10 }, /unknown option 'windw' \(did you mean 'window'\?\)/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => retryBudget(options as never), message, JSON.stringify(options));
  }
});

test("retryBudget: property — retries never exceed ratio × attempts + minPerSecond × seconds (model)", () => {
  type Op = { kind: "attempt" | "retry"; at: number };
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 2, noNaN: true }),
      fc.integer({ min: 0, max: 5 }),
      fc.integer({ min: 100, max: 5_000 }),
      fc.array(
        fc.record({
          kind: fc.constantFrom("attempt" as const, "retry" as const),
          at: fc.integer({ min: 0, max: 3_000 }),
        }),
        { maxLength: 200 },
      ),
      (ratio, minPerSecond, window, ops: Op[]) => {
        const clock = new FakeClock();
        const budget = retryBudget({ ratio, minPerSecond, window, clock });
        const bucket = window / 10;
        const log: { kind: "attempt" | "retry"; b: number }[] = [];
        let t = 0;
        for (const op of ops) {
          t += op.at;
          clock.tick(t - clock.now());
          const now = Math.floor(clock.now() / bucket);
          // Reference: counts over the last 10 buckets, from the full history.
          const inWindow = (k: string) =>
            log.filter((e) => e.kind === k && e.b > now - 10 && e.b <= now).length;
          const allowed = ratio * inWindow("attempt") + minPerSecond * window / 1000 -
            inWindow("retry");
          if (op.kind === "attempt") {
            budget.recordAttempt();
            log.push({ kind: "attempt", b: now });
          } else {
            const granted = budget.tryRetry();
            assert.equal(granted, allowed >= 1 - 1e-9, `retry at ${clock.now()}`);
            if (granted) {
              log.push({ kind: "retry", b: now });
              // With this retry, the window holds no more than the budget allows.
              assert.ok(
                inWindow("retry") <=
                  ratio * inWindow("attempt") + minPerSecond * window / 1000 + 1e-9,
                "budget exceeded",
              );
            }
          }
          assert.equal(budget.getStats().retries, inWindow("retry"));
          assert.equal(budget.getStats().attempts, inWindow("attempt"));
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("retry({ budget }): retries after an open circuit's refusal cost no budget", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 0.2, window: 10_000, clock });
  const breaker = circuitBreaker({ failureThreshold: 1, resetTimeout: 100, clock, logger: silent });
  await breaker.execute(() => Promise.reject(new Error("down"))).catch(() => {});
  let upstream = 0;
  const call = compose(
    retry({ maxAttempts: 5, initialDelay: 1, jitter: false, budget, clock, logger: silent }),
    breaker,
  )(async () => {
    upstream++;
    return "ok";
  });
  const p = call();
  await clock.runAllAsync();
  assert.equal(await p, "ok", "retry waited out the open circuit and the trial succeeded");
  assert.equal(upstream, 1);
  assert.equal(budget.getStats().retries, 0, "refusals by the open circuit were not charged");
});
