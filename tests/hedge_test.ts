import assert from "node:assert/strict";
import fc from "fast-check";
import { circuitBreaker, compose, hedge, ResilienceError, timeout } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, FC_RUNS, silent, test } from "./_harness.ts";

/** An attempt the test settles by hand, recording its signal. */
function attempts() {
  type Attempt = { signal: AbortSignal; d: ReturnType<typeof deferred<string>>; done: boolean };
  const started: Attempt[] = [];
  const work = ({ signal }: { signal: AbortSignal }) => {
    const raw = deferred<string>();
    const a: Attempt = { signal, done: false, d: raw };
    a.d = {
      promise: raw.promise,
      resolve: (v) => (a.done = true, raw.resolve(v)),
      reject: (e) => (a.done = true, raw.reject(e)),
    };
    started.push(a);
    return raw.promise;
  };
  return { started, work };
}

async function settle() {
  for (let i = 0; i < 20; i++) await null;
}

test("hedge: a fast first attempt wins alone; the delay is cancelled (no timer left)", async () => {
  const clock = new FakeClock();
  const h = hedge({ delay: 100, clock });
  const { started, work } = attempts();
  const p = h.execute(work);
  assert.equal(clock.pending, 1);
  started[0].d.resolve("first");
  assert.equal(await p, "first");
  assert.equal(clock.pending, 0);
  await clock.tickAsync(1_000);
  assert.equal(started.length, 1);
  assert.equal(started[0].signal.aborted, false);
});

test("hedge: a slow attempt gets a hedge after delay; the first success wins and the other is aborted", async () => {
  const clock = new FakeClock();
  const h = hedge({ delay: 100, maxHedges: 2, clock });
  const { started, work } = attempts();
  const p = h.execute(work);
  await clock.tickAsync(99);
  assert.equal(started.length, 1);
  await clock.tickAsync(1);
  assert.equal(started.length, 2);
  started[1].d.resolve("second");
  assert.equal(await p, "second");
  assert.equal(started[0].signal.aborted, true);
  assert.ok(started[0].signal.reason instanceof ResilienceError);
  assert.match(String(started[0].signal.reason.message), /another attempt won/);
  assert.equal(started[1].signal.aborted, false);
  assert.equal(clock.pending, 0, "no third hedge scheduled after the call settled");
  await clock.tickAsync(1_000);
  assert.equal(started.length, 2);
});

test("hedge: at most maxHedges extra attempts", async () => {
  const clock = new FakeClock();
  const h = hedge({ delay: 10, maxHedges: 3, clock });
  const { started, work } = attempts();
  const p = h.execute(work);
  await clock.tickAsync(1_000);
  assert.equal(started.length, 4);
  assert.equal(clock.pending, 0);
  started[2].d.resolve("third");
  assert.equal(await p, "third");
  assert.deepEqual(started.map((s) => s.signal.aborted), [true, true, false, true]);
});

test("hedge: a failed attempt is replaced at once; all failing throws the last with an AggregateError cause", async () => {
  const clock = new FakeClock();
  const h = hedge({ delay: 100, maxHedges: 1, clock });
  const { started, work } = attempts();
  const p = h.execute(work).catch((e) => e);
  started[0].d.reject(new Error("one"));
  await settle();
  assert.equal(started.length, 2, "hedge started without waiting for the delay");
  started[1].d.reject(new Error("two"));
  const e = await p;
  assert.equal(e.message, "two");
  assert.ok(e.cause instanceof AggregateError);
  assert.deepEqual(e.cause.errors.map((x: Error) => x.message), ["one", "two"]);
  assert.equal(clock.pending, 0);
});

test("hedge: an attempt still in flight may win after another failed", async () => {
  const clock = new FakeClock();
  const h = hedge({ delay: 10, maxHedges: 1, clock });
  const { started, work } = attempts();
  const p = h.execute(work);
  await clock.tickAsync(10);
  started[1].d.reject(new Error("hedge failed"));
  await settle();
  started[0].d.resolve("slow but fine");
  assert.equal(await p, "slow but fine");
});

test("hedge: a sync throw counts as a failed attempt", async () => {
  let n = 0;
  const h = hedge({ delay: 1_000, maxHedges: 1 });
  const v = await h.execute(() => {
    if (++n === 1) throw new Error("sync");
    return "ok";
  });
  assert.equal(v, "ok");
  assert.equal(n, 2);
});

test("hedge: the caller's abort rejects at once and aborts every attempt; before start, nothing runs", async () => {
  const clock = new FakeClock();
  const h = hedge({ delay: 10, maxHedges: 2, clock });
  const { started, work } = attempts();
  const ctl = new AbortController();
  const p = h.execute(work, ctl.signal).catch((e) => e);
  await clock.tickAsync(10);
  const reason = new Error("client left");
  ctl.abort(reason);
  assert.equal(await p, reason);
  assert.deepEqual(started.map((s) => s.signal.aborted), [true, true]);
  assert.equal(started[0].signal.reason, reason);
  assert.equal(clock.pending, 0);
  await clock.tickAsync(100);
  assert.equal(started.length, 2);

  const gone = new AbortController();
  gone.abort(new Error("gone"));
  let ran = false;
  await assert.rejects(h.execute(() => (ran = true), gone.signal), /gone/);
  assert.equal(ran, false);
});

