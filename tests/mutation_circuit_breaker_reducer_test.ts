// What mutation testing of src/circuit_breaker/reducer.ts found untested: the
// exact config a store accepts, which reports it skips (malformed, stray),
// the report time bounded by the skew allowance, a trial's permit (named or
// the oldest), and when a plain read writes.
import assert from "node:assert/strict";
import {
  acquirePermit,
  applyCommand,
  applyOutcomes,
  initialSharedState,
  type Outcome,
  type SharedConfig,
  type SharedState,
} from "../mod.ts";
import { checkConfig, circuitReducer } from "../src/circuit_breaker/reducer.ts";
import { test } from "./_harness.ts";

const cfg: SharedConfig = { failureThreshold: 2, resetTimeout: 1_000, halfOpenMaxCalls: 2 };
const open = (at: number, extra: Partial<SharedState> = {}): SharedState => ({
  ...initialSharedState(),
  state: "open",
  generation: 1,
  openedAt: at,
  ...extra,
});

test("reducer: checkConfig accepts the bounds and refuses just past them", () => {
  const M = Number.MAX_SAFE_INTEGER;
  const good: SharedConfig[] = [
    { failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 1 },
    { failureThreshold: M, resetTimeout: M, halfOpenMaxCalls: M },
    { failureThreshold: 1, resetTimeout: 10, halfOpenMaxCalls: 1, maxResetTimeout: 10 },
  ];
  for (const c of good) assert.equal(checkConfig(c), c);
  const bad: unknown[] = [
    null,
    "config",
    { failureThreshold: 0.5, resetTimeout: 0, halfOpenMaxCalls: 1 },
    { failureThreshold: 1, resetTimeout: -1, halfOpenMaxCalls: 1 },
    { failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 0.5 },
    { failureThreshold: M + 2, resetTimeout: 0, halfOpenMaxCalls: 1 },
    { failureThreshold: 1, resetTimeout: M + 2, halfOpenMaxCalls: 1 },
    { failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: M + 2 },
    { failureThreshold: Infinity, resetTimeout: 0, halfOpenMaxCalls: 1 },
    { failureThreshold: NaN, resetTimeout: 0, halfOpenMaxCalls: 1 },
    { failureThreshold: "1", resetTimeout: 0, halfOpenMaxCalls: 1 },
    { failureThreshold: 1, resetTimeout: "0", halfOpenMaxCalls: 1 },
    { failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: "1" },
    { failureThreshold: 1, resetTimeout: 10, halfOpenMaxCalls: 1, maxResetTimeout: 9 },
    { failureThreshold: 1, resetTimeout: 10, halfOpenMaxCalls: 1, maxResetTimeout: "20" },
  ];
  for (const c of bad) {
    assert.throws(() => checkConfig(c as SharedConfig), {
      name: "TypeError",
      message: "malformed breaker config",
    }, JSON.stringify(c));
  }
});

test("reducer: malformed outcomes are skipped, the others applied in order", () => {
  const outcomes = [
    null,
    "x",
    { ok: "no", generation: 0 },
    { ok: false, generation: 0.5 },
    { ok: false, generation: "0" },
    { ok: false, generation: 0 },
  ] as unknown as Outcome[];
  const s = applyOutcomes(initialSharedState(), outcomes, cfg, 100);
  assert.equal(s.state, "closed");
  assert.equal(s.failures, 1, "only the well-formed one counts");
  // After a failure, a report with a truthy non-boolean `ok`, or a function dressed as an
  // outcome, is not a success that ends the run.
  const fn = Object.assign(() => {}, { ok: true, generation: 0 });
  const after = applyOutcomes(
    s,
    [{ ok: "yes", generation: 0 }, fn] as unknown as Outcome[],
    cfg,
    100,
  );
  assert.equal(after.failures, 1);
  assert.equal(after.successes, 0);
  const t = applyOutcomes(s, [{ ok: false, generation: 0 }], cfg, 100);
  assert.equal(t.state, "open");
  assert.equal(t.openedAt, 100);
});

