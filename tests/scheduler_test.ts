// The deadline scheduler against a plain model: random deadlines of a few
// durations, random cancels and time steps; every deadline fires exactly
// once when due and never after a cancel, in order, with one timer at most.
import assert from "node:assert/strict";
import fc from "fast-check";
import { DeadlineScheduler } from "../src/scheduler.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, test } from "./_harness.ts";

type Op =
  | { t: "add"; ms: number }
  | { t: "cancel"; i: number }
  | { t: "tick"; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant("add" as const), ms: fc.constantFrom(0, 5, 10, 25, 100) }),
  fc.record({ t: fc.constant("cancel" as const), i: fc.nat(50) }),
  fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 60 }) }),
);

test("scheduler: deadlines fire once, on time, in order; cancels hold; one timer at most", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const clock = new FakeClock();
      const s = new DeadlineScheduler(clock);
      const fired: number[] = [];
      const model: { id: number; at: number; cancelled: boolean; fired: boolean }[] = [];
      const handles: ReturnType<DeadlineScheduler["add"]>[] = [];
      let id = 0;
      for (const o of ops) {
        if (o.t === "add") {
          const me = id++;
          model.push({ id: me, at: clock.now() + o.ms, cancelled: false, fired: false });
          handles.push(s.add(o.ms, () => fired.push(me)));
        } else if (o.t === "cancel" && model.length) {
          const i = o.i % model.length;
          if (!model[i].fired) model[i].cancelled = true;
          s.cancel(handles[i]);
        } else if (o.t === "tick") {
          clock.tick(o.ms);
          for (const m of model) {
            if (!m.cancelled && !m.fired && m.at <= clock.now()) m.fired = true;
          }
        }
        assert.ok(clock.pending <= 1, "at most one real timer");
        assert.equal(s.pending, model.filter((m) => !m.cancelled && !m.fired).length);
      }
      const expected = model.filter((m) => m.fired).map((m) => m.id);
      assert.deepEqual([...fired].sort((a, b) => a - b), expected);
      // Fired in deadline order.
      const at = new Map(model.map((m) => [m.id, m.at]));
      for (let i = 1; i < fired.length; i++) {
        assert.ok(at.get(fired[i - 1])! <= at.get(fired[i])!, "order");
      }
      s.stopIfIdle();
      clock.tick(1000);
    }),
    { numRuns: FC_RUNS },
  );
});

test("scheduler: cancelling every deadline leaves no work; the idle timer can be stopped", () => {
  const clock = new FakeClock();
  const s = new DeadlineScheduler(clock);
  const hs = Array.from({ length: 100 }, () => s.add(10_000, () => assert.fail("cancelled")));
  assert.equal(clock.pending, 1);
  for (const h of hs) s.cancel(h);
  assert.equal(s.pending, 0);
  assert.equal(s.stopIfIdle(), 0);
  assert.equal(clock.pending, 0);
  assert.equal(s.armed, false);
});
