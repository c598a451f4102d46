import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chaos,
  ChaosError,
  type ChaosEvent,
  circuitBreaker,
  CircuitOpenError,
  compose,
  fallback,
  ResilienceError,
  ResilienceTimeoutError,
  retry,
  timeout,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, FC_RUNS, macrotask, silent, test } from "./_harness.ts";

/** A small seeded PRNG (mulberry32): the same sequence on every runtime. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random source that counts its draws. */
function counting(values: number[] | (() => number)) {
  let i = 0;
  const next = typeof values === "function" ? values : () => values[i % values.length];
  const r = () => {
    const v = next();
    i++;
    return v;
  };
  return Object.assign(r, { draws: () => i });
}

test("chaos: options are validated at construction, naming the option", () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /option 'injectionRate' is required/],
    [{ fault: true }, /option 'injectionRate' is required \(a number from 0 to 1/],
    [
      { injectionRate: 1.5, fault: true },
      /option 'injectionRate' must be a finite number >= 0 and <= 1, got 1.5/,
    ],
    [{ injectionRate: -0.1, fault: true }, /'injectionRate'/],
    [{ injectionRate: NaN, fault: true }, /'injectionRate'/],
    [{ injectionRate: "0.1", fault: true }, /'injectionRate' must be a number/],
    [
      { injectonRate: 0.1, fault: true },
      /unknown option 'injectonRate' \(did you mean 'injectionRate'\?\)/,
    ],
    [{ injectionRate: 0.1 }, /nothing to inject/],
    [
      { injectionRate: 0.1, fault: true, outcome: () => 1 },
      /'fault' and 'outcome' exclude each other/,
    ],
    [
      { injectionRate: 0.1, fault: TypeError },
      /'fault' is an error class: pass an error \(new TypeError\(\)\)/,
    ],
    [{ injectionRate: 0.1, fault: class Mine extends Error {} }, /new Mine\(\)/],
    [
      { injectionRate: 0.1, fault: "boom" },
      /'fault' must be true, an error or a function returning one, got string/,
    ],
    [{ injectionRate: 0.1, fault: false }, /'fault' must be true/],
    [{ injectionRate: 0.1, fault: null }, /got null/],
    [{ injectionRate: 0.1, latency: -1 }, /'latency'/],
    [{ injectionRate: 0.1, latency: 2 ** 31 }, /'latency'/],
    [{ injectionRate: 0.1, latency: "1s" }, /'latency' must be a number/],
    [
      { injectionRate: 0.1, fault: true, enabled: "yes" },
      /'enabled' must be a boolean or a function, got string/,
    ],
    [{ injectionRate: 0.1, fault: true, random: 0.5 }, /'random' must be a function/],
    [{ injectionRate: 0.1, fault: true, clock: 1 }, /'clock' must be an object/],
    [{ injectionRate: 0.1, fault: true, name: "" }, /'name' must be a non-empty string/],
    [{ injectionRate: 0.1, outcome: 42 }, /'outcome' must be a function/],
    [{ injectionRate: 0.1, behavior: {} }, /'behavior' must be a function/],
    [{ injectionRate: 0.1, fault: true, onInject: true }, /'onInject' must be a function/],
    [null, /options must be an object/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => chaos(options as never), message, JSON.stringify(options));
  }
  // Out of range is a RangeError, the wrong type a TypeError.
  assert.throws(() => chaos({ injectionRate: 1.5, fault: true }), RangeError);
  assert.throws(() => chaos({ injectionRate: Infinity, fault: true }), RangeError);
  assert.throws(() => chaos({ injectionRate: 0.1, latency: -1 }), RangeError);
  assert.throws(() => chaos({ injectionRate: null as never, fault: true }), TypeError);
  assert.throws(() => chaos({ injectionRate: 0.1, fault: "x" as never }), TypeError);
  // The edges are accepted.
  chaos({ injectionRate: 0, fault: true });
  chaos({ injectionRate: 1, latency: 0 });
  chaos({ injectionRate: () => 2, latency: () => -1 });
  chaos({ injectionRate: 0.5, fault: new Error("x"), latency: 10, behavior: () => {} });
});

