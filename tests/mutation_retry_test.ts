// Tests that would notice (issue #10): each one pins a behaviour of
// src/retry.ts that a surviving mutant changed without any test failing.
// See docs/mutation-testing.md.
import assert from "node:assert/strict";
import { type Logger, retry, retryBudget, type RetryEvent } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { macrotask, silent, test } from "./_harness.ts";

type Line = [level: string, message: string, data: Record<string, unknown> | undefined];
/** A logger that keeps each line's level, message and data. */
function dataLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  return {
    lines,
    info: (m, d) => void lines.push(["info", m, d]),
    warn: (m, d) => void lines.push(["warn", m, d]),
    error: (m, d) => void lines.push(["error", m, d]),
  };
}

test("retry: the resolved settings are read-only properties named like the options", () => {
  const settings = (p: ReturnType<typeof retry>) => {
    const { maxAttempts, initialDelay, backoffFactor, maxDelay, jitter } = p;
    return { maxAttempts, initialDelay, backoffFactor, maxDelay, jitter };
  };
  assert.deepEqual(settings(retry()), {
    maxAttempts: 3,
    initialDelay: 1000,
    backoffFactor: 2,
    maxDelay: 60_000,
    jitter: "proportional",
  });
  assert.deepEqual(
    settings(
      retry({ maxAttempts: 5, initialDelay: 10, backoffFactor: 3, maxDelay: 500, jitter: false }),
    ),
    { maxAttempts: 5, initialDelay: 10, backoffFactor: 3, maxDelay: 500, jitter: "none" },
  );
  assert.equal(retry({ jitter: true }).jitter, "proportional");
  for (const j of ["none", "proportional", "full", "equal", "decorrelated"] as const) {
    assert.equal(retry({ jitter: j }).jitter, j);
  }
  const p = retry({ maxAttempts: 2 });
  assert.throws(() => {
    (p as { maxAttempts: number }).maxAttempts = 9;
  }, TypeError);
  assert.equal(p.maxAttempts, 2);
  assert.equal("options" in p, false);
});

test("retry: jitter is on by default (±25%), as with jitter: true", async () => {
  for (const jitter of [undefined, true]) {
    const delays: number[] = [];
    const clock = new FakeClock();
    const p = retry({
      clock,
      initialDelay: 1000,
      random: () => 0,
      logger: silent,
      onRetry: (e) => delays.push(e.delay),
      ...(jitter === undefined ? {} : { jitter }),
    }).execute(() => Promise.reject(new Error("x")));
    const done = p.catch(() => {});
    await clock.tickAsync(10_000);
    await done;
    assert.deepEqual(delays, [750, 1500], `jitter ${jitter}`);
  }
});

test("retry: an unknown jitter is refused, listing the valid ones", () => {
  for (const bad of ["bogus", "", 1, null]) {
    assert.throws(() => retry({ jitter: bad as never }), {
      name: "TypeError",
      message:
        `retry: option 'jitter' must be a boolean or one of none, proportional, full, equal, decorrelated, got ${
          String(bad)
        }`,
    });
  }
});

test("retry: backoffFactor is at most 1000", () => {
  assert.equal(retry({ backoffFactor: 1000 }).backoffFactor, 1000);
  assert.throws(() => retry({ backoffFactor: 1001 }), {
    name: "RangeError",
    message: "retry: option 'backoffFactor' must be a finite number >= 1 and <= 1000, got 1001",
  });
});

test("retry: each retry is logged with its delay in seconds and the event as data", async () => {
  const clock = new FakeClock();
  const log = dataLogger();
  const e1 = new TypeError("flaky");
  let n = 0;
  const p = retry({
    clock,
    maxAttempts: 3,
    initialDelay: 1500,
    jitter: false,
    logger: log,
    name: "load",
  })(() => {
    n++;
    if (n === 1) throw e1;
    throw "plain string";
  })();
  const done = p.catch((e) => e);
  await clock.tickAsync(10_000);
  assert.equal(await done, "plain string");
  assert.deepEqual(log.lines, [
    ["warn", "Attempt 1/3 failed for load: TypeError: flaky. Retrying in 1.50s", {
      name: "load",
      attempt: 1,
      maxAttempts: 3,
      delay: 1500,
      error: e1,
    }],
    ["warn", "Attempt 2/3 failed for load: plain string. Retrying in 3.00s", {
      name: "load",
      attempt: 2,
      maxAttempts: 3,
      delay: 3000,
      error: "plain string",
    }],
    ["error", "All 2 retries failed for load: plain string", {
      name: "load",
      attempts: 3,
      error: "plain string",
    }],
  ]);
});

