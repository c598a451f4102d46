// Tests that would notice (issue #10): each one pins a behaviour of
// src/retry_budget.ts that a surviving mutant changed without any test failing.
// See docs/mutation-testing.md.
import assert from "node:assert/strict";
import { type Clock, retryBudget } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

/** A clock whose time the test sets, backwards included (only `now` is read). */
function manualClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    wallNow: () => c.t,
    setTimeout: () => {
      throw new Error("no timers expected");
    },
    clearTimeout: () => {},
  };
  return c;
}

test("retryBudget: a budget made late in the clock's life slides its window like any other", () => {
  const clock = new FakeClock(5_000_000);
  const budget = retryBudget({ ratio: 0.5, minPerSecond: 0, window: 1_000, clock });
  for (let i = 0; i < 10; i++) budget.recordAttempt();
  assert.equal(budget.tryRetry(), true);
  assert.deepEqual(budget.getStats(), { attempts: 10, retries: 1, available: 4, refused: 0 });
  clock.tick(1_000);
  assert.deepEqual(budget.getStats(), { attempts: 0, retries: 0, available: 0, refused: 0 });
});

test("retryBudget: a clock stepping backwards loses no counts", () => {
  const clock = manualClock();
  const budget = retryBudget({ ratio: 0.5, minPerSecond: 0, window: 1_000, clock });
  clock.t = 500;
  for (let i = 0; i < 10; i++) budget.recordAttempt();
  clock.t = 200; // the clock steps back 300 ms
  budget.recordAttempt();
  clock.t = 500;
  assert.equal(budget.getStats().attempts, 11);
  clock.t = 1_400; // still within 1 s of the first 10
  assert.equal(budget.getStats().attempts, 11);
  clock.t = 1_500;
  assert.equal(budget.getStats().attempts, 0);
});

test("retryBudget: an idle gap of any length costs no more than a short one", () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 1, minPerSecond: 0, window: 10, clock });
  for (let i = 0; i < 3; i++) budget.recordAttempt();
  clock.tick(1e13); // 300 years of 1 ms buckets: must not walk them one by one
  assert.deepEqual(budget.getStats(), { attempts: 0, retries: 0, available: 0, refused: 0 });
  budget.recordAttempt();
  assert.equal(budget.tryRetry(), true);
});

test("retryBudget: option bounds and messages name retryBudget and the option", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { ratio: 1_001 },
      "RangeError",
      "retryBudget: option 'ratio' must be a finite number >= 0 and <= 1000, got 1001",
    ],
    [
      { minPerSecond: 1e9 + 1 },
      "RangeError",
      "retryBudget: option 'minPerSecond' must be a finite number >= 0 and <= 1000000000, got 1000000001",
    ],
    [
      { window: Number.MAX_SAFE_INTEGER + 2 },
      "RangeError",
      `retryBudget: option 'window' must be a finite number >= 10 and <= ${Number.MAX_SAFE_INTEGER}, got ${
        Number.MAX_SAFE_INTEGER + 2
      }`,
    ],
    [
      { window: 9 },
      "RangeError",
      `retryBudget: option 'window' must be a finite number >= 10 and <= ${Number.MAX_SAFE_INTEGER}, got 9`,
    ],
    [{ clock: 5 }, "TypeError", "retryBudget: option 'clock' must be an object, got 5"],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => retryBudget(options), (e: Error) => {
      assert.equal(e.name, name);
      assert.equal(e.message, message);
      return true;
    });
  }
  // The largest values are accepted.
  const b = retryBudget({ ratio: 1_000, minPerSecond: 1e9, window: Number.MAX_SAFE_INTEGER });
  assert.equal(b.tryRetry(), true);
});