test("chaos: a call not picked runs untouched; one draw per enabled call, none when disabled", async () => {
  const random = counting([0.5]);
  const never = chaos({ injectionRate: 0.5, fault: true, random });
  assert.equal(await never.execute(() => 1), 1); // 0.5 is not below 0.5
  assert.equal(random.draws(), 1);
  const off = chaos({ injectionRate: 1, fault: true, enabled: false, random });
  assert.equal(await off.execute(() => 2), 2);
  assert.equal(random.draws(), 1);
  let flag = false;
  const byFlag = chaos({ injectionRate: 1, fault: true, enabled: () => flag, random });
  assert.equal(await byFlag(async (x: number) => x * 2)(21), 42);
  assert.equal(random.draws(), 1);
  flag = true;
  await assert.rejects(byFlag.execute(() => 3), ChaosError);
  assert.equal(random.draws(), 2);
  assert.deepEqual(byFlag.getStats(), {
    name: "chaos",
    calls: 2,
    enabled: 1,
    injected: 1,
    faults: 1,
    delays: 0,
    outcomes: 0,
    behaviors: 0,
  });
  // A sync throw of a call that runs is a rejection, as with every policy.
  await assert.rejects(
    never.execute(() => {
      throw new TypeError("sync");
    }),
    TypeError,
  );
});

