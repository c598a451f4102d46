// The rate rules' data structures against small reference models: the count
// window (last N calls), the time window (last T ms in buckets, idle gaps and
// clock jumps), slow calls and the trip decision, the half-open verdict.
import assert from "node:assert/strict";
import fc from "fast-check";
import { CountWindow } from "../src/circuit_breaker/count_window.ts";
import { TimeWindow } from "../src/circuit_breaker/time_window.ts";
import { type RateRules, trialVerdict, TripRules } from "../src/circuit_breaker/rules.ts";
import { CLOSE, REOPEN, UNDECIDED } from "../src/circuit_breaker/strategy.ts";
import { FC_RUNS, test } from "./_harness.ts";

type Outcome = { failed: boolean; slow: boolean };
const outcome: fc.Arbitrary<Outcome> = fc.record({ failed: fc.boolean(), slow: fc.boolean() });

function counts(list: readonly Outcome[]) {
  return {
    calls: list.length,
    failures: list.filter((o) => o.failed).length,
    slowCalls: list.filter((o) => o.slow).length,
  };
}
function countsOf(w: { calls: number; failures: number; slowCalls: number }) {
  return { calls: w.calls, failures: w.failures, slowCalls: w.slowCalls };
}

test("count window: holds exactly the last N calls (model, ≥ 1,000 runs)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(
        fc.oneof(
          outcome.map((o) => ({ ...o, clear: false })),
          fc.constant({ clear: true, failed: false, slow: false }),
        ),
        { maxLength: 120 },
      ),
      (size, ops) => {
        const w = new CountWindow(size);
        let model: Outcome[] = [];
        for (const op of ops) {
          if (op.clear) {
            w.clear();
            model = [];
          } else {
            w.add(op.failed, op.slow, 0);
            model.push(op);
          }
          assert.deepEqual(countsOf(w), counts(model.slice(-size)));
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

type TimeOp = { t: "add"; failed: boolean; slow: boolean } | { t: "tick"; ms: number } | {
  t: "read";
};

test("time window: counts the current bucket and the buckets - 1 before it, never a stale one after an idle gap, a clock jump or a late report (model, ≥ 1,000 runs)", () => {
  const op: fc.Arbitrary<TimeOp> = fc.oneof(
    fc.record({ t: fc.constant("add" as const), failed: fc.boolean(), slow: fc.boolean() }),
    fc.record({
      t: fc.constant("tick" as const),
      ms: fc.oneof(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.constant(3_600_000), // an idle hour
        fc.integer({ min: -500, max: -1 }), // a clock that goes back
      ),
    }),
    fc.record({ t: fc.constant("read" as const) }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 0, max: 5_000 }),
      fc.integer({ min: -10_000, max: 10_000 }),
      fc.array(op, { maxLength: 80 }),
      (buckets, extra, start, ops) => {
        const duration = buckets + extra;
        const w = new TimeWindow(duration, buckets);
        const width = duration / buckets;
        let now = start;
        // The model: every call with the bucket it fell in; the newest bucket
        // never moves back. An outcome dated before the newest bucket (a clock going
        // back, a late report) counts in its own bucket while that is in the window.
        let newest = -Infinity;
        const calls: (Outcome & { bucket: number })[] = [];
        const inWindow = () => calls.filter((c) => c.bucket > newest - buckets);
        for (const o of ops) {
          if (o.t === "tick") now += o.ms;
          else {
            newest = Math.max(newest, Math.floor(now / width));
            if (o.t === "add") {
              w.add(o.failed, o.slow, now);
              const bucket = Math.floor(now / width);
              if (bucket > newest - buckets) calls.push({ failed: o.failed, slow: o.slow, bucket });
            } else w.roll(now);
            assert.deepEqual(countsOf(w), counts(inWindow()));
          }
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("time window: after an idle hour the old failures are gone (cockatiel's SamplingBreaker keeps them)", () => {
  const w = new TimeWindow(10_000, 10);
  for (let i = 0; i < 50; i++) w.add(true, false, 500 + i);
  assert.equal(w.failures, 50);
  w.add(false, false, 500 + 3_600_000);
  assert.deepEqual(countsOf(w), { calls: 1, failures: 0, slowCalls: 0 });
  // Partly stale: a gap of 5 of the 10 buckets drops only the 5 oldest.
  const v = new TimeWindow(10_000, 10);
  for (let s = 0; s < 10; s++) v.add(true, s % 2 === 0, s * 1_000);
  v.roll(14_000);
  assert.deepEqual(countsOf(v), { calls: 5, failures: 5, slowCalls: 2 });
  v.roll(19_000);
  assert.deepEqual(countsOf(v), { calls: 0, failures: 0, slowCalls: 0 });
});

const rules: fc.Arbitrary<RateRules> = fc.record({
  failureRate: fc.option(fc.integer({ min: 1, max: 100 }).map((p) => p / 100), { nil: undefined }),
  slowRate: fc.option(fc.integer({ min: 1, max: 100 }).map((p) => p / 100), { nil: undefined }),
  minCalls: fc.integer({ min: 1, max: 12 }),
  consecutive: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
});

test("rate rules over a count window, slow calls included: trips exactly when the model does (≥ 1,000 runs)", () => {
  fc.assert(
    fc.property(
      rules,
      fc.integer({ min: 1, max: 15 }),
      fc.array(outcome, { maxLength: 100 }),
      (r, size, ops) => {
        const s = new TripRules(new CountWindow(size), r);
        let seen: Outcome[] = [];
        let run = 0;
        for (const o of ops) {
          seen.push(o);
          run = o.failed ? run + 1 : 0;
          const win = counts(seen.slice(-size));
          const byRate = win.calls >= r.minCalls && (
            (r.failureRate !== undefined && win.failures / win.calls >= r.failureRate) ||
            (r.slowRate !== undefined && win.slowCalls / win.calls >= r.slowRate)
          );
          const expected = byRate || (r.consecutive !== undefined && run >= r.consecutive);
          assert.equal(
            (o.failed || o.slow ? s.record(o.failed, o.slow, 0) : s.success(0)) !== undefined,
            expected,
          );
          const st = s.window(0)!;
          assert.equal(st.calls, win.calls);
          assert.equal(st.slowCalls, win.slowCalls);
          assert.equal(st.failureRate, win.failures / win.calls);
          assert.equal(st.slowCallRate, win.slowCalls / win.calls);
          if (expected) {
            // The breaker opens; a later close starts a fresh window.
            s.reset();
            seen = [];
            run = 0;
          }
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("slow calls over a time window: a slow success trips the slow-call rate, idle gaps forget slow calls (model, ≥ 1,000 runs)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }).map((p) => p / 100),
      fc.integer({ min: 1, max: 8 }),
      fc.array(
        fc.record({
          slow: fc.boolean(),
          gap: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constant(60_000)),
        }),
        { maxLength: 60 },
      ),
      (slowRate, minCalls, ops) => {
        const r: RateRules = { failureRate: 0.5, slowRate, minCalls, consecutive: undefined };
        const s = new TripRules(new TimeWindow(1_000, 4), r);
        let now = 0;
        let seen: { at: number; slow: boolean }[] = [];
        for (const o of ops) {
          now += o.gap;
          seen.push({ at: now, slow: o.slow });
          // Buckets of 250 ms: the current one and the 3 before it.
          const win = seen.filter((c) => Math.floor(c.at / 250) > Math.floor(now / 250) - 4);
          const slow = win.filter((c) => c.slow).length;
          const expected = win.length >= minCalls && slow / win.length >= slowRate;
          // Successes only: only the slow-call rate can trip.
          assert.equal(
            o.slow ? s.record(false, true, now) : s.success(now),
            expected ? "slow_call_rate" : undefined,
          );
          if (expected) {
            s.reset();
            seen = [];
          }
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("half-open verdict: the trials' rates decide after halfOpenMaxCalls trials; an early REOPEN is final (model, ≥ 1,000 runs)", () => {
  fc.assert(
    fc.property(
      rules,
      fc.integer({ min: 1, max: 8 }),
      fc.array(outcome, { minLength: 8, maxLength: 8 }),
      (r, max, all) => {
        const trials = all.slice(0, max);
        const f = trials.filter((o) => o.failed).length;
        const sl = trials.filter((o) => o.slow).length;
        const final = (r.failureRate === undefined ? f > 0 : f / max >= r.failureRate) ||
            (r.slowRate !== undefined && sl / max >= r.slowRate)
          ? REOPEN
          : CLOSE;
        const s = new TripRules(new CountWindow(4), r);
        let verdict: number = UNDECIDED;
        let used = 0;
        while (verdict === UNDECIDED) {
          const o = trials[used++];
          verdict = s.trial(o.failed, o.slow, max);
        }
        assert.equal(verdict, final);
        if (verdict === CLOSE) assert.equal(used, max);
        // The verdict function alone agrees on the complete count.
        assert.equal(trialVerdict(r, max, max, f, sl), final);
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("time window: a fast success can trip when old fast calls roll out (the rate rises)", () => {
  const r: RateRules = { failureRate: undefined, slowRate: 0.5, minCalls: 2, consecutive: 5 };
  const s = new TripRules(new TimeWindow(1_000, 4), r);
  assert.equal(s.success(0), undefined);
  assert.equal(s.success(0), undefined);
  assert.equal(s.record(false, true, 600), undefined); // 1 slow of 3
  // At 1000 ms the bucket of the two fast calls leaves: 1 slow of 2.
  assert.equal(s.success(1_000), "slow_call_rate");
});