test("reducer: a report's time is its own, bounded by the skew allowance; absent or not finite: the store's", () => {
  const s = applyOutcomes(initialSharedState(), [{ ok: false, generation: 0, at: 40 }], cfg, 100);
  assert.equal(s.lastFailureAt, 40);
  const f = applyOutcomes(initialSharedState(), [{ ok: false, generation: 0, at: 1e12 }], cfg, 100);
  assert.equal(f.lastFailureAt, 1_100, "now + min(resetTimeout, 5000)");
  const n = applyOutcomes(
    initialSharedState(),
    [{ ok: true, generation: 0, at: Infinity }, { ok: false, generation: 0, at: NaN }],
    cfg,
    100,
  );
  assert.equal(n.lastSuccessAt, 100);
  assert.equal(n.lastFailureAt, 100);
  const a = applyOutcomes(initialSharedState(), [{ ok: true, generation: 0 }], cfg, 77);
  assert.equal(a.lastSuccessAt, 77);
  const str = applyOutcomes(
    initialSharedState(),
    [{ ok: true, generation: 0, at: "5" as unknown as number }],
    cfg,
    77,
  );
  assert.equal(str.lastSuccessAt, 77, "a time that is not a number: the store's");
});

test("reducer: neutral and slow flags are read only when exactly true", () => {
  const rates: SharedConfig = {
    failureThreshold: Number.MAX_SAFE_INTEGER,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    rates: { slowCallRateThreshold: 0.5, minimumThroughput: 1, windowCalls: 10 },
  };
  // A neutral CLOSED report counts nothing.
  const n = applyOutcomes(
    initialSharedState(),
    [{ ok: false, generation: 0, neutral: true }],
    cfg,
    1,
  );
  assert.equal(n.failures, 0);
  const truthy = applyOutcomes(
    initialSharedState(),
    [{ ok: false, generation: 0, neutral: 1 as unknown as boolean }],
    cfg,
    1,
  );
  assert.equal(truthy.failures, 1, "neutral: 1 is not neutral");
  const slow = applyOutcomes(
    initialSharedState(),
    [{ ok: true, generation: 0, slow: true }],
    rates,
    1,
  );
  assert.equal(slow.state, "open");
  assert.equal(slow.reason, "slow_call_rate");
  const notSlow = applyOutcomes(
    initialSharedState(),
    [{ ok: true, generation: 0, slow: 1 as unknown as boolean }],
    rates,
    1,
  );
  assert.equal(notSlow.state, "closed");
});

test("reducer: a trial gives back its own permit, or the oldest when it names none", () => {
  const half: SharedState = {
    ...initialSharedState(),
    state: "half_open",
    generation: 2,
    permits: [1_500, 1_600],
  };
  const named = applyOutcomes(
    half,
    [{ ok: true, generation: 2, permit: true, permitId: 1_600 }],
    cfg,
    1_000,
  );
  assert.deepEqual(named.permits, [1_500]);
  assert.equal(named.successes, 1);
  const oldest = applyOutcomes(half, [{ ok: true, generation: 2, permit: true }], cfg, 1_000);
  assert.deepEqual(oldest.permits, [1_600]);
  assert.equal(oldest.successes, 1);
  // Its permit expired (given back at 1,500): late, it decides nothing.
  const late = applyOutcomes(
    half,
    [{ ok: false, generation: 2, permit: true, permitId: 1_500 }],
    cfg,
    1_500,
  );
  assert.equal(late.state, "half_open");
  assert.deepEqual(late.permits, [1_600]);
  // No permit left to give back: HALF_OPEN counts the trial, any other state ignores it.
  const none: SharedState = { ...half, permits: [] };
  const failed = applyOutcomes(none, [{ ok: false, generation: 2, permit: true }], cfg, 1_000);
  assert.equal(failed.state, "open");
  assert.equal(failed.reason, "half_open_failure");
  const closed = applyOutcomes(initialSharedState(), [{ ok: false, generation: 0, permit: true }], {
    ...cfg,
    failureThreshold: 1,
  }, 1_000);
  assert.equal(
    closed.state,
    "closed",
    "a trial report on a CLOSED circuit with no permit: ignored",
  );
  assert.equal(closed.failures, 0);
  // `permit: 1` is not a trial: a stray CLOSED-call report on a HALF_OPEN circuit.
  const stray = applyOutcomes(
    none,
    [{ ok: false, generation: 2, permit: 1 as unknown as boolean }],
    cfg,
    1_000,
  );
  assert.equal(stray.state, "half_open");
  assert.equal(stray.failures, 0);
});