test("chaos: injected iff random() < injectionRate (a model, over random draws and rates)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 40 }),
      async (rate, draws) => {
        const random = counting(draws.length ? draws : [0]);
        const p = chaos({ injectionRate: rate, fault: true, random });
        let expected = 0;
        for (let i = 0; i < draws.length; i++) {
          const injected = await p.execute(() => false).catch((e) => e instanceof ChaosError);
          assert.equal(injected, draws[i] < rate);
          if (draws[i] < rate) expected++;
        }
        assert.equal(p.getStats().injected, expected);
        assert.equal(random.draws(), draws.length);
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("chaos: over 10,000 seeded calls the injected count is within binomial bounds", async () => {
  for (const [rate, seed] of [[0.001, 1], [0.01, 2], [0.1, 3], [0.5, 4], [0.9, 5]]) {
    const p = chaos({ injectionRate: rate, fault: true, random: seeded(seed) });
    const n = 10_000;
    let injected = 0;
    for (let i = 0; i < n; i++) {
      if (await p.execute(() => false).catch((e) => e instanceof ChaosError)) injected++;
    }
    // Mean ± 5 standard deviations: a correct policy fails this about once in 1.7 million runs.
    const mean = n * rate;
    const sd = Math.sqrt(n * rate * (1 - rate));
    assert.ok(
      Math.abs(injected - mean) <= 5 * sd + 1,
      `rate ${rate}: ${injected} injected of ${n}, expected ${mean} ± ${5 * sd}`,
    );
    assert.deepEqual([p.getStats().calls, p.getStats().injected], [n, injected]);
  }
  // A rate given per call is clamped: above 1 always, below 0 (or NaN) never.
  const always = chaos({ injectionRate: () => 7, fault: true, random: () => 0.999 });
  const never = chaos({ injectionRate: () => NaN, fault: true, random: () => 0 });
  const below = chaos({ injectionRate: () => -1, fault: true, random: () => 0 });
  await assert.rejects(always.execute(() => 1), ChaosError);
  assert.equal(await never.execute(() => 1), 1);
  assert.equal(await below.execute(() => 1), 1);
});

test("chaos: fault: true throws a stackless ChaosError instead of calling", async () => {
  let calls = 0;
  const p = chaos({ injectionRate: 1, fault: true, name: "orders" });
  const e = await p(async function loadOrder() {
    calls++;
  })().catch((e) => e);
  assert.ok(e instanceof ChaosError && e instanceof ResilienceError && e instanceof Error);
  assert.equal(e.name, "ChaosError");
  assert.equal(e.chaosName, "orders");
  assert.equal(p.name, "orders");
  assert.equal(e.operation, "loadOrder");
  assert.equal(e.message, "Chaos 'orders' injected a fault into 'loadOrder'");
  assert.ok(!String(e.stack).includes("\n    at "), String(e.stack));
  assert.equal(calls, 0);
  const again = await p.execute(() => 1).catch((e) => e);
  assert.notEqual(again, e); // a new one per injection
  const cause = new Error("root");
  assert.equal(new ChaosError("c", "op", { cause }).cause, cause);
});

test("chaos: a user's fault is thrown as is; a factory is asked per injection, with the context", async () => {
  class UpstreamError extends Error {}
  const mine = new UpstreamError("503");
  assert.equal(
    await chaos({ injectionRate: 1, fault: mine }).execute(() => 1).catch((e) => e),
    mine,
  );
  const seen: number[] = [];
  const byAttempt = chaos({
    injectionRate: 1,
    // Only the first attempt fails: undefined means "no fault this time".
    fault: (
      { attempt },
    ) => (seen.push(attempt), attempt === 1 ? new UpstreamError("first") : undefined),
  });
  let calls = 0;
  const r = await compose(retry({ maxAttempts: 3, initialDelay: 0, logger: silent }), byAttempt)
    .execute(() => ++calls);
  assert.equal(r, 1);
  assert.deepEqual(seen, [1, 2]);
  assert.deepEqual([byAttempt.getStats().injected, byAttempt.getStats().faults], [2, 1]);
  // A factory that throws fails the call with its error.
  const broken = chaos({
    injectionRate: 1,
    fault: () => {
      throw new RangeError("factory");
    },
  });
  await assert.rejects(broken.execute(() => 1), RangeError);
});

test("chaos: an outcome is returned instead of calling, and typed like a fallback", async () => {
  let calls = 0;
  const p = chaos({ injectionRate: 1, outcome: () => "canned" as const, random: () => 0 });
  const get = p(async (id: number) => {
    calls++;
    return id;
  });
  const v: number | "canned" = await get(1);
  // Without an outcome nothing joins the result type.
  const plain: number = await chaos({ injectionRate: 0, fault: true })(async () => 1)();
  assert.equal(plain, 1);
  assert.equal(v, "canned");
  assert.equal(calls, 0);
  const res = await chaos({
    injectionRate: 1,
    outcome: () => new Response(null, { status: 503 }),
  }).execute(() => new Response("ok"));
  assert.equal(res.status, 503);
  assert.deepEqual([p.getStats().outcomes, p.getStats().faults], [1, 0]);
});

test("chaos: a behaviour runs and is awaited before the call; its error fails the call", async () => {
  const order: string[] = [];
  const gate = deferred();
  const p = chaos({
    injectionRate: 1,
    behavior: async ({ attempt }) => {
      order.push(`behavior ${attempt}`);
      await gate.promise;
      order.push("behavior done");
    },
  });
  const call = p.execute(() => order.push("call"));
  await macrotask();
  assert.deepEqual(order, ["behavior 1"]);
  gate.resolve();
  await call;
  assert.deepEqual(order, ["behavior 1", "behavior done", "call"]);
  let ran = false;
  const failing = chaos({
    injectionRate: 1,
    behavior: () => {
      throw new Error("side effect failed");
    },
  });
  await assert.rejects(failing.execute(() => (ran = true)), /side effect failed/);
  assert.equal(ran, false);
});

test("chaos: the caller aborting during a behaviour rejects at once with its reason", async () => {
  const never = deferred();
  let ran = false;
  const p = chaos({ injectionRate: 1, behavior: () => never.promise });
  const ctl = new AbortController();
  const call = p.execute(() => (ran = true), ctl.signal);
  await macrotask();
  const reason = new Error("client left");
  ctl.abort(reason);
  assert.equal(await call.catch((e) => e), reason);
  never.reject(new Error("late")); // its late rejection is handled
  await macrotask();
  assert.equal(ran, false);
});

test("chaos: latency delays the call on the injected clock, then the call (or the fault) follows", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const slow = chaos({ injectionRate: 1, latency: 1_000, clock });
  const p = slow.execute(() => ++calls);
  await clock.tickAsync(999);
  assert.equal(calls, 0);
  await clock.tickAsync(1);
  assert.equal(await p, 1);
  assert.equal(clock.pending, 0);
  const slowFail = chaos({ injectionRate: 1, latency: () => 500, fault: true, clock });
  let settled = false;
  const q = slowFail.execute(() => ++calls).catch((e) => e).finally(() => (settled = true));
  await clock.tickAsync(499);
  assert.equal(settled, false);
  await clock.tickAsync(1);
  assert.ok((await q) instanceof ChaosError);
  assert.equal(calls, 1);
  assert.deepEqual(
    [slowFail.getStats().delays, slowFail.getStats().faults, slow.getStats().delays],
    [1, 1, 1],
  );
});

test("chaos: a latency function's odd answers: NaN, negative or 0 mean none, Infinity is capped", async () => {
  const clock = new FakeClock();
  for (const odd of [NaN, -5, 0, "100" as unknown as number]) {
    const p = chaos({ injectionRate: 1, latency: () => odd, clock });
    assert.equal(await p.execute(() => "now"), "now");
    assert.equal(p.getStats().delays, 0);
  }
  const events: ChaosEvent[] = [];
  const huge = chaos({
    injectionRate: 1,
    latency: () => Infinity,
    clock,
    onInject: (e) => events.push(e),
  });
  const ctl = new AbortController();
  const p = huge.execute(() => "never", ctl.signal);
  await macrotask();
  assert.equal(events[0].latency, 2 ** 31 - 1);
  assert.equal(clock.pending, 1);
  ctl.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
  assert.equal(clock.pending, 0);
});

test("chaos: the caller aborting during the latency rejects at once; the timer is cleared", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const p = chaos({ injectionRate: 1, latency: 10_000, fault: true, clock });
  const ctl = new AbortController();
  const call = p.execute(() => ++calls, ctl.signal);
  await clock.tickAsync(100);
  assert.equal(clock.pending, 1);
  const reason = new Error("caller gave up");
  ctl.abort(reason);
  assert.equal(await call.catch((e) => e), reason);
  assert.equal(clock.pending, 0);
  await clock.tickAsync(20_000);
  assert.equal(calls, 0);
  assert.deepEqual([p.getStats().delays, p.getStats().faults], [0, 0]);
  // Already aborted: nothing runs, no number is drawn, nothing counted.
  const random = counting([0]);
  const q = chaos({ injectionRate: 1, latency: 10, clock, random });
  assert.equal(await q.execute(() => ++calls, ctl.signal).catch((e) => e), reason);
  assert.deepEqual([random.draws(), q.getStats().calls, calls, clock.pending], [0, 0, 0, 0]);
});