test("retry: a retried result is described by its status, else as an unwanted result", async () => {
  const clock = new FakeClock();
  const log = dataLogger();
  const results: unknown[] = [{ status: 503 }, null, { status: "503" }, "ok"];
  let n = 0;
  const p = retry({
    clock,
    maxAttempts: 4,
    initialDelay: 10,
    jitter: false,
    logger: log,
    name: "api",
    retryOnResult: (v) => v !== "ok",
  })(() => results[n++])();
  await clock.tickAsync(1_000);
  assert.equal(await p, "ok");
  assert.deepEqual(log.lines.map((l) => l[1]), [
    "Attempt 1/4 failed for api: status 503. Retrying in 0.01s",
    "Attempt 2/4 failed for api: unwanted result. Retrying in 0.02s",
    "Attempt 3/4 failed for api: unwanted result. Retrying in 0.04s",
  ]);
  assert.deepEqual(log.lines[0][2], {
    name: "api",
    attempt: 1,
    maxAttempts: 4,
    delay: 10,
    result: { status: 503 },
  });
});

test("retry: a zero delay retries at once, without a timer", async () => {
  const clock = new FakeClock();
  let n = 0;
  let pendingAtRetry = -1;
  const p = retry({
    clock,
    initialDelay: 0,
    logger: silent,
    onRetry: () => void (pendingAtRetry = clock.pending),
  })(() => {
    if (++n < 3) throw new Error("x");
    return n;
  })();
  // No clock tick: the attempts follow each other through promise reactions only.
  let value: unknown;
  p.then((v) => (value = v));
  await macrotask();
  assert.equal(value, 3);
  assert.equal(pendingAtRetry, 0);
  assert.equal(clock.pending, 0);
});

test("retry: a caller aborting in onRetry stops before the next attempt, even with no delay", async () => {
  const ctl = new AbortController();
  const reason = new Error("caller gone");
  let calls = 0;
  const p = retry({
    initialDelay: 0,
    logger: silent,
    onRetry: () => ctl.abort(reason),
  }).execute(() => {
    calls++;
    return Promise.reject(new Error("x"));
  }, ctl.signal);
  await assert.rejects(p, (e) => e === reason);
  assert.equal(calls, 1);
});

test("retry: maxAttempts 1 with retryOnResult returns the first result as is", async () => {
  let calls = 0;
  const f = retry({ maxAttempts: 1, retryOnResult: () => true, logger: silent })(() => {
    calls++;
    return { status: 503 };
  });
  assert.deepEqual(await f(), { status: 503 });
  assert.equal(calls, 1);
});

test("retry: a spent budget is logged with the attempt, and a retried result is returned as is", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 0, clock });
  const log = dataLogger();
  const events: RetryEvent[] = [];
  let calls = 0;
  const f = retry({
    clock,
    initialDelay: 10,
    logger: log,
    name: "pay",
    budget,
    retryOnResult: (v) => (v as { status: number }).status === 503,
    onRetry: (e) => events.push(e),
  })(() => {
    calls++;
    return { status: 503 };
  });
  // (A rejection, even with `undefined`, must fail here: compare the outcome, not `await f()`.)
  const outcome = await f().then((value) => ({ value }), (error) => ({ error }));
  assert.deepEqual(outcome, { value: { status: 503 } });
  assert.equal(calls, 1);
  assert.deepEqual(events, []);
  assert.deepEqual(log.lines, [
    ["warn", "Retry budget exhausted for pay: not retrying after attempt 1", {
      name: "pay",
      attempt: 1,
    }],
  ]);
  assert.deepEqual(budget.getStats(), { attempts: 1, retries: 0, available: 0, refused: 1 });
});