test("reducer: a CLOSED-call report on a circuit that is not CLOSED is stray: skipped", () => {
  const s = applyOutcomes(
    open(0),
    [{ ok: true, generation: 1 }, { ok: false, generation: 1 }],
    cfg,
    10,
  );
  assert.equal(s.state, "open");
  assert.equal(s.failures, 0);
  assert.equal(s.successes, 0);
  assert.equal(s.lastSuccessAt, undefined);
});

test("reducer: the repair mark of the state read is kept in the answer of every operation", () => {
  const marked = { ...initialSharedState(), repaired: "why" };
  assert.equal(applyOutcomes(marked, [], cfg, 1).repaired, "why");
  assert.equal(acquirePermit(marked, cfg, 1).state.repaired, "why");
  assert.equal(applyCommand(marked, "open", cfg, 1).repaired, "why");
  assert.equal("repaired" in applyOutcomes(initialSharedState(), [], cfg, 1), false);
});

test("reducer: acquirePermit grants CLOSED and due trials (with the permit id), refuses while OPEN", () => {
  const c = acquirePermit(initialSharedState(), cfg, 5);
  assert.deepEqual(c, { granted: true, state: initialSharedState() });
  const refused = acquirePermit(open(0), cfg, 999);
  assert.equal(refused.granted, false);
  assert.equal(refused.permit, undefined);
  assert.equal(refused.state.state, "open");
  const g = acquirePermit(open(0), cfg, 1_000);
  assert.equal(g.granted, true);
  assert.equal(g.permit, 2_000);
  assert.equal(g.state.state, "half_open");
  assert.deepEqual(g.state.permits, [2_000]);
  // A closed circuit at generation 0 is granted (the generation is not a refusal).
  assert.equal(acquirePermit({ ...initialSharedState(), generation: 0 }, cfg, 1).granted, true);
});

test("reducer: applyCommand refuses a command it does not know", () => {
  for (const c of ["close", "", "OPEN", "toString"]) {
    assert.throws(
      () => applyCommand(initialSharedState(), c as "open", cfg, 1),
      { name: "TypeError", message: "unknown circuit command" },
    );
  }
  assert.equal(applyCommand(initialSharedState(), "isolate", cfg, 1).held, true);
  assert.equal(applyCommand(open(0, { held: true }), "release", cfg, 5_000).held, undefined);
});

test("reducer: a plain read writes only when it moved a time back or repaired the entry", () => {
  const read = (stored: unknown, now: number, config = cfg) =>
    circuitReducer(stored, { type: "circuit", action: "sync", outcomes: [], config }, now);
  assert.equal(read(undefined, 0).write, false);
  assert.equal(read(open(100), 1_000).write, false, "nothing in the future");
  const moved = read(open(10_000), 1_000);
  assert.equal(moved.write, true, "openedAt brought back");
  assert.equal(moved.value.openedAt, 2_000);
  const half: SharedState = { ...initialSharedState(), state: "half_open", generation: 2 };
  assert.equal(read({ ...half, permits: [1_500, 1_900] }, 1_000).write, false);
  const p = read({ ...half, permits: [1_500, 9_000] }, 1_000);
  assert.equal(p.write, true, "a permit brought back (the second one)");
  assert.deepEqual(p.value.permits, [1_500, 3_000]);
  const timed: SharedConfig = {
    failureThreshold: Number.MAX_SAFE_INTEGER,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    rates: {
      failureRateThreshold: 0.5,
      minimumThroughput: 1,
      windowDuration: 1_000,
      windowBuckets: 10,
    },
  };
  const w = { ...initialSharedState(), window: { at: 20, counts: [1, 0, 0] } };
  assert.equal(read(w, 1_000, timed).write, false, "bucket 20 ends at 2,100: within the allowance");
  const far = read({ ...w, window: { at: 99, counts: [1, 0, 0] } }, 1_000, timed);
  assert.equal(far.write, true, "a fast clock's bucket brought back");
  assert.equal((far.value.window as { at: number }).at, 20);
  const repaired = read("{garbage", 0);
  assert.equal(repaired.write, true);
  assert.equal(repaired.value.repaired, undefined, "stored without the mark");
  assert.equal((repaired.answer as SharedState).repaired, "malformed circuit state from the store");
});

