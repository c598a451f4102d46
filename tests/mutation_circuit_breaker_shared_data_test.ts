// What mutation testing of src/circuit_breaker/shared_data.ts found untested:
// the exact snapshot a store keeps (which fields are written, and when), the
// skew bounds on every time it holds, and each check of parseSharedState.
import assert from "node:assert/strict";
import {
  boundSharedState,
  initialSharedState,
  parseSharedState,
  readStoredState,
  type SharedConfig,
  type SharedState,
  skewAllowance,
  withoutMark,
} from "../mod.ts";
import { restoreMachine, snapshot } from "../src/circuit_breaker/shared_data.ts";
import { test } from "./_harness.ts";

const cfg: SharedConfig = { failureThreshold: 3, resetTimeout: 1_000, halfOpenMaxCalls: 2 };

test("shared data: skewAllowance is min(resetTimeout, 5000)", () => {
  assert.equal(skewAllowance(0), 0);
  assert.equal(skewAllowance(4_999), 4_999);
  assert.equal(skewAllowance(5_000), 5_000);
  assert.equal(skewAllowance(5_001), 5_000);
});

test("shared data: a snapshot of a restored state is the same state, field for field", () => {
  const full: SharedState = {
    state: "half_open",
    generation: 7,
    failures: 2,
    successes: 1,
    openedAt: 500,
    permits: [1_500, 1_600],
    trialFailures: 1,
    trialSlow: 1,
    openFor: 2_000,
    held: true,
    reason: "reset_timeout",
    changedAt: 600,
    lastFailureAt: 400,
    lastSuccessAt: 450,
  };
  const c = { ...cfg, maxResetTimeout: 4_000 };
  const m = restoreMachine(full, c, 700);
  assert.equal(m.now, 700);
  assert.equal(m.openFor, 2_000);
  assert.equal(m.held, true);
  assert.equal(m.strategy.tCalls, 2, "successes + trial failures");
  assert.deepEqual(snapshot(m), full);
  // The snapshot's permits are a copy.
  const s = snapshot(m);
  s.permits.push(1);
  assert.deepEqual(m.permits, [1_500, 1_600]);
  // The bare minimum stays bare: no optional field written.
  const bare = snapshot(restoreMachine(initialSharedState(), cfg, 0));
  assert.deepEqual(bare, initialSharedState());
  assert.deepEqual(Object.keys(bare).sort(), [
    "failures",
    "generation",
    "openedAt",
    "permits",
    "state",
    "successes",
  ]);
});

test("shared data: trial counts are loaded and saved in HALF_OPEN only; openFor capped by maxReset", () => {
  const open: SharedState = {
    ...initialSharedState(),
    state: "open",
    generation: 1,
    openedAt: 10,
    trialFailures: 2,
    trialSlow: 2,
    openFor: 9_000,
  };
  const m = restoreMachine(open, { ...cfg, maxResetTimeout: 3_000 }, 20);
  assert.equal(m.strategy.tFailures, 0);
  assert.equal(m.strategy.tSlow, 0);
  assert.equal(m.strategy.tCalls, 0);
  assert.equal(m.openFor, 3_000, "capped");
  const s = snapshot(m);
  assert.equal(s.trialFailures, undefined);
  assert.equal(s.trialSlow, undefined);
  assert.equal(s.openFor, 3_000);
  // No maxResetTimeout: the open duration is resetTimeout, and not written.
  const plain = restoreMachine({ ...open, openFor: undefined }, cfg, 20);
  assert.equal(plain.openFor, 1_000);
  assert.equal(plain.maxReset, 1_000);
  assert.equal("openFor" in snapshot(plain), false);
  assert.equal(restoreMachine({ ...open, openFor: 5_000 }, cfg, 20).openFor, 1_000);
  // HALF_OPEN with no trial failures: none written; `held` only when exactly true.
  const half: SharedState = { ...initialSharedState(), state: "half_open", generation: 2 };
  const h = restoreMachine({ ...half, held: "yes" as unknown as boolean }, cfg, 0);
  assert.equal(h.held, false);
  assert.deepEqual(snapshot(h), half);
  // Loaded counts: failures in a row, the report times, the reason (changedAt 0 when absent).
  const r = restoreMachine({ ...initialSharedState(), failures: 2, reason: "reset" }, cfg, 0);
  assert.equal(r.strategy.inARow, 2);
  assert.equal(r.changedAt, 0);
  assert.equal(r.lastFailureAt, 0);
  assert.equal(r.lastSuccessAt, 0);
  assert.deepEqual(snapshot(r), {
    ...initialSharedState(),
    failures: 2,
    reason: "reset",
    changedAt: 0,
  });
});