test("retry: delayHint sees the error or the result with the attempt; 0 is a valid hint, bad ones are ignored", async () => {
  const clock = new FakeClock();
  const seen: unknown[] = [];
  const delays: number[] = [];
  const e1 = new Error("busy");
  const hints: unknown[] = [0, -5, Infinity, NaN, "7", 30, 1e9];
  let n = 0;
  const p = retry({
    clock,
    maxAttempts: 8,
    initialDelay: 10,
    maxDelay: 500,
    jitter: false,
    logger: silent,
    retryOnResult: (v) => v === "again",
    delayHint: (outcome) => {
      seen.push(outcome);
      return hints[outcome.attempt - 1] as number;
    },
    onRetry: (e) => delays.push(e.delay),
  })(() => {
    n++;
    if (n === 1) throw e1;
    return n < 8 ? "again" : "done";
  })();
  await clock.tickAsync(10_000);
  assert.equal(await p, "done");
  // 0 is taken as is; -5, Infinity, NaN and "7" fall back to the backoff (10 × 2^(n-1));
  // 30 is taken; 1e9 is capped by maxDelay.
  assert.deepEqual(delays, [0, 20, 40, 80, 160, 30, 500]);
  assert.deepEqual(seen[0], { error: e1, attempt: 1 });
  assert.deepEqual(seen[1], { result: "again", attempt: 2 });
});

test("retry: decorrelated jitter draws each delay from [initialDelay, 3 × the previous one]", async () => {
  const clock = new FakeClock();
  const delays: number[] = [];
  const p = retry({
    clock,
    maxAttempts: 4,
    initialDelay: 100,
    maxDelay: 10_000,
    jitter: "decorrelated",
    random: () => 0.5,
    logger: silent,
    onRetry: (e) => delays.push(e.delay),
  }).execute(() => Promise.reject(new Error("x")));
  const done = p.catch(() => {});
  await clock.tickAsync(100_000);
  await done;
  // 100 + (300 - 100) × 0.5 = 200; 100 + (600 - 100) × 0.5 = 350; 100 + (1050 - 100) × 0.5 = 575.
  assert.deepEqual(delays, [200, 350, 575]);
});

test("retry: only an error with a numeric timeUntilReset and a breakerName counts as an open circuit", async () => {
  const clock = new FakeClock();
  const delays: number[] = [];
  const lookalikes: unknown[] = [
    Object.assign(new Error("no name"), { timeUntilReset: 1e9 }),
    Object.assign(new Error("name not a string"), { timeUntilReset: 1e9, breakerName: 7 }),
    Object.assign(new Error("reset not a number"), { timeUntilReset: "1e9", breakerName: "b" }),
    null,
  ];
  let n = 0;
  const p = retry({
    clock,
    maxAttempts: 5,
    initialDelay: 10,
    maxDelay: 1000,
    jitter: false,
    logger: silent,
    onRetry: (e) => delays.push(e.delay),
  })(() => {
    if (n < lookalikes.length) throw lookalikes[n++];
    return "ok";
  })();
  await clock.tickAsync(10_000);
  assert.equal(await p, "ok");
  assert.deepEqual(delays, [10, 20, 40, 80]);
});

test("retry: a budget must have both tryRetry and recordAttempt", () => {
  const message = "retry: option 'budget' must be a RetryBudget (see retryBudget())";
  for (const bad of [null, 5, {}, { tryRetry: () => true }, { recordAttempt: () => {} }]) {
    assert.throws(() => retry({ budget: bad as never }), { name: "TypeError", message });
  }
  assert.equal(typeof retry({ budget: retryBudget() }), "function");
});

test("retry: an open circuit is waited out up to exactly maxDelay, and never for less than the backoff", async () => {
  const clock = new FakeClock();
  const delays: number[] = [];
  // Told by its fields: any copy of CircuitOpenError has a numeric timeUntilReset and a breakerName.
  const open = (ms: number) =>
    Object.assign(new Error("open"), { breakerName: "b", timeUntilReset: ms });
  let n = 0;
  const p = retry({
    clock,
    maxAttempts: 3,
    initialDelay: 300,
    maxDelay: 1000,
    jitter: false,
    logger: silent,
    onRetry: (e) => delays.push(e.delay),
  })(() => {
    n++;
    if (n === 1) throw open(1000); // exactly maxDelay: waited
    if (n === 2) throw open(50); // shorter than the backoff (600): the backoff wins
    return "ok";
  })();
  await clock.tickAsync(10_000);
  assert.equal(await p, "ok");
  assert.deepEqual(delays, [1000, 600]);
});