test("chaos: an enclosing timeout cuts the latency at its deadline, not later", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const p = compose(
    timeout(100, { clock, logger: silent }),
    chaos({ injectionRate: 1, latency: 5_000, clock }),
  );
  let settled: Error | undefined;
  const call = p.execute(() => ++calls).catch((e) => (settled = e));
  await clock.tickAsync(99);
  assert.equal(settled, undefined);
  await clock.tickAsync(1);
  assert.ok((await call) instanceof ResilienceTimeoutError);
  assert.equal(clock.pending, 0);
  await clock.tickAsync(10_000);
  assert.equal(calls, 0);
});

test("chaos: with the system clock a delay is real, and an abort leaves no timer behind", async () => {
  const p = chaos({ injectionRate: 1, latency: 5 });
  const t0 = Date.now();
  assert.equal(await p.execute(() => "late"), "late");
  assert.ok(Date.now() - t0 >= 4);
  const ctl = new AbortController();
  const call = p.execute(() => "never", ctl.signal);
  ctl.abort(new Error("gone"));
  await assert.rejects(call, /gone/);
  // The harness fails the test if the 5 ms deadline were left pending.
});

test("chaos: onInject hears each injection once, before anything is done", async () => {
  const events: ChaosEvent[] = [];
  const fault = new Error("x");
  const p = chaos({
    name: "c1",
    injectionRate: 1,
    fault,
    latency: 0,
    behavior: () => {},
    onInject: (e) => events.push(e),
  });
  await p(async function op() {})().catch(() => {});
  assert.deepEqual(events, [{
    name: "c1",
    operation: "op",
    attempt: 1,
    latency: 0,
    fault,
    outcome: false,
    behavior: true,
  }]);
});

test("chaos: as a decorator", async () => {
  const p = chaos({ injectionRate: 1, outcome: () => "stub" });
  class Api {
    @p
    async get(): Promise<string> {
      return "real";
    }
  }
  assert.equal(await new Api().get(), "stub");
});