test("hedge: outside a half-open breaker, hedged attempts never exceed its trial limit", async () => {
  const clock = new FakeClock();
  const breaker = circuitBreaker({
    failureThreshold: 1,
    resetTimeout: 50,
    halfOpenMaxCalls: 1,
    clock,
    logger: silent,
  });
  await breaker.execute(() => Promise.reject(new Error("down"))).catch(() => {});
  await clock.tickAsync(50); // due to half-open: one trial allowed
  const { started, work } = attempts();
  const p = compose(hedge({ delay: 10, maxHedges: 3, clock }), breaker).execute(work);
  await clock.tickAsync(100);
  assert.equal(started.length, 1, "the hedges met the half-open limit: refused, not sent");
  started[0].d.resolve("trial ok");
  assert.equal(await p, "trial ok");
  await clock.tickAsync(0);
  assert.equal(breaker.getStats().totalSuccesses, 1);
});

test("hedge: outside a breaker, each hedged attempt is a breaker call; losers count as nothing", async () => {
  const clock = new FakeClock();
  const breaker = circuitBreaker({ failureThreshold: 2, clock, logger: silent });
  const { started, work } = attempts();
  const p = compose(hedge({ delay: 10, maxHedges: 2, clock }), breaker).execute(work);
  await clock.tickAsync(20);
  assert.equal(started.length, 3);
  started[2].d.resolve("third wins");
  assert.equal(await p, "third wins");
  await clock.tickAsync(0);
  assert.deepEqual(
    [breaker.getStats().totalSuccesses, breaker.getStats().totalFailures, breaker.state],
    [1, 0, "closed"],
    "the aborted losers are the caller's cancellation: not failures",
  );
});

test("hedge: under a timeout every attempt is aborted at the deadline", async () => {
  const clock = new FakeClock();
  const { started, work } = attempts();
  const p = compose(
    timeout(50, { clock, logger: silent }),
    hedge({ delay: 10, maxHedges: 2, clock }),
  )
    .execute(work).catch((e) => e);
  await clock.tickAsync(50);
  assert.equal((await p as Error).name, "ResilienceTimeoutError");
  assert.equal(started.length, 3);
  assert.ok(started.every((s) => s.signal.aborted));
  assert.equal(clock.pending, 0);
});

test("hedge: options are validated at construction", () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /'delay' is required/],
    [{}, /'delay' must be a number/],
    [{ delay: 0 }, /'delay'/],
    [{ delay: 10, maxHedges: 0 }, /'maxHedges'/],
    [{ delay: 10, maxHedges: 1.5 }, /'maxHedges'/],
    [{ delay: 10, maxhedges: 2 }, /unknown option 'maxhedges' \(did you mean 'maxHedges'\?\)/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => hedge(options as never), message, JSON.stringify(options));
  }
  assert.deepEqual([hedge({ delay: 5 }).delay, hedge({ delay: 5 }).maxHedges], [5, 1]);
});

test("hedge: property — no attempt is left running after the call settles", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 3 }),
      fc.array(
        fc.record({
          at: fc.integer({ min: 0, max: 100 }),
          ok: fc.boolean(),
          pick: fc.nat(),
        }),
        { maxLength: 8 },
      ),
      fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
      async (maxHedges, outcomes, abortAt) => {
        const clock = new FakeClock();
        const h = hedge({ delay: 20, maxHedges, clock });
        const { started, work } = attempts();
        const ctl = new AbortController();
        let result: string | undefined;
        const onSettle = (r: string) => {
          result = r;
          for (const s of started) assert.ok(s.done || s.signal.aborted, "attempt left running");
        };
        h.execute(work, ctl.signal).then(() => onSettle("ok"), () => onSettle("err"));
        const events = [...outcomes.map((o) => ({ ...o, kind: "settle" as const }))];
        if (abortAt !== undefined) {
          events.push({ at: abortAt, ok: false, pick: 0, kind: "abort" as never });
        }
        events.sort((a, b) => a.at - b.at);
        for (const ev of events) {
          clock.tick(ev.at - clock.now());
          await settle();
          if ((ev.kind as string) === "abort") ctl.abort(new Error("abort"));
          else {
            const open = started.filter((s) => !s.signal.aborted);
            if (open.length) {
              const s = open[ev.pick % open.length];
              if (ev.ok) s.d.resolve("v");
              else s.d.reject(new Error("x"));
            }
          }
          await settle();
          assert.ok(started.length <= maxHedges + 1);
        }
        // Finish whatever is left, then check nothing runs on.
        for (let i = 0; i < 10 && result === undefined; i++) {
          for (const s of started) s.d.resolve("late");
          await settle();
          if (result === undefined) clock.tick(100);
          await settle();
        }
        assert.ok(result !== undefined, "the call settled");
        assert.equal(clock.pending, 0, "no hedge timer left");
        const n = started.length;
        clock.tick(1_000);
        await settle();
        assert.equal(started.length, n, "no attempt starts after the call settled");
      },
    ),
    { numRuns: FC_RUNS },
  );
});
