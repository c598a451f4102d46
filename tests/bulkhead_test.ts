import assert from "node:assert/strict";
import fc from "fast-check";
import { bulkhead, BulkheadRejectedError, compose, ResilienceError, timeout } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, FC_RUNS, macrotask, silent, test } from "./_harness.ts";

test("bulkhead: a free slot runs at once; the slot is freed however the call ends", async () => {
  const b = bulkhead({ name: "db", maxConcurrent: 2 });
  assert.equal(await b.execute(() => 1), 1);
  await assert.rejects(b.execute(() => Promise.reject(new Error("x"))), /x/);
  await assert.rejects(
    b.execute(() => {
      throw new TypeError("sync");
    }),
    TypeError,
  );
  const wrapped = b(async (a: number, c: number) => a + c);
  assert.equal(await wrapped(2, 3), 5);
  assert.deepEqual(b.getStats(), {
    name: "db",
    running: 0,
    queued: 0,
    rejected: 0,
    lastRejectedAt: null,
    executed: 4,
    maxConcurrent: 2,
    maxQueue: 0,
  });
  assert.equal(JSON.parse(JSON.stringify(b.getStats())).running, 0);
});

test("bulkhead: a full bulkhead without a queue rejects without running the call", async () => {
  const b = bulkhead({ name: "db", maxConcurrent: 1 });
  const gate = deferred();
  const first = b.execute(() => gate.promise);
  let ran = false;
  const e = await b.execute(() => (ran = true)).catch((e) => e);
  assert.ok(e instanceof BulkheadRejectedError);
  assert.ok(e instanceof ResilienceError);
  assert.equal(e.bulkheadName, "db");
  assert.equal(e.name, "BulkheadRejectedError");
  assert.equal(e.maxConcurrent, 1);
  assert.equal(e.maxQueue, 0);
  assert.equal(e.reason, "queue-full");
  assert.match(e.message, /Bulkhead 'db' is full: 1 running and 0 queued/);
  assert.equal(ran, false);
  assert.equal(b.getStats().rejected, 1);
  gate.resolve();
  await first;
  assert.equal(b.getStats().running, 0);
  assert.equal(await b.execute(() => "again"), "again");
});

test("bulkhead: the queue is FIFO and a freed slot goes to the first waiter", async () => {
  const b = bulkhead({ maxConcurrent: 1, maxQueue: 3 });
  const order: number[] = [];
  const gates = [deferred<void>(), deferred<void>(), deferred<void>(), deferred<void>()];
  const calls = gates.map((g, i) =>
    b.execute(async () => {
      order.push(i);
      await g.promise;
      return i;
    })
  );
  await macrotask();
  assert.deepEqual(order, [0]);
  assert.deepEqual([b.getStats().running, b.getStats().queued], [1, 3]);
  // A newcomer cannot jump the queue when the slot frees.
  const full = await b.execute(() => "x").catch((e) => e);
  assert.equal(full.reason, "queue-full");
  gates[0].resolve();
  await macrotask();
  assert.deepEqual(order, [0, 1]);
  gates[1].resolve();
  gates[2].resolve();
  gates[3].resolve();
  assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3]);
  assert.deepEqual(order, [0, 1, 2, 3]);
  assert.deepEqual([b.getStats().running, b.getStats().queued, b.getStats().executed], [0, 0, 4]);
});

test("bulkhead: a call waiting past queueTimeout rejects and never starts", async () => {
  const clock = new FakeClock();
  const b = bulkhead({ name: "q", maxConcurrent: 1, maxQueue: 1, queueTimeout: 100, clock });
  const gate = deferred();
  const first = b.execute(() => gate.promise);
  let ran = false;
  const waiting = b.execute(() => (ran = true)).catch((e) => e);
  assert.equal(clock.pending, 1);
  await clock.tickAsync(99);
  assert.equal(b.getStats().queued, 1);
  await clock.tickAsync(1);
  const e = await waiting;
  assert.ok(e instanceof BulkheadRejectedError);
  assert.equal(e.reason, "queue-timeout");
  assert.match(e.message, /queue timeout/);
  assert.deepEqual([b.getStats().queued, b.getStats().rejected], [0, 1]);
  gate.resolve();
  await first;
  await macrotask();
  assert.equal(ran, false);
  assert.equal(b.getStats().running, 0);
  assert.equal(clock.pending, 0);
});