test("chaos: prove the fallback works — retry, breaker and fallback over 1,000 seeded calls (a model)", async () => {
  // The recipe of docs/testing.md: a chaos policy innermost plays a failing upstream.
  const seed = 42;
  const rate = 0.3;
  const model = seeded(seed);
  const breaker = circuitBreaker({ name: "chaos-recipe", failureThreshold: 1_000, logger: silent });
  let live = 0;
  const get = compose(
    fallback({ fallbackValue: "stale", logger: silent }),
    retry({ maxAttempts: 3, initialDelay: 0, jitter: false, logger: silent }),
    breaker,
    chaos({ injectionRate: rate, fault: true, random: seeded(seed) }),
  )(async () => {
    live++;
    return "fresh";
  });
  let stale = 0;
  for (let i = 0; i < 1_000; i++) {
    // The model: a call is stale when its 3 attempts were all injected.
    let expected = "fresh";
    for (let a = 1;; a++) {
      if (!(model() < rate)) break;
      if (a === 3) {
        expected = "stale";
        break;
      }
    }
    const r = await get();
    assert.equal(r, expected, `call ${i}`);
    if (r === "stale") stale++;
  }
  assert.equal(live, 1_000 - stale);
  // 0.3³ of 1,000 is 27: the fallback really answered, and not for everything.
  assert.ok(stale > 5 && stale < 60, `stale ${stale}`);
  breaker.reset();
});

test("chaos: a breaker opens on injected faults and the fallback answers its refusals", async () => {
  let upstream = 0;
  const breaker = circuitBreaker({ name: "chaos-open", failureThreshold: 3, logger: silent });
  const errors: unknown[] = [];
  const get = compose(
    fallback({
      fallbackValue: "stale",
      logger: silent,
      shouldFallback: (e) => (errors.push(e), true),
    }),
    breaker,
    chaos({ injectionRate: 1, fault: true }),
  )(async () => ++upstream);
  for (let i = 0; i < 5; i++) assert.equal(await get(), "stale");
  assert.equal(upstream, 0);
  assert.equal(breaker.state, "open");
  // Three injected faults opened it; then the breaker refused without reaching the chaos.
  assert.deepEqual(errors.map((e) => (e as Error).name), [
    "ChaosError",
    "ChaosError",
    "ChaosError",
    "CircuitOpenError",
    "CircuitOpenError",
  ]);
  const direct = await compose(breaker, chaos({ injectionRate: 1, fault: true }))
    .execute(() => 1).catch((e) => e);
  assert.ok(direct instanceof CircuitOpenError);
});

test("chaos: latency against the caller's abort and an enclosing timeout, whichever comes first (a model)", async () => {
  // Distinct times, so that no two events tie: the earliest decides the outcome.
  const times = fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), {
    minLength: 3,
    maxLength: 3,
  });
  await fc.assert(
    fc.asyncProperty(
      times,
      fc.boolean(),
      fc.boolean(),
      fc.boolean(),
      async ([latency, abortAt, deadline], withAbort, withTimeout, abortFirst) => {
        const clock = new FakeClock();
        let calls = 0;
        const inner = chaos({ injectionRate: 1, latency, clock });
        const policy = withTimeout
          ? compose(timeout(deadline, { clock, logger: silent }), inner)
          : inner;
        const ctl = new AbortController();
        const reason = new Error("caller left");
        if (withAbort && abortFirst) {
          // Aborted before the call: nothing runs and nothing is scheduled.
          ctl.abort(reason);
          assert.equal(await policy.execute(() => ++calls, ctl.signal).catch((e) => e), reason);
          assert.deepEqual([calls, clock.pending, inner.getStats().calls], [0, 0, 0]);
          return;
        }
        let settledAt = -1;
        const call = policy.execute(() => ++calls, ctl.signal).then(
          (v) => ({ v }),
          (e) => ({ e }),
        ).finally(() => (settledAt = clock.now()));
        if (withAbort) clock.setTimeout(() => ctl.abort(reason), abortAt);
        await clock.tickAsync(10_001);
        const outcome = await call;
        const events = [["latency", latency]];
        if (withAbort) events.push(["abort", abortAt]);
        if (withTimeout) events.push(["timeout", deadline]);
        const [first, at] = events.sort((a, b) => (a[1] as number) - (b[1] as number))[0];
        assert.equal(settledAt, at);
        if (first === "latency") {
          assert.deepEqual([outcome, calls], [{ v: 1 }, 1]);
        } else if (first === "abort") {
          assert.deepEqual([outcome, calls], [{ e: reason }, 0]);
        } else {
          assert.ok("e" in outcome && outcome.e instanceof ResilienceTimeoutError);
          assert.equal(calls, 0);
        }
        assert.equal(clock.pending, 0);
        assert.equal(inner.getStats().delays, first === "latency" ? 1 : 0);
      },
    ),
    { numRuns: FC_RUNS },
  );
});
