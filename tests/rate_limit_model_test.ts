// The rate-limit algorithms against reference models that work from the
// whole history of granted takes (no state, no rolling): a token bucket's
// level as a minimum over the history, a fixed window's count, the sliding
// window's weighted estimate. Times are integers, so both sides are exact.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type LimitState,
  type RateLimitAlgorithm,
  type RateLimitConfig,
  rateLimiter,
  rateLimitReducer,
  takePermits,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, test } from "./_harness.ts";

type Grant = { t: number; cost: number };

/** Whether the model admits `cost` at `t` after the granted takes `h` (all at times <= t). */
function modelAdmits(h: readonly Grant[], c: RateLimitConfig, t: number, cost: number): boolean {
  const { limit: L, interval: I } = c;
  if (c.algorithm === "token-bucket") {
    const B = (c.burst ?? L) * I;
    // level × I at t = min over s (each grant's time, and t) of B + (t − s)·L − I·cost[s, t)
    let level = B;
    for (let i = 0; i < h.length; i++) {
      let taken = 0;
      for (let j = i; j < h.length; j++) taken += h[j].cost;
      level = Math.min(level, B + (t - h[i].t) * L - I * taken);
    }
    return level >= cost * I;
  }
  const g = Math.floor(t / I) * I;
  const inWindow = (a: number, b: number) =>
    h.filter((x) => x.t >= a && x.t < b).reduce((n, x) => n + x.cost, 0);
  const cur = inWindow(g, g + I);
  if (c.algorithm === "fixed-window") return cur + cost <= L;
  const prev = inWindow(g - I, g);
  return prev * (I - (t - g)) + (cur + cost) * I <= L * I;
}

const algorithms: RateLimitAlgorithm[] = ["token-bucket", "sliding-window", "fixed-window"];

const configArb = fc.record({
  algorithm: fc.constantFrom(...algorithms),
  limit: fc.integer({ min: 1, max: 5 }),
  interval: fc.integer({ min: 1, max: 1000 }),
  burst: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
}).map((c): RateLimitConfig =>
  c.algorithm === "token-bucket" && c.burst !== undefined
    ? c
    : { algorithm: c.algorithm, limit: c.limit, interval: c.interval }
);

type Cmd =
  | { t: "take"; cost: number }
  | { t: "peek" }
  | { t: "tick"; ms: number }
  | { t: "reset" };
const cmdArb = (maxTick: number): fc.Arbitrary<Cmd> =>
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        t: fc.constant("take" as const),
        cost: fc.integer({ min: 1, max: 6 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("peek" as const) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant("tick" as const),
        ms: fc.integer({ min: 0, max: maxTick }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("reset" as const) }) },
  );

