// The rate-limit Lua script (src/redis/rate_script.ts) against the TypeScript
// it ports: random sequences of operations (takes of cost 1 to the capacity,
// peeks, resets, reservations, refunds, leases, malformed requests) with idle
// gaps, integer and fractional times, limit 1, every algorithm, and stored
// values of every kind (valid states, states off the grid or from the future,
// floats, garbage, JSON.parse's refusals that cjson takes, keys of another
// type) are fed both to the script on a real redis-server — through
// `redisStore(...).run` with the store's time fixed by its `clock` option —
// and to `rateLimitReducer` over a model of the store's entry (what the
// read → compare-and-set path would do). Answers and stored states must be
// identical, op by op.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type LimitState,
  type RateLimitAlgorithm,
  type RateLimitConfig,
  rateLimitReducer,
  takePermits,
  type TakeRequest,
} from "../mod.ts";
import { rateLimitLife, type RateLimitOp } from "../src/rate_limit/reducer.ts";
import { redisStore } from "../src/redis/mod.ts";
import type { Clock } from "../src/clock.ts";
import { FC_RUNS } from "./_harness.ts";
import { connect, fileServer, redisTest } from "./_redis.ts";

const server = await fileServer();

/** The store's entry, as the TypeScript path sees it. */
type Entry =
  | undefined
  | { type: "hash"; v?: string }
  | { type: "string" | "list" };

/** What the read → reducer → compare-and-set path does to `entry` (src/redis/store.ts `read`, `run`). */
function reference(entry: Entry, key: string, op: RateLimitOp, now: number) {
  let value: unknown;
  if (entry?.type === "hash" && typeof entry.v === "string") {
    try {
      value = JSON.parse(entry.v);
    } catch {
      value = entry.v;
    }
  } else if (entry !== undefined) value = `WRONGTYPE: a ${entry.type} at ${key}`;
  const r = rateLimitReducer(value, op, now);
  const next: Entry = !r.write
    ? entry
    : r.value === undefined
    ? undefined
    : { type: "hash", v: JSON.stringify(r.value) };
  return { answer: JSON.parse(JSON.stringify(r.answer)), entry: next };
}

const algorithms: RateLimitAlgorithm[] = ["token-bucket", "sliding-window", "fixed-window"];
const configArb = fc.record({
  algorithm: fc.constantFrom(...algorithms),
  limit: fc.oneof(
    { weight: 2, arbitrary: fc.constant(1) },
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 6 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 1e6 }) },
  ),
  interval: fc.oneof(
    fc.integer({ min: 1, max: 1000 }),
    fc.constantFrom(1, 3, 7, 1000, 60_000, 3_600_000),
  ),
  burst: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
}).map((c): RateLimitConfig =>
  c.algorithm === "token-bucket" && c.burst !== undefined
    ? c
    : { algorithm: c.algorithm, limit: c.limit, interval: c.interval }
);