test("bulkhead: a waiter that gets its slot in time clears its queue timer", async () => {
  const clock = new FakeClock();
  const b = bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 100, clock });
  const gate = deferred();
  const first = b.execute(() => gate.promise);
  const second = b.execute(() => "second");
  assert.equal(clock.pending, 1);
  gate.resolve();
  await first;
  assert.equal(await second, "second");
  assert.equal(clock.pending, 0);
});

test("bulkhead: with the system clock, a queue timeout fires on time and leaves no timer", async () => {
  const b = bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: 20 });
  const gate = deferred();
  const first = b.execute(() => gate.promise);
  const e = await b.execute(() => "never").catch((e) => e);
  assert.equal(e.reason, "queue-timeout");
  gate.resolve();
  await first;
});

test("bulkhead: the caller's abort removes a waiter at once; no slot leaks, no late start", async () => {
  const b = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
  const gate = deferred();
  const first = b.execute(() => gate.promise);
  const ctl = new AbortController();
  let ran = false;
  const waiting = b.execute(() => (ran = true), ctl.signal).catch((e) => e);
  const third = b.execute(() => "third");
  assert.equal(b.getStats().queued, 2);
  const reason = new Error("client went away");
  ctl.abort(reason);
  assert.equal(b.getStats().queued, 1, "removed synchronously");
  assert.equal(await waiting, reason);
  gate.resolve();
  await first;
  assert.equal(await third, "third");
  assert.equal(ran, false);
  assert.deepEqual([b.getStats().running, b.getStats().queued, b.getStats().rejected], [0, 0, 0]);
});

test("bulkhead: an already-aborted caller never starts and counts nothing", async () => {
  const b = bulkhead({ maxConcurrent: 1 });
  const ctl = new AbortController();
  ctl.abort(new Error("gone"));
  let ran = false;
  await assert.rejects(b.execute(() => (ran = true), ctl.signal), /gone/);
  assert.equal(ran, false);
  assert.deepEqual([b.getStats().executed, b.getStats().rejected], [0, 0]);
});

test("bulkhead: a timeout inside aborts the running call and frees its slot", async () => {
  const clock = new FakeClock();
  const b = bulkhead({ maxConcurrent: 1 });
  const p = compose(b, timeout(50, { clock, logger: silent })).execute(({ signal }) =>
    new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))
  ).catch((e) => e);
  await clock.tickAsync(50);
  assert.equal((await p as Error).name, "ResilienceTimeoutError");
  assert.equal(b.getStats().running, 0);
});

test("bulkhead: decorator style", async () => {
  const b = bulkhead({ maxConcurrent: 1 });
  class Repo {
    @b
    async get(id: string) {
      return { id };
    }
  }
  assert.deepEqual(await new Repo().get("7"), { id: "7" });
});

test("bulkhead: options are validated at construction", () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /'maxConcurrent' is required/],
    [{}, /'maxConcurrent' must be a number/],
    [{ maxConcurrent: 0 }, /'maxConcurrent' must be an integer >= 1/],
    [{ maxConcurrent: 1.5 }, /'maxConcurrent'/],
    [{ maxConcurrent: 1, maxQueue: -1 }, /'maxQueue'/],
    [{ maxConcurrent: 1, queueTimeout: NaN }, /'queueTimeout'/],
    [{ maxConcurrent: 1, queueTimeout: 2 ** 31 }, /'queueTimeout'/],
    [{ maxConcurrent: 1, name: "" }, /'name'/],
    [{ maxConcurrent: 1, maxQueu: 2 }, /unknown option 'maxQueu' \(did you mean 'maxQueue'\?\)/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => bulkhead(options as never), message, JSON.stringify(options));
  }
});

/** Lets promise reactions run (no macrotask: keeps 1,000 runs fast). */
async function settle() {
  for (let i = 0; i < 20; i++) await null;
}