test("takePermits agrees with the history models (take, peek, reset, idle gaps, cost > 1, limit 1)", () => {
  fc.assert(
    fc.property(
      configArb,
      fc.integer({ min: 0, max: 10_000 }),
      fc.array(cmdArb(2500), { maxLength: 60 }),
      (config, t0, cmds) => {
        const cap = config.algorithm === "token-bucket"
          ? config.burst ?? config.limit
          : config.limit;
        let state: LimitState | undefined;
        let h: Grant[] = [];
        let now = t0;
        for (const cmd of cmds) {
          if (cmd.t === "tick") {
            now += Math.round(cmd.ms * config.interval / 1000);
            continue;
          }
          if (cmd.t === "reset") {
            state = takePermits(state, { cost: 1, reset: true }, config, now).state;
            h = [];
            assert.equal(state, undefined);
            continue;
          }
          const cost = cmd.t === "peek" ? 1 : Math.min(cmd.cost, cap);
          const r = takePermits(state, { cost, peek: cmd.t === "peek" }, config, now);
          const a = r.answer;
          const admits = modelAdmits(h, config, now, cost);
          assert.equal(a.allowed, admits, `allowed at ${now}, cost ${cost}`);
          assert.equal(a.limit, config.limit);
          if (cmd.t === "take" && a.allowed) h.push({ t: now, cost });
          if (!a.allowed || cmd.t === "peek") {
            assert.equal(r.state, state, "a peek or a denied take consumes nothing");
          }
          state = r.state;
          // remaining: the takes of cost 1 the model still admits now.
          let n = 0;
          const more = [...h];
          while (n <= cap && modelAdmits(more, config, now, 1)) more.push({ t: now, cost: 1 }), n++;
          assert.equal(a.remaining, n, "remaining");
          if (!a.allowed) {
            // retryAfter is honest: granted then, not a millisecond before.
            assert.ok(a.retryAfter >= 1);
            assert.ok(modelAdmits(h, config, now + a.retryAfter, cost), "granted after retryAfter");
            assert.ok(!modelAdmits(h, config, now + a.retryAfter - 1, cost), "not before");
          } else assert.equal(a.retryAfter, 0);
          // resetAfter: fresh then (a full bucket of `cap`), not before.
          assert.equal(
            modelAdmits(h, config, now + a.resetAfter, cap),
            true,
            "fresh after resetAfter",
          );
          if (a.resetAfter > 0 && config.algorithm === "token-bucket") {
            assert.ok(!modelAdmits(h, config, now + a.resetAfter - 1, cap));
          }
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("upTo takes as many permits as fit now, at least cost (a lease's batch)", () => {
  fc.assert(
    fc.property(
      configArb,
      fc.array(fc.tuple(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 1, max: 6 })), {
        maxLength: 40,
      }),
      (config, steps) => {
        const cap = config.algorithm === "token-bucket"
          ? config.burst ?? config.limit
          : config.limit;
        let state: LimitState | undefined;
        const h: Grant[] = [];
        let now = 0;
        for (const [dt, upTo0] of steps) {
          now += dt;
          const upTo = Math.min(upTo0, cap);
          const r = takePermits(state, { cost: 1, upTo }, config, now);
          if (!r.answer.allowed) {
            assert.equal(r.granted, 0);
            assert.ok(!modelAdmits(h, config, now, 1));
            continue;
          }
          const g = r.granted;
          assert.ok(g >= 1 && g <= upTo, `granted ${g}`);
          assert.ok(modelAdmits(h, config, now, g), "the batch fits");
          if (g < upTo) assert.ok(!modelAdmits(h, config, now, g + 1), "and no more would");
          h.push({ t: now, cost: g });
          state = r.state;
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("the windows never over-admit: grid windows hold <= limit, any span of interval < 2 × limit (sliding), the bucket <= burst + rate × span", () => {
  fc.assert(
    fc.property(
      configArb,
      fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 3 })), {
        maxLength: 120,
      }),
      (config, steps) => {
        const { limit: L, interval: I } = config;
        let state: LimitState | undefined;
        const granted: number[] = [];
        let now = 0;
        for (const [dt, cost0] of steps) {
          now += dt;
          const cost = Math.min(cost0, config.algorithm === "token-bucket" ? config.burst ?? L : L);
          const r = takePermits(state, { cost }, config, now);
          state = r.state;
          if (r.answer.allowed) { for (let i = 0; i < cost; i++) granted.push(now); }
        }
        for (let i = 0; i < granted.length; i++) {
          const s = granted[i];
          const inSpan = granted.filter((t) => t >= s && t < s + I).length;
          // within [s, s + I): the bucket refills L·(I − 1)/I < L tokens; the sliding
          // window's worst case is just under 2 × limit.
          if (config.algorithm === "token-bucket") assert.ok(inSpan < (config.burst ?? L) + L);
          else if (config.algorithm === "sliding-window") assert.ok(inSpan < 2 * L);
          const g = Math.floor(s / I) * I;
          const inGrid = granted.filter((t) => t >= g && t < g + I).length;
          if (config.algorithm !== "token-bucket") assert.ok(inGrid <= L, `grid ${inGrid}`);
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("reservations (maxWait): every permit is used when granted, and the times used conform to the model", () => {
  fc.assert(
    fc.property(
      configArb,
      fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.boolean()), { maxLength: 60 }),
      fc.integer({ min: 0, max: 1000 }),
      (config, steps, waitPermille) => {
        const maxWait = Math.floor(config.interval * waitPermille / 1000);
        let state: LimitState | undefined;
        const used: Grant[] = [];
        let now = 0;
        for (const [dt, refund] of steps) {
          now += Math.round(dt * config.interval / 1000);
          const r = takePermits(state, { cost: 1, maxWait }, config, now);
          if (!r.answer.allowed) {
            assert.ok(r.answer.retryAfter > maxWait, "refused only past maxWait");
            continue;
          }
          assert.ok(r.answer.retryAfter <= maxWait);
          assert.equal(r.at, now + r.answer.retryAfter);
          state = r.state;
          if (refund && r.answer.retryAfter > 0) {
            state = takePermits(state, { cost: 1, refund: r.at }, config, now).state;
          } else used.push({ t: r.at, cost: 1 });
        }
        // Replayed in the order of use, each use is one the model admits.
        used.sort((a, b) => a.t - b.t);
        for (let i = 0; i < used.length; i++) {
          assert.ok(
            modelAdmits(used.slice(0, i), config, used[i].t, 1),
            `use ${i} at ${used[i].t} over-admits`,
          );
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("the limiter, the reducer and takePermits answer alike (one implementation)", async () => {
  await fc.assert(
    fc.asyncProperty(
      configArb,
      fc.array(fc.tuple(fc.integer({ min: 0, max: 700 }), fc.constantFrom("a", "b")), {
        maxLength: 40,
      }),
      async (config, steps) => {
        const clock = new FakeClock();
        const limiter = rateLimiter({ ...config, clock });
        const entries = new Map<string, unknown>();
        for (const [dt, key] of steps) {
          clock.tick(dt);
          const now = clock.now();
          const op = { type: "rate" as const, request: { cost: 1 }, config };
          const r = rateLimitReducer(entries.get(key), op, now);
          if (r.write) entries.set(key, r.value);
          const a = await limiter.take(key);
          assert.deepEqual(a, r.answer);
        }
      },
    ),
    { numRuns: Math.ceil(FC_RUNS / 4) },
  );
});