/** Numbers for stored fields: small, on and off the grid, negative, fractional, huge, the future. */
const numArb = fc.oneof(
  fc.integer({ min: -5, max: 5_000 }),
  fc.double({ min: -1e6, max: 1e13, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 0.5, 1e15, 2 ** 53 - 1, 2 ** 53 + 2, 1e300, -1e300),
);

/** A stored value: valid or nearly valid states, JSON that is no state, text that is no JSON. */
const storedArb = (config: RateLimitConfig, t0: number): fc.Arbitrary<Entry> => {
  const I = config.interval;
  const grid = fc.integer({ min: -3, max: 3 }).map((k) => Math.floor(t0 / I) * I + k * I);
  // Around the skew bound (a stored time up to interval + min(interval, 5 s) ahead is kept).
  const skew = Math.min(I, 5000);
  const edge = fc.constantFrom(-1, 0, 1, -600, 600).chain((d) =>
    fc.constantFrom(t0 + I + skew + d, Math.floor((t0 + skew + d) / I) * I + I, t0 + 2 * I + d)
  );
  const field = fc.oneof(numArb, grid, edge, fc.constant(t0), fc.integer({ min: 0, max: 10 }));
  const state = fc.oneof(
    fc.record({ kind: fc.constant("tb"), at: field, level: field }),
    fc.record({ kind: fc.constant("fw"), start: field, count: field }),
    fc.record({ kind: fc.constant("sw"), start: field, count: field, previous: field }),
  ).map((s) => ({ type: "hash" as const, v: JSON.stringify(s) }));
  const texts = fc.constantFrom(
    "null",
    "[]",
    "{}",
    "42",
    '"tb"',
    "{garbage",
    "",
    '{"kind":"tb","at":0x10,"level":1}',
    '{"kind":"fw","start":00,"count":1}',
    '{"kind":"fw","start":0,"count":+1}',
    '{"kind":"tb","at":1.,"level":1}',
    '{"kind":"tb","at":.5,"level":1}',
    '{"kind":"tb","at":inf,"level":1}',
    '{"kind":"tb","at":nan,"level":1}',
    '{"kind":"tb","at":1e999,"level":1}',
    '{"kind":"tb","at":-1,"level":1}',
    '{"kind":"tb","at":1,"level":1,"extra":[1,{"a":null}]}',
    '{"kind":"tb","level":1,"at":2}',
    ' {"kind" : "fw" , "start" : 0 , "count" : 1 } ',
    '{"kind":"fw","start":0,"count":1}x',
    '{"kind":"fw","start":0,"count":1,"kind":"sw","previous":0}',
    '{"kind":"fw","start":0,"count":1.5}',
    '{"kind":"fw","start":0,"count":"1"}',
    '{"kind":"fw","start":0,"count":null}',
    '{"ki\\u006ed":"fw","start":0,"count":1}',
    '{"kind":"fw","start":0,"count":1,"s":"a\\"b"}',
    '{"kind":"fw","start":0,"count":1,"s":"\x01"}',
    '{"kind":"fw","start":0,"count":1}\f',
    '{"kind":"fw","start":0,"count":1e0}',
    '{"kind":"fw","start":0,"count":-0}',
    "[" + "[".repeat(1200) + "]".repeat(1200) + "]",
  ).map((v) => ({ type: "hash" as const, v }));
  // States as this library writes them: on the grid, counts and levels in range.
  const L = config.limit;
  const cap = (config.algorithm === "token-bucket" ? config.burst ?? L : L) * I;
  const plausible = config.algorithm === "token-bucket"
    ? fc.record({
      kind: fc.constant("tb"),
      at: fc.integer({ min: t0 - 2 * I, max: t0 + 2 * I }).map((t) => Math.max(0, t)),
      level: fc.integer({ min: -L * I, max: cap }),
    })
    : fc.record({
      kind: fc.constant(config.algorithm === "fixed-window" ? "fw" : "sw"),
      start: grid.map((t) => Math.max(0, t)),
      count: fc.integer({ min: 0, max: L }),
      previous: fc.integer({ min: 0, max: L }),
    }).map((s) => s.kind === "fw" ? { kind: s.kind, start: s.start, count: s.count } : s);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    {
      weight: 4,
      arbitrary: plausible.map((s) => ({ type: "hash" as const, v: JSON.stringify(s) })),
    },
    { weight: 2, arbitrary: state },
    { weight: 2, arbitrary: texts },
    {
      weight: 1,
      arbitrary: fc.string({ maxLength: 30 }).map((v) => ({ type: "hash" as const, v })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Entry>({ type: "string" }, { type: "list" }, { type: "hash" }),
    },
  );
};

type Step = {
  /** Time advance, in intervals (idle gaps up to 5 intervals) or ms. */
  dt: number;
  frac: boolean;
  q: {
    cost: number;
    peek?: boolean;
    reset?: boolean;
    maxWait?: number;
    refund?: "last" | number;
    upTo?: number;
  };
  corrupt?: Entry;
};

const stepArb = (config: RateLimitConfig, cap: number, t0: number): fc.Arbitrary<Step> =>
  fc.record({
    dt: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 6, arbitrary: fc.integer({ min: 0, max: Math.max(1, config.interval) }) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 5 * config.interval }) },
    ),
    frac: fc.integer({ min: 0, max: 9 }).map((x) => x < 2),
    q: fc.oneof(
      { weight: 10, arbitrary: fc.record({ cost: fc.integer({ min: 1, max: cap }) }) },
      {
        weight: 2,
        arbitrary: fc.record({ cost: fc.integer({ min: 1, max: cap }), peek: fc.constant(true) }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ cost: fc.integer({ min: 1, max: cap }), reset: fc.constant(true) }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          cost: fc.integer({ min: 1, max: cap }),
          maxWait: fc.oneof(
            fc.integer({ min: 0, max: config.interval }),
            fc.double({ min: 0, max: config.interval, noNaN: true }),
          ),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          cost: fc.integer({ min: 1, max: cap }),
          refund: fc.oneof(fc.constant("last" as const), numArb),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.integer({ min: 1, max: cap }).chain((cost) =>
          fc.record({ cost: fc.constant(cost), upTo: fc.integer({ min: cost, max: cap }) })
        ),
      },
      {
        // Combinations the link never sends, which the reducer still takes.
        weight: 1,
        arbitrary: fc.record({
          cost: fc.integer({ min: 1, max: cap }),
          peek: fc.boolean(),
          reset: fc.boolean(),
          refund: fc.option(numArb, { nil: undefined }),
          upTo: fc.option(fc.constant(cap), { nil: undefined }),
        }, { requiredKeys: ["cost"] }),
      },
      {
        // Malformed: both refuse with the same TypeError.
        weight: 1,
        arbitrary: fc.constantFrom(
          { cost: 0 },
          { cost: cap + 1 },
          { cost: 1.5 },
          { cost: 1, maxWait: config.interval + 1 },
          { cost: 1, maxWait: 1, upTo: cap },
          { cost: cap, upTo: cap - 1 },
          { cost: 1, refund: Infinity },
        ),
      },
    ),
    corrupt: fc.oneof(
      { weight: 12, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: storedArb(config, t0) },
    ),
  });

