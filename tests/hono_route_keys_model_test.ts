// A model of the route middleware's bounded per-key breakers (maxKeys):
// sequential requests and clock ticks, checked against a small reference
// model of the eviction rules (fast-check, 1,000 runs).
import assert from "node:assert/strict";
import fc from "fast-check";
import { Hono } from "hono";
import { routeCircuitBreaker } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

const R = 1000; // resetTimeout
type Step = { key: number; fail: boolean; tick: number };

/** The reference: kept keys in least-recently-used order, each CLOSED or OPEN since a time. */
class Model {
  kept: { key: number; openedAt: number | undefined }[] = [];
  fullUntil = -Infinity;
  constructor(readonly max: number) {}

  request(key: number, fail: boolean, now: number): number {
    let i = this.kept.findIndex((e) => e.key === key);
    if (i < 0) {
      if (this.kept.length >= this.max && !this.evict(now)) return fail ? 500 : 200; // unguarded
      this.kept.push({ key, openedAt: undefined });
      i = this.kept.length - 1;
    } else this.kept.push(...this.kept.splice(i, 1)); // most recently used
    const e = this.kept[this.kept.length - 1];
    if (e.openedAt !== undefined && now - e.openedAt < R) return 503;
    e.openedAt = fail ? now : undefined; // threshold 1; a trial closes or reopens (1 trial)
    return fail ? 500 : 200;
  }

  evict(now: number): boolean {
    if (now < this.fullUntil) return false;
    let i = this.kept.findIndex((e) => e.openedAt === undefined);
    if (i < 0) i = this.kept.findIndex((e) => now - e.openedAt! >= R);
    if (i >= 0) {
      this.kept.splice(i, 1);
      return true;
    }
    const soonest = Math.min(...this.kept.map((e) => R - (now - e.openedAt!)));
    this.fullUntil = now + Math.min(soonest, 1000);
    return false;
  }
}

test("routeCircuitBreaker: maxKeys eviction matches the model (LRU CLOSED first, then OPEN past reset, else unguarded)", async () => {
  const step: fc.Arbitrary<Step> = fc.record({
    key: fc.nat(6),
    fail: fc.boolean(),
    tick: fc.oneof(fc.constantFrom(0, R / 2, R), fc.integer({ min: 0, max: 1600 })),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.array(step, { maxLength: 60 }),
      async (max, steps) => {
        const clock = new FakeClock();
        const silent = { info() {}, warn() {}, error() {} };
        const mw = routeCircuitBreaker({
          key: (c) => c.req.query("k")!,
          maxKeys: max,
          failureThreshold: 1,
          halfOpenMaxCalls: 1,
          resetTimeout: R,
          clock,
          logger: silent,
        });
        const app = new Hono();
        app.get("/", mw, (c) => c.text("", c.req.query("f") === "1" ? 500 : 200));
        const model = new Model(max);
        for (const s of steps) {
          clock.tick(s.tick);
          const res = await app.request(`/?k=${s.key}&f=${s.fail ? 1 : 0}`);
          await res.arrayBuffer();
          assert.equal(res.status, model.request(s.key, s.fail, clock.now()));
          assert.deepEqual(
            [...mw.breakers.values()].map((b) => b.name),
            model.kept.map((e) => `route:${e.key}`),
          );
        }
      },
    ),
    { numRuns: 1000 },
  );
});
