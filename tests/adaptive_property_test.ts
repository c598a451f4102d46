// Property tests of adaptive concurrency against a small reference model: the
// limit stays within [minLimit, maxLimit], no call is admitted at or beyond
// the limit, in-flight and queued counts match the calls really running and
// waiting, and nothing leaks (slots, queue places, timers) under abort storms.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  adaptiveConcurrency,
  AdaptiveConcurrencyRejectedError,
  ResilienceTimeoutError,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, test } from "./_harness.ts";

/** Lets promise reactions run (no macrotask: the clock is fake). */
async function drain(): Promise<void> {
  for (let i = 0; i < 16; i++) await null;
}

const config = fc.record({
  algorithm: fc.constantFrom("gradient" as const, "vegas" as const),
  minLimit: fc.integer({ min: 1, max: 5 }),
  span: fc.integer({ min: 0, max: 12 }),
  initial: fc.integer({ min: 0, max: 4 }),
  maxQueue: fc.integer({ min: 0, max: 5 }),
  queueTimeout: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
  sampleWindow: fc.integer({ min: 1, max: 200 }),
  minSamples: fc.integer({ min: 1, max: 5 }),
  probeInterval: fc.constantFrom(0, 500, 2_000),
});

const op = fc.oneof(
  fc.record({
    t: fc.constant("call" as const),
    latency: fc.integer({ min: 0, max: 400 }),
    outcome: fc.constantFrom("ok", "fail", "timeout", "hang-until-abort"),
    abortAfter: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
    abortWithTimeout: fc.boolean(),
    sync: fc.boolean(),
  }),
  fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 250 }) }),
  fc.record({ t: fc.constant("storm" as const) }),
  // Hundreds of quick calls at once: the next windows time only one call in N (untimed calls
  // take another path, which must keep every rule too).
  fc.record({ t: fc.constant("burst" as const), n: fc.integer({ min: 256, max: 600 }) }),
);

test("adaptive property: limit bounds, admission below the limit, counts match, nothing leaks", async () => {
  await fc.assert(
    fc.asyncProperty(config, fc.array(op, { maxLength: 80 }), async (cfg, ops) => {
      const clock = new FakeClock();
      const maxLimit = cfg.minLimit + cfg.span;
      const initialLimit = Math.min(maxLimit, cfg.minLimit + cfg.initial);
      const limiter = adaptiveConcurrency({
        algorithm: cfg.algorithm,
        minLimit: cfg.minLimit,
        maxLimit,
        initialLimit,
        maxQueue: cfg.maxQueue,
        queueTimeout: cfg.maxQueue > 0 ? cfg.queueTimeout : undefined,
        sampleWindow: cfg.sampleWindow,
        minSamples: cfg.minSamples,
        probeInterval: cfg.probeInterval,
        clock,
        onLimitChange: (e) => {
          assert.ok(e.to >= cfg.minLimit && e.to <= maxLimit, `limit ${e.to}`);
          assert.notEqual(e.from, e.to);
        },
      });
      let running = 0; // the model: calls whose function started and has not settled
      let issued = 0;
      let settled = 0;
      let refused = 0;
      let admitted = 0;
      const violations: string[] = [];
      const controllers: AbortController[] = [];
      const check = () => {
        const s = limiter.getStats();
        assert.ok(s.limit >= cfg.minLimit && s.limit <= maxLimit, `limit ${s.limit}`);
        assert.equal(s.inFlight, running, "in flight = calls running");
        assert.ok(s.queued >= 0 && s.queued <= cfg.maxQueue, `queued ${s.queued}`);
        assert.equal(s.refused, refused);
        assert.equal(s.admitted, admitted);
        assert.deepEqual(violations, []);
      };
      for (const o of ops) {
        if (o.t === "tick") clock.tick(o.ms);
        else if (o.t === "burst") {
          // Two bursts a window apart, each call after the last (so each one is admitted): the
          // second burst runs with one call in N timed. A third of the calls throw synchronously
          // (on the untimed path too), and the last ones of the second burst wait in the queue.
          for (let round = 0; round < 2; round++) {
            for (let i = 0; i < o.n; i++) {
              issued++;
              const before = limiter.getStats();
              const admittedAtOnce = before.inFlight < before.limit; // else refused or queued
              const p = limiter.execute(() => {
                const s = limiter.getStats();
                if (s.inFlight > s.limit) violations.push("a burst call admitted over the limit");
                admitted++;
                if (i % 3 === 0) throw new Error("sync");
                return i;
              }).then(
                () => settled++,
                (e) => {
                  settled++;
                  if (e instanceof AdaptiveConcurrencyRejectedError) refused++;
                },
              );
              if (admittedAtOnce && (round === 0 || i < o.n - 8)) await p;
            }
            await drain();
            if (round === 0) clock.tick(cfg.sampleWindow);
          }
        } else if (o.t === "storm") {
          for (const c of controllers.splice(0)) c.abort(new Error("storm"));
        } else {
          issued++;
          const controller = new AbortController();
          controllers.push(controller);
          if (o.abortAfter !== undefined) {
            clock.setTimeout(
              () =>
                controller.abort(
                  o.abortWithTimeout
                    ? new ResilienceTimeoutError("caller", o.abortAfter!)
                    : new Error("cancel"),
                ),
              o.abortAfter,
            );
          }
          limiter.execute(({ signal }) => {
            // Admission: the call now counts, and it was admitted below the limit.
            // (Recorded, not thrown here: a throw would only fail this call.)
            const s = limiter.getStats();
            if (s.inFlight > s.limit) {
              violations.push(`admitted at ${s.inFlight} > limit ${s.limit}`);
            }
            admitted++;
            if (o.sync && o.outcome === "fail") throw new Error("sync");
            running++;
            return new Promise<void>((resolve, reject) => {
              if (o.outcome !== "hang-until-abort") {
                clock.setTimeout(
                  () =>
                    o.outcome === "ok" ? resolve() : reject(
                      o.outcome === "fail"
                        ? new Error("fail")
                        : new ResilienceTimeoutError("up", o.latency),
                    ),
                  o.latency,
                );
              }
              signal.addEventListener("abort", () => reject(signal.reason), { once: true });
            }).finally(() => running--);
          }, controller.signal).then(
            () => settled++,
            (e) => {
              settled++;
              if (e instanceof AdaptiveConcurrencyRejectedError) refused++;
            },
          );
        }
        await drain();
        check();
      }
      // Everything ends: calls that would hang are aborted, every timer fires.
      for (const c of controllers) c.abort(new Error("end"));
      for (let i = 0; i < 100 && (clock.pending > 0 || settled < issued); i++) {
        clock.tick(1_000);
        await drain();
      }
      check();
      assert.equal(settled, issued, "every call settled");
      assert.equal(clock.pending, 0, "no timer left");
      const s = limiter.getStats();
      assert.deepEqual([s.inFlight, s.queued], [0, 0]);
      // The limiter still admits: no slot leaked.
      assert.equal(await limiter.execute(() => "after"), "after");
    }),
    { numRuns: FC_RUNS },
  );
});