const caseArb = configArb.chain((config) =>
  fc.tuple(
    fc.constant(config),
    fc.oneof(
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 1e12, max: 2e12 }),
      // Just before a window boundary (within the skew of the next window).
      fc.tuple(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 0, max: 6000 })).map((
        [k, d],
      ) => Math.max(0, k * config.interval - d)),
    ),
  )
).chain(([config, t0]) => {
  const cap = config.algorithm === "token-bucket" ? config.burst ?? config.limit : config.limit;
  return fc.record({
    config: fc.constant(config),
    t0: fc.constant(t0),
    initial: storedArb(config, t0),
    steps: fc.array(stepArb(config, cap, t0), { minLength: 1, maxLength: 12 }),
  });
});

redisTest(
  `Redis rate script ≡ rateLimitReducer: ${FC_RUNS} random sequences (every op, every algorithm, corrupt values, floats), identical answers and stored states`,
  async () => {
    const c = await connect("node-redis", server!);
    const client = c.client as { sendCommand(args: string[]): Promise<unknown> };
    let now = 0;
    const clock: Clock = {
      now: () => 0,
      wallNow: () => now,
      setTimeout: () => 0,
      clearTimeout: () => {},
    };
    // (expireIn at its least: the expiry written must follow the state's life.)
    const store = redisStore(client as never, { clock, prefix: "diff:", expireIn: 1000 });
    const redisKey = (k: string) => `diff:${k}`;
    async function put(k: string, e: Entry): Promise<void> {
      await client.sendCommand(["DEL", redisKey(k)]);
      if (e?.type === "hash") {
        await client.sendCommand(
          e.v === undefined
            ? ["HSET", redisKey(k), "n", "7"]
            : ["HSET", redisKey(k), "v", e.v, "n", "7"],
        );
      } else if (e?.type === "string") await client.sendCommand(["SET", redisKey(k), "x"]);
      else if (e?.type === "list") await client.sendCommand(["RPUSH", redisKey(k), "x"]);
    }
    async function get(k: string): Promise<Entry> {
      const [type, v] = await Promise.all([
        client.sendCommand(["TYPE", redisKey(k)]),
        client.sendCommand(["HGET", redisKey(k), "v"]).catch(() => null),
      ]) as [string, string | null];
      if (type === "none") return undefined;
      if (type === "hash") return v === null ? { type: "hash" } : { type: "hash", v };
      return { type: type as "string" | "list" };
    }
    const parsed = (e: Entry) => {
      if (e?.type !== "hash" || e.v === undefined) return e;
      try {
        return { type: "hash", v: JSON.parse(e.v) };
      } catch {
        return e;
      }
    };
    let run = 0;
    let ops = 0;
    const seen = {
      repaired: 0,
      at: 0,
      granted: 0,
      denied: 0,
      deleted: 0,
      threw: 0,
      floats: 0,
      bounded: 0,
      longLife: 0,
    };
    try {
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ config, t0, initial, steps }) => {
          const k = `k${++run}`;
          await put(k, initial);
          let model: Entry = initial;
          now = t0;
          let lastAt = t0;
          for (const [i, step] of steps.entries()) {
            // Mostly whole ms (the server's TIME), sometimes a fractional clock.
            now = step.frac ? now + step.dt + 0.25 + i / 7 : Math.floor(now) + step.dt;
            if (!Number.isInteger(now)) seen.floats++;
            if (step.corrupt !== undefined) {
              await put(k, step.corrupt);
              model = step.corrupt;
            }
            const request = { ...step.q } as TakeRequest;
            if (step.q.refund === "last") request.refund = lastAt;
            const op: RateLimitOp = { type: "rate", request, config };
            let expected: ReturnType<typeof reference> | undefined;
            let refusal: unknown;
            try {
              expected = reference(model, redisKey(k), op, now);
            } catch (e) {
              refusal = e;
            }
            ops++;
            const got = await store.run!(k, op).then((a) => ({ a }), (e) => ({ e }));
            const where = `step ${i} at ${now}: ${JSON.stringify(request)} on ${
              JSON.stringify(model)
            }`;
            if (refusal !== undefined) {
              seen.threw++;
              assert.ok("e" in got, `the script path refuses too (${where})`);
              assert.ok(got.e instanceof TypeError, `a TypeError (${where})`);
              assert.equal(got.e.message, (refusal as Error).message, where);
              continue;
            }
            assert.ok("a" in got, `${where}: ${String((got as { e: unknown }).e)}`);
            assert.deepStrictEqual(got.a, expected!.answer, `answer, ${where}`);
            const wrote = expected!.entry !== model;
            model = expected!.entry;
            assert.deepStrictEqual(parsed(await get(k)), parsed(model), `stored, ${where}`);
            if (wrote && model?.type === "hash" && model.v !== undefined) {
              // The expiry written covers the state's life, not just expireIn (1 s).
              const life = rateLimitLife(JSON.parse(model.v), config, now);
              const ttl = Number(await client.sendCommand(["PTTL", redisKey(k)]));
              assert.ok(ttl >= Math.max(1000, life) - 2000, `PTTL ${ttl}, life ${life}, ${where}`);
              if (life > 10_000) seen.longLife++;
            }
            const a = expected!.answer as { repaired?: string; at?: number; granted?: number };
            if (a.repaired) seen.repaired++;
            if (wrote && !a.repaired && request.peek) seen.bounded++; // (a peek writes only a bound)
            if (a.at !== undefined) seen.at++, (lastAt = a.at);
            if (a.granted !== undefined) seen.granted++;
            if (!(expected!.answer as { allowed: boolean }).allowed) seen.denied++;
            if (model === undefined) seen.deleted++;
          }
        }),
        { numRuns: FC_RUNS },
      );
    } finally {
      await c.close();
    }
    // The generators reached every path they aim at.
    console.log(`${run} sequences, ${ops} operations:`, seen);
    for (const [what, n] of Object.entries(seen)) assert.ok(n > 0, `no case with ${what}`);
  },
);