test("shared data: a rate-mode window is saved only when it holds calls, and reloaded", () => {
  const rates: SharedConfig = {
    failureThreshold: Number.MAX_SAFE_INTEGER,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    rates: { failureRateThreshold: 0.5, minimumThroughput: 4, windowCalls: 10 },
  };
  const m = restoreMachine(initialSharedState(), rates, 0);
  assert.equal("window" in snapshot(m), false, "empty: not written");
  m.record(0, 1, false, 1, false);
  const s = snapshot(m);
  assert.equal(typeof s.window, "string");
  const again = restoreMachine(s, rates, 2);
  assert.equal(again.strategy.calls?.calls, 1);
  assert.equal(again.strategy.failures, 1);
  assert.deepEqual(snapshot(again), s);
  // Consecutive mode: one failure in a row is enough with threshold 1, none before.
  const one = restoreMachine(initialSharedState(), { ...cfg, failureThreshold: 1 }, 0);
  one.record(0, 1, false, 0, false);
  assert.equal(one.state, "open");
  assert.equal(one.reason, "failure_threshold");
});

test("shared data: boundSharedState brings every future time back to now + skew, exactly", () => {
  const now = 10_000;
  const s: SharedState = {
    ...initialSharedState(),
    state: "half_open",
    generation: 3,
    openedAt: 1e12,
    permits: [now + 500, 1e12, now + 1_000 + 1_000],
    changedAt: 1e12,
    lastFailureAt: 1e12,
    lastSuccessAt: 1e12,
    openFor: 1e9,
  };
  const b = boundSharedState(s, { ...cfg, maxResetTimeout: 8_000 }, now);
  assert.equal(b.openedAt, 11_000);
  assert.deepEqual(b.permits, [10_500, 12_000, 12_000], "latest + resetTimeout");
  assert.equal(b.changedAt, 11_000);
  assert.equal(b.lastFailureAt, 11_000);
  assert.equal(b.lastSuccessAt, 11_000);
  assert.equal(b.openFor, 8_000);
  assert.equal(boundSharedState(s, cfg, now).openFor, 1_000, "no maxResetTimeout: resetTimeout");
  assert.equal(s.openedAt, 1e12, "pure: the input is untouched");
  // Times in the past stay; absent ones stay absent.
  const past = boundSharedState({ ...initialSharedState(), openedAt: 5, permits: [7] }, cfg, now);
  assert.deepEqual(past, { ...initialSharedState(), openedAt: 5, permits: [7] });
  // resetTimeout 0: no skew, and a permit lives 1 ms.
  const z = boundSharedState(s, { ...cfg, resetTimeout: 0 }, now);
  assert.equal(z.openedAt, now);
  assert.deepEqual(z.permits, [now + 1, now + 1, now + 1]);
});

test("shared data: a time window's newest bucket is bounded; a count window is kept as is", () => {
  const timed: SharedConfig = {
    failureThreshold: Number.MAX_SAFE_INTEGER,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    rates: {
      failureRateThreshold: 0.5,
      minimumThroughput: 1,
      windowDuration: 2_000,
      windowBuckets: 4,
    },
  };
  const w = { ...initialSharedState(), window: { at: 1_000, counts: [1, 2, 3] } };
  const b = boundSharedState(w, timed, 4_000);
  // latest 5,000 ms, buckets of 500 ms: bucket 10.
  assert.deepEqual(b.window, { at: 10, counts: [1, 2, 3] });
  assert.deepEqual(w.window.counts, [1, 2, 3]);
  assert.notEqual((b.window as { counts: number[] }).counts, w.window.counts, "a copy");
  assert.deepEqual(
    boundSharedState({ ...w, window: { at: 9, counts: [1] } }, timed, 4_000).window,
    {
      at: 9,
      counts: [1],
    },
  );
  // Without a time window's settings the buckets are copied unbounded.
  assert.deepEqual(boundSharedState(w, cfg, 0).window, { at: 1_000, counts: [1, 2, 3] });
  const counted = { ...initialSharedState(), window: "0120" };
  assert.equal(boundSharedState(counted, timed, 0).window, "0120");
});

