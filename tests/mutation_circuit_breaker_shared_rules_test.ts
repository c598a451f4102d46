// What mutation testing of src/circuit_breaker/shared_rules.ts checks: a
// store refuses rate rules no breaker sends (each bound exactly), runs the
// ones it accepts with the breaker's own thresholds on the window kind and
// size asked for, and checks a stored window's shape (isSavedWindow, through
// parseSharedState).
import assert from "node:assert/strict";
import { applyOp, initialSharedState, parseSharedState, type SharedState } from "../mod.ts";
import { test } from "./_harness.ts";

const base = { failureThreshold: 100, resetTimeout: 1_000, halfOpenMaxCalls: 1 };
const fail = { ok: false, generation: 0, at: 1_000 };
const pass = { ok: true, generation: 0, at: 1_000 };
const slow = { ok: true, slow: true, generation: 0, at: 1_000 };

/** One sync of `outcomes` under `rates` (and `extra` config), on `stored`. */
function sync(
  rates: Record<string, unknown>,
  outcomes: unknown[],
  stored?: unknown,
  extra: Record<string, unknown> = {},
): SharedState {
  return applyOp(stored, {
    type: "circuit",
    action: "sync",
    outcomes,
    config: { ...base, ...extra, rates },
  } as never, 1_000).value as SharedState;
}
const countRates = { failureRateThreshold: 0.5, minimumThroughput: 1, windowCalls: 10 };
const timeRates = {
  failureRateThreshold: 0.5,
  minimumThroughput: 1,
  windowDuration: 1_000,
  windowBuckets: 2,
};

test("shared rules: a store refuses rate rules no breaker sends, each bound exactly", () => {
  const bad: Record<string, unknown>[] = [
    { ...countRates, failureRateThreshold: 0 },
    { ...countRates, failureRateThreshold: -0.5 },
    { ...countRates, failureRateThreshold: 1.01 },
    { ...countRates, failureRateThreshold: "0.5" },
    { ...countRates, failureRateThreshold: NaN },
    { ...countRates, failureRateThreshold: null },
    { ...countRates, slowCallRateThreshold: 0 },
    { ...countRates, slowCallRateThreshold: 1.5 },
    { ...countRates, slowCallRateThreshold: "1" },
    { minimumThroughput: 1, windowCalls: 10 },
    { ...countRates, failureRateThreshold: undefined },
    { ...countRates, minimumThroughput: 0 },
    { ...countRates, minimumThroughput: 1.5 },
    { ...countRates, minimumThroughput: "1" },
    { ...countRates, minimumThroughput: 2 ** 53 },
    { ...countRates, minimumThroughput: undefined },
    { ...countRates, windowCalls: 0 },
    { ...countRates, windowCalls: 100_001 },
    { ...countRates, windowCalls: 2.5 },
    { ...countRates, windowCalls: "10" },
    { ...countRates, windowCalls: undefined },
    { ...timeRates, windowDuration: 0.5 },
    { ...timeRates, windowDuration: 2 ** 53 },
    { ...timeRates, windowDuration: Infinity },
    { ...timeRates, windowDuration: NaN },
    { ...timeRates, windowDuration: "1000" },
    { ...timeRates, windowDuration: null },
    { ...timeRates, windowBuckets: 0 },
    { ...timeRates, windowBuckets: 1_001 },
    { ...timeRates, windowBuckets: 1.5 },
    { ...timeRates, windowBuckets: undefined },
  ];
  for (const rates of bad) {
    assert.throws(() => sync(rates, [fail]), {
      name: "TypeError",
      message: "malformed rate rules in the breaker config",
    }, JSON.stringify(rates, (_, v) => v === undefined ? "undefined" : v));
  }
});

test("shared rules: a store accepts the rate rules at their bounds", () => {
  const good: Record<string, unknown>[] = [
    { ...countRates, failureRateThreshold: 1 },
    { ...countRates, failureRateThreshold: Number.MIN_VALUE },
    {
      failureRateThreshold: undefined,
      slowCallRateThreshold: 1,
      minimumThroughput: 1,
      windowCalls: 1,
    },
    { ...countRates, slowCallRateThreshold: 0.25 },
    { ...countRates, minimumThroughput: Number.MAX_SAFE_INTEGER },
    { ...countRates, windowCalls: 100_000 },
    { ...countRates, windowCalls: 1 },
    { ...timeRates, windowDuration: 1, windowBuckets: 1 },
    { ...timeRates, windowDuration: 1.5 },
    { ...timeRates, windowDuration: Number.MAX_SAFE_INTEGER, windowBuckets: 1_000 },
    // A count window's size is not asked for with a time window.
    { ...timeRates, windowCalls: 0 },
  ];
  for (const rates of good) {
    assert.doesNotThrow(() => sync(rates, [fail]), JSON.stringify(rates));
  }
});