test("reducer: sync, acquire and command always write; malformed operations are refused", () => {
  const op = (o: Record<string, unknown>) =>
    circuitReducer(undefined, { type: "circuit", config: cfg, ...o } as never, 0);
  const sync = op({ action: "sync", outcomes: [{ ok: true, generation: 0 }] });
  assert.equal(sync.write, true);
  assert.equal(sync.value.lastSuccessAt, undefined, "at 0: no time recorded");
  assert.equal(op({ action: "acquire" }).write, true);
  assert.equal((op({ action: "acquire" }).answer as { granted: boolean }).granted, true);
  assert.equal(op({ action: "command", command: "open" }).write, true);
  assert.equal(op({ action: "command", command: "open" }).value.state, "open");
  assert.throws(() => op({ action: "sync", outcomes: "x" }), {
    name: "TypeError",
    message: "malformed outcomes",
  });
  assert.throws(() => op({ action: "delete" }), {
    name: "TypeError",
    message: "unknown circuit operation",
  });
  // The repair mark is said in the answer of a sync with outcomes and of a command, never stored.
  const r = circuitReducer("junk", {
    type: "circuit",
    action: "command",
    command: "reset",
    config: cfg,
  }, 0);
  assert.equal((r.answer as SharedState).repaired, "malformed circuit state from the store");
  assert.equal(r.value.repaired, undefined);
  const a = circuitReducer("junk", { type: "circuit", action: "acquire", config: cfg }, 0);
  assert.equal((a.answer as { state: SharedState }).state.repaired !== undefined, true);
  assert.equal(a.value.repaired, undefined);
  const s = circuitReducer("junk", {
    type: "circuit",
    action: "sync",
    outcomes: [{ ok: true, generation: 0 }],
    config: cfg,
  }, 0);
  assert.equal((s.answer as SharedState).repaired !== undefined, true);
  assert.equal(s.value.repaired, undefined);
});

test("reducer: a slow trial counts as slow (only when slow is exactly true), with or without a permit left", () => {
  const rates: SharedConfig = {
    failureThreshold: Number.MAX_SAFE_INTEGER,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    rates: { slowCallRateThreshold: 0.5, minimumThroughput: 1, windowCalls: 10 },
  };
  const half = (permits: number[]): SharedState => ({
    ...initialSharedState(),
    state: "half_open",
    generation: 2,
    permits,
  });
  for (const permits of [[1_900], []]) {
    const trial = (slow: unknown) =>
      applyOutcomes(
        half(permits),
        [{ ok: true, generation: 2, permit: true, permitId: permits[0], slow } as Outcome],
        rates,
        1_000,
      );
    const slow = trial(true);
    assert.equal(slow.state, "open", `slow trial, permits ${permits}`);
    assert.equal(slow.reason, "half_open_failure");
    for (const notSlow of [false, undefined, 1, "true"]) {
      const fast = trial(notSlow);
      assert.equal(fast.state, "closed", `slow: ${String(notSlow)}, permits ${permits}`);
      assert.equal(fast.reason, "recovered");
    }
  }
});