test("shared data: parseSharedState refuses each malformed field, keeps each valid one", () => {
  const base = { ...initialSharedState(), permits: [1] };
  assert.deepEqual(parseSharedState(base), base);
  const bad: Record<string, unknown>[] = [
    { state: "ajar" },
    { generation: -1 },
    { generation: 1.5 },
    { generation: "1" },
    { failures: -1 },
    { successes: 2 ** 53 },
    { openedAt: Infinity },
    { openedAt: "0" },
    { permits: "1" },
    { permits: new Array(10_001).fill(1) },
    { permits: [1, NaN] },
    { window: 5 },
    { trialFailures: -1 },
    { trialSlow: 0.5 },
    { openFor: -1 },
    { openFor: NaN },
    { held: 1 },
    { reason: "bored" },
    { changedAt: "1" },
    { lastFailureAt: null },
    { lastSuccessAt: Infinity },
  ];
  for (const b of bad) {
    assert.throws(() => parseSharedState({ ...base, ...b }), {
      name: "TypeError",
      message: "malformed circuit state from the store",
    }, JSON.stringify(Object.keys(b)));
  }
  for (const d of [null, undefined, 1, "s"]) assert.throws(() => parseSharedState(d), TypeError);
  assert.deepEqual(
    parseSharedState({ ...base, permits: new Array(10_000).fill(1) }).permits.length,
    10_000,
  );
  const good: SharedState = {
    ...base,
    state: "open",
    window: { at: 3, counts: [1] },
    trialFailures: 0,
    trialSlow: 0,
    openFor: 0,
    held: false,
    reason: "shared",
    changedAt: -5,
    lastFailureAt: 0,
    lastSuccessAt: 1,
  };
  const parsed = parseSharedState({ ...good, extra: "dropped" });
  assert.deepEqual(parsed, good);
  assert.notEqual(
    (parsed.window as { counts: number[] }).counts,
    (good.window as { counts: number[] }).counts,
  );
  assert.equal(parseSharedState({ ...base, window: "012" }).window, "012");
  for (
    const r of [
      "failure_threshold",
      "failure_rate",
      "slow_call_rate",
      "reset_timeout",
      "half_open_failure",
      "recovered",
      "manual_open",
      "isolated",
      "reset",
      "shared",
    ]
  ) assert.equal(parseSharedState({ ...base, reason: r }).reason, r);
  for (const s of ["closed", "open", "half_open"]) {
    assert.equal(parseSharedState({ ...base, state: s }).state, s);
  }
  // The repair mark passes through, cut to 200 characters; not a string: dropped.
  assert.equal(parseSharedState({ ...base, repaired: "x".repeat(300) }).repaired, "x".repeat(200));
  assert.equal("repaired" in parseSharedState({ ...base, repaired: 5 }), false);
});

test("shared data: readStoredState: nothing is a fresh state, garbage is repaired, a stored mark is dropped", () => {
  assert.deepEqual(readStoredState(undefined), initialSharedState());
  assert.deepEqual(readStoredState(null), initialSharedState());
  assert.deepEqual(readStoredState(42), {
    ...initialSharedState(),
    repaired: "malformed circuit state from the store",
  });
  const stored = { ...initialSharedState(), generation: 4, repaired: "old" };
  assert.deepEqual(readStoredState(stored), { ...initialSharedState(), generation: 4 });
  assert.deepEqual(withoutMark({ ...initialSharedState(), repaired: "x" }), initialSharedState());
  const clean = initialSharedState();
  assert.equal(withoutMark(clean), clean, "nothing to drop: the same object");
});

test("shared data: a machine restored from a state never changes that state (permits copied)", () => {
  const s: SharedState = { ...initialSharedState(), state: "open", generation: 1, openedAt: 0 };
  const m = restoreMachine(s, { ...cfg, halfOpenMaxCalls: 1 }, 5_000);
  assert.notEqual(m.admit(), -1);
  assert.deepEqual(s.permits, [], "the trial's permit is the machine's, not the state's");
  const parsed = parseSharedState({ ...s, permits: [1] });
  const input = { ...s, permits: [1] };
  assert.notEqual(parseSharedState(input).permits, input.permits, "a copy");
  assert.deepEqual(parsed.permits, [1]);
});

test("shared data: trial counts are not saved once a failed trial reopened the circuit", () => {
  const half: SharedState = {
    ...initialSharedState(),
    state: "half_open",
    generation: 2,
    permits: [1_500],
    trialSlow: 1,
  };
  const m = restoreMachine(half, { ...cfg, halfOpenMaxCalls: 3 }, 1_000);
  m.settle({ gen: 2, permit: 1_500 }, 1, true, 1_000);
  assert.equal(m.state, "open");
  const s = snapshot(m);
  assert.equal("trialFailures" in s, false);
  assert.equal("trialSlow" in s, false);
});

test("shared data: without both windowDuration and windowBuckets, stored buckets are not bounded", () => {
  const w = { ...initialSharedState(), window: { at: 1_000, counts: [1] } };
  const rates = (r: Record<string, number | undefined>) => ({
    ...cfg,
    rates: { failureRateThreshold: 0.5, minimumThroughput: 1, ...r },
  });
  for (
    const r of [{ windowCalls: 10 }, { windowCalls: 10, windowBuckets: 5 }, { windowDuration: 500 }]
  ) {
    assert.deepEqual(
      boundSharedState(w, rates(r), 0).window,
      { at: 1_000, counts: [1] },
      JSON.stringify(r),
    );
  }
});

test("shared data: parseSharedState refuses what is not an object with its own message", () => {
  const fn = Object.assign(() => {}, initialSharedState());
  for (const d of [null, undefined, 1, "closed", fn]) {
    assert.throws(() => parseSharedState(d), {
      name: "TypeError",
      message: "malformed circuit state from the store",
    }, String(d));
  }
});