test("shared rules: a count window of windowCalls outcomes, tripped at the failure rate past minimumThroughput", () => {
  const rates = { failureRateThreshold: 0.5, minimumThroughput: 4, windowCalls: 4 };
  let s = sync(rates, [fail, pass, pass]);
  assert.equal(s.state, "closed");
  assert.equal(s.window, "100", "one digit an outcome, a failure 1");
  s = sync(rates, [fail], s);
  assert.equal(s.state, "open", "2 failures of 4 calls: 50%");
  assert.equal(s.reason, "failure_rate");
  // 3 of 4 calls: below minimumThroughput, nothing trips.
  assert.equal(sync(rates, [fail, fail, fail]).state, "closed");
  // The window keeps the last windowCalls outcomes only.
  const small = { failureRateThreshold: 0.6, minimumThroughput: 2, windowCalls: 2 };
  s = sync(small, [fail, pass, pass]);
  assert.equal(s.state, "closed", "the failure left the window of 2");
  assert.equal(s.window, "00");
});

test("shared rules: the slow-call rate trips on its own threshold; consecutive failures on failureThreshold", () => {
  const rates = { slowCallRateThreshold: 0.5, minimumThroughput: 2, windowCalls: 10 };
  let s = sync(rates, [slow, pass]);
  assert.equal(s.state, "open");
  assert.equal(s.reason, "slow_call_rate");
  s = sync(rates, [fail, fail, fail, pass]);
  assert.equal(s.state, "closed", "no failure rate rule: failures do not trip by rate");
  // failureThreshold in a row still trips with rate rules.
  s = sync(
    { failureRateThreshold: 1, minimumThroughput: 10, windowCalls: 10 },
    [fail, fail],
    undefined,
    {
      failureThreshold: 2,
    },
  );
  assert.equal(s.state, "open");
  assert.equal(s.reason, "failure_threshold");
  // failureRate, not slowRate, with both given.
  s = sync({ ...rates, failureRateThreshold: 0.5, slowCallRateThreshold: 1 }, [fail, pass]);
  assert.equal(s.reason, "failure_rate");
});

test("shared rules: a time window of windowBuckets buckets over windowDuration", () => {
  const s = sync(timeRates, [pass]);
  assert.equal(s.state, "closed");
  assert.deepEqual(s.window, { at: 2, counts: [0, 0, 0, 1, 0, 0] });
  const three = sync({ ...timeRates, windowBuckets: 3, windowDuration: 3_000 }, [fail]);
  assert.deepEqual(three.window, { at: 1, counts: [0, 0, 0, 0, 0, 0, 1, 1, 0] });
});

test("shared rules: a stored window of the other kind is dropped, one of the same kind kept", () => {
  const closed = { ...initialSharedState() };
  // A count window given a time window's buckets starts empty.
  let s = sync(countRates, [pass], { ...closed, window: { at: 2, counts: [0, 0, 0, 1, 0, 0] } });
  assert.equal(s.window, "0");
  // A time window given a count window's digits starts empty.
  s = sync(timeRates, [pass], { ...closed, window: "1111" });
  assert.deepEqual(s.window, { at: 2, counts: [0, 0, 0, 1, 0, 0] });
  // The same kind is loaded: the earlier outcomes count.
  s = sync(countRates, [pass], { ...closed, window: "11" });
  assert.equal(s.window, "110");
  s = sync(timeRates, [pass], { ...closed, window: { at: 2, counts: [0, 0, 0, 2, 1, 0] } });
  assert.deepEqual(s.window, { at: 2, counts: [0, 0, 0, 3, 1, 0] });
});

test("shared rules: a stored window is checked (digits 0 to 3, or buckets of safe counts)", () => {
  const state = (window: unknown) => ({ ...initialSharedState(), window });
  const ok = (w: unknown) => assert.doesNotThrow(() => parseSharedState(state(w)), String(w));
  const bad = (w: unknown) =>
    assert.throws(() => parseSharedState(state(w)), {
      name: "TypeError",
      message: "malformed circuit state from the store",
    }, JSON.stringify(w));
  ok("");
  ok("0123");
  ok("3".repeat(100_000));
  bad("3".repeat(100_001));
  bad("4");
  bad("a0");
  bad("0a");
  bad("0\n1");
  ok({ at: -1, counts: [] });
  ok({ at: 5, counts: [0, 1, 2] });
  ok({ at: 5, counts: new Array(3_000).fill(0) });
  bad({ at: 5, counts: new Array(3_001).fill(0) });
  bad({ at: -2, counts: [] });
  bad({ at: -1.5, counts: [] });
  bad({ at: NaN, counts: [] });
  bad({ at: Infinity, counts: [] });
  bad({ at: "5", counts: [] });
  bad({ counts: [] });
  bad({ at: 5 });
  bad({ at: 5, counts: "000" });
  bad({ at: 5, counts: [-1] });
  bad({ at: 5, counts: [0, -1] });
  bad({ at: 5, counts: [1.5] });
  bad({ at: 5, counts: ["1"] });
  bad({ at: 5, counts: [2 ** 53] });
  bad(null);
  // A function with the fields (a custom store's run may return anything) is not data.
  bad(Object.assign(() => {}, { at: 1, counts: [] }));
  bad(5);
  bad(true);
});
