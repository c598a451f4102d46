// The deadline scheduler against a plain model: random deadlines of a few
// durations, random cancels and time steps; every deadline fires exactly
// once when due and never after a cancel, in order, with one timer at most.
import assert from "node:assert/strict";
import fc from "fast-check";
import { DeadlineScheduler, withoutStack } from "../src/scheduler.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { timeout } from "../mod.ts";
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
      const s = new DeadlineScheduler(clock, Infinity); // no slices: checked synchronously
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

/** Lets queued promise reactions (and the scheduler's resumes between slices) run. */
async function drain(): Promise<void> {
  for (let i = 0; i < 300; i++) await null;
}

/**
 * A manual clock whose timers fire one per task, as real ones do: promise
 * reactions run between two timers (FakeClock.tickAsync does that with real
 * macrotasks, too slow for 1,000 runs).
 */
class TaskClock extends FakeClock {
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  #now = 0;
  override now(): number {
    return this.#now;
  }
  override setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.#timers.push({ at: this.#now + Math.max(0, ms), fn, id });
    return id;
  }
  override clearTimeout(h: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== h);
  }
  override get pending(): number {
    return this.#timers.length;
  }
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) =>
        a.at - b.at || a.id - b.id
      );
      if (!due.length) break;
      this.#timers = this.#timers.filter((t) => t !== due[0]);
      this.#now = Math.max(this.#now, due[0].at);
      due[0].fn();
      await drain();
    }
    this.#now = target;
    await drain();
  }
}

test("scheduler: a burst expires in slices; the callers' reactions run between them", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(op, { maxLength: 60 }),
      fc.integer({ min: 1, max: 4 }),
      async (ops, slice) => {
        const clock = new TaskClock();
        const s = new DeadlineScheduler(clock, slice);
        const model: { at: number; cancelled: boolean; fired: boolean }[] = [];
        const handles: ReturnType<DeadlineScheduler["add"]>[] = [];
        let outstanding = 0; // fired, whose caller has not reacted yet
        for (const o of ops) {
          if (o.t === "add") {
            const me = model.length;
            model.push({ at: clock.now() + o.ms, cancelled: false, fired: false });
            handles.push(s.add(o.ms, () => {
              assert.ok(outstanding < slice, `more than ${slice} expired before a reaction ran`);
              model[me].fired = true;
              outstanding++;
              // What a caller's handler is: a promise reaction.
              Promise.resolve().then(() => outstanding--);
            }));
          } else if (o.t === "cancel" && model.length) {
            const i = o.i % model.length;
            if (!model[i].fired) model[i].cancelled = true;
            s.cancel(handles[i]);
          } else if (o.t === "tick") {
            await clock.advance(o.ms);
          }
          await clock.advance(0); // what is due now fires (then the reactions run)
          for (const m of model) {
            assert.equal(
              m.fired,
              !m.cancelled && m.at <= clock.now(),
              "due ones fired, others not",
            );
          }
          assert.ok(clock.pending <= 1, "at most one real timer");
          assert.equal(s.pending, model.filter((m) => !m.cancelled && !m.fired).length);
        }
        await clock.advance(1000); // everything still pending fires, the timer ends
        assert.equal(s.pending, 0);
        assert.equal(clock.pending, 0);
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("scheduler: 2,000 timeouts due together: callers hear of the first before the last expires", async () => {
  const N = 2_000;
  const events: string[] = [];
  const t = timeout(20, { logger: { info() {}, warn() {}, error() {} } });
  const calls = Array.from(
    { length: N },
    () =>
      t.execute(({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener("abort", () => {
            events.push("expired");
            reject(signal.reason);
          });
        })
      ).catch(() => void events.push("caller")),
  );
  await Promise.all(calls);
  assert.equal(events.filter((e) => e === "expired").length, N);
  const firstCaller = events.indexOf("caller");
  const lastExpiry = events.lastIndexOf("expired");
  assert.ok(
    firstCaller < lastExpiry,
    `the first caller heard after all ${N} deadlines expired (position ${firstCaller})`,
  );
  assert.ok(firstCaller <= 64, `first caller at position ${firstCaller}`);
});

test("scheduler: a timeout's error is made without stack frames (they would show only the scheduler)", async () => {
  const limit = (Error as { stackTraceLimit?: number }).stackTraceLimit;
  const e = await timeout(1, { logger: { info() {}, warn() {}, error() {} } })(function slow() {
    return new Promise(() => {});
  })().catch((e: Error) => e) as Error;
  assert.equal(e.name, "ResilienceTimeoutError");
  if (typeof limit === "number") {
    assert.equal(
      String(e.stack).split("\n")[0],
      "ResilienceTimeoutError: Operation 'slow' timed out after 1ms",
    );
    assert.doesNotMatch(String(e.stack), /\n\s+at /);
  }
  // The limit is restored, also when making the error throws.
  assert.equal((Error as { stackTraceLimit?: number }).stackTraceLimit, limit);
  assert.throws(() =>
    withoutStack(() => {
      throw new Error("bad");
    }), /bad/);
  assert.equal((Error as { stackTraceLimit?: number }).stackTraceLimit, limit);
  assert.match(String(new Error("x").stack), /\n\s+at /);
});