// The state round-trips exactly: a token bucket's fractional level and time
// (a fractional clock, a stored float) are written with 17 digits, not cjson's 14.
redisTest(
  "Redis rate script: fractional token-bucket states round-trip to the same doubles",
  async () => {
    const c = await connect("node-redis", server!);
    try {
      let now = 1_700_000_000_000.123;
      const clock: Clock = {
        now: () => 0,
        wallNow: () => now,
        setTimeout: () => 0,
        clearTimeout() {},
      };
      const store = redisStore(c.client as never, { clock, prefix: "frac:" });
      const config = { algorithm: "token-bucket" as const, limit: 3, interval: 7, burst: 5 };
      let state: LimitState | undefined;
      for (let i = 0; i < 200; i++) {
        now += 1 / 3;
        const op: RateLimitOp = { type: "rate", request: { cost: 1 + (i % 5) }, config };
        const ts = takePermits(state, op.request, config, now);
        const a = await store.run!("k", op);
        assert.deepStrictEqual(a, JSON.parse(JSON.stringify(ts.answer)));
        state = ts.state;
        const v = await (c.client as { sendCommand(a: string[]): Promise<string | null> })
          .sendCommand(["HGET", "frac:k", "v"]);
        assert.deepStrictEqual(v === null ? undefined : JSON.parse(v), state);
      }
      assert.ok(state && !Number.isInteger(state.kind === "tb" ? state.at : 0));
    } finally {
      await c.close();
    }
  },
);

redisTest("Redis: the server of this file stops", () => server!.dispose());