// Model: the bulkhead never runs more than maxConcurrent, never loses or
// duplicates a slot, starts waiters in FIFO order, and settles every call
// exactly once, under random arrivals, completions, aborts and timeouts.
type Op =
  | { kind: "arrive"; abortable: boolean }
  | { kind: "finish"; pick: number; fail: boolean }
  | { kind: "abort"; pick: number }
  | { kind: "tick"; ms: number };

test("bulkhead: property — slots are never lost or duplicated (model)", async () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant("arrive" as const), abortable: fc.boolean() }),
    fc.record({ kind: fc.constant("finish" as const), pick: fc.nat(), fail: fc.boolean() }),
    fc.record({ kind: fc.constant("abort" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 60 }) }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 0, max: 3 }),
      fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      fc.array(op, { maxLength: 40 }),
      async (maxConcurrent, maxQueue, queueTimeout, ops) => {
        const clock = new FakeClock();
        const b = bulkhead({ maxConcurrent, maxQueue, queueTimeout, clock });
        type Call = {
          id: number;
          ctl?: AbortController;
          gate: ReturnType<typeof deferred<void>>;
          started: boolean;
          settled: number;
          outcome?: string;
          queuedAt: number;
        };
        const calls: Call[] = [];
        // Model state
        let running = 0;
        const queue: Call[] = [];
        const startOrder: number[] = [];
        const expectedOrder: number[] = [];
        const modelStart = (c: Call) => {
          running++;
          expectedOrder.push(c.id);
        };
        const modelRelease = () => {
          const next = queue.shift();
          if (next) modelStart(next), running--;
          else running--;
        };
        for (const o of ops) {
          if (o.kind === "arrive") {
            const c: Call = {
              id: calls.length,
              ctl: o.abortable ? new AbortController() : undefined,
              gate: deferred<void>(),
              started: false,
              settled: 0,
              queuedAt: clock.now(),
            };
            calls.push(c);
            if (running < maxConcurrent) modelStart(c);
            else if (queue.length < maxQueue) queue.push(c);
            b.execute(() => {
              assert.equal(c.started, false, "started twice");
              c.started = true;
              startOrder.push(c.id);
              return c.gate.promise;
            }, c.ctl?.signal).then(
              () => (c.settled++, c.outcome = "ok"),
              (
                e,
              ) => (c.settled++, c.outcome = e instanceof BulkheadRejectedError ? e.reason : "err"),
            );
          } else if (o.kind === "finish") {
            const active = calls.filter((c) => c.started && c.settled === 0 && !c.outcome);
            if (active.length === 0) continue;
            const c = active[o.pick % active.length];
            c.outcome = "finishing";
            if (o.fail) c.gate.reject(new Error("boom"));
            else c.gate.resolve();
            modelRelease();
          } else if (o.kind === "abort") {
            const waiting = queue.filter((c) => c.ctl);
            if (waiting.length === 0) continue;
            const c = waiting[o.pick % waiting.length];
            queue.splice(queue.indexOf(c), 1);
            c.ctl!.abort(new Error("aborted"));
          } else {
            clock.tick(o.ms);
            await settle();
            if (queueTimeout !== undefined) {
              for (let i = queue.length - 1; i >= 0; i--) {
                if (clock.now() - queue[i].queuedAt >= queueTimeout) queue.splice(i, 1);
              }
            }
          }
          await settle();
          const s = b.getStats();
          assert.ok(s.running <= maxConcurrent, "over the limit");
          assert.equal(s.running, running, "running");
          assert.equal(s.queued, queue.length, "queued");
          assert.deepEqual(startOrder, expectedOrder, "FIFO starts");
        }
        // Drain: finish everything still running; every call settles exactly once.
        for (let guard = 0; guard < 100; guard++) {
          const active = calls.filter((c) => c.started && !c.outcome);
          if (active.length === 0 && b.getStats().queued === 0) break;
          for (const c of active) c.outcome = "finishing", c.gate.resolve();
          await settle();
          clock.tick(1_000);
          await settle();
        }
        await settle();
        assert.deepEqual(b.getStats().running, 0);
        for (const c of calls) assert.equal(c.settled, 1, `call ${c.id} settled once`);
        assert.equal(clock.pending, 0);
      },
    ),
    { numRuns: FC_RUNS },
  );
});
