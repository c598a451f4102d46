import assert from "node:assert/strict";
import {
  compose,
  RateLimitedError,
  rateLimiter,
  ResilienceError,
  retry,
  retryBudget,
  takePermits,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, test } from "./_harness.ts";

test("rateLimiter: options are checked at construction, naming the option", () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /'limit' and 'interval' are required/],
    [{ interval: 1000 }, /option 'limit' must be a number/],
    [{ limit: 0, interval: 1000 }, /option 'limit' must be an integer >= 1/],
    [{ limit: 1.5, interval: 1000 }, /option 'limit'/],
    [{ limit: 1, interval: 0 }, /option 'interval'/],
    [{ limit: 1, interval: 10.5 }, /option 'interval'/],
    [{ limit: 1, interval: 1000, algorithm: "leaky" }, /option 'algorithm' must be one of/],
    [
      { limit: 1, interval: 1000, algorithm: "fixed-window", burst: 2 },
      /'burst' is for algorithm "token-bucket" only/,
    ],
    [{ limit: 1, interval: 1000, burst: 0 }, /option 'burst'/],
    [{ limit: 1, interval: 1000, maxWait: 1001 }, /option 'maxWait'.*<= 1000/],
    [{ limit: 1, interval: 1000, maxWait: -1 }, /option 'maxWait'/],
    [{ limit: 1, interval: 1000, maxKeys: 0 }, /option 'maxKeys'/],
    [{ limit: 1, interval: 1000, name: "" }, /option 'name'/],
    [{ limit: 1, interval: 1000, limits: 3 }, /unknown option 'limits' \(did you mean 'limit'\?\)/],
    [{ limit: 1, interval: 1000, maxWiat: 3 }, /did you mean 'maxWait'/],
    [{ limit: 1, interval: 1000, storeKey: "x" }, /option 'storeKey' needs option 'store'/],
    [{ limit: 1, interval: 1000, storeOptions: {} }, /option 'storeOptions' needs option 'store'/],
    [{ limit: 1, interval: 1000, onStoreStatus: () => {} }, /'onStoreStatus' needs option 'store'/],
    [{ limit: 1e9, interval: 2_147_483_647 }, /× 'interval' must be at most/],
    [
      { limit: 1, interval: 366 * 86_400_000 },
      /option 'interval' must be an integer >= 1 and <= 31536000000/,
    ],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => rateLimiter(options as never), message, JSON.stringify(options));
  }
});

test("rateLimiter: a monthly quota (interval beyond a timer's range; maxWait stays a timer's)", async () => {
  const clock = new FakeClock();
  const month = 30 * 86_400_000;
  const l = rateLimiter({ limit: 1000, interval: month, algorithm: "fixed-window", clock });
  assert.equal((await l.take("k", 1000)).allowed, true);
  const a = await l.take("k");
  assert.equal(a.allowed, false);
  assert.ok(a.retryAfter > 2_147_483_647);
  assert.throws(
    () => rateLimiter({ limit: 1, interval: month, maxWait: month }),
    /'maxWait'.*<= 2147483647/,
  );
});

test("rateLimiter: take / peek / reset per key; bad cost and key are refused, never a store or limit fault", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({ name: "api", limit: 3, interval: 1000, clock });
  assert.equal(l.name, "api");
  assert.deepEqual(await l.take("a", 2), {
    allowed: true,
    limit: 3,
    remaining: 1,
    resetAfter: 667,
    retryAfter: 0,
  });
  assert.deepEqual(await l.peek("a"), {
    allowed: true,
    limit: 3,
    remaining: 1,
    resetAfter: 667,
    retryAfter: 0,
  });
  const denied = await l.take("a", 2);
  assert.equal(denied.allowed, false);
  assert.equal(denied.retryAfter, 334); // one token at 3 per 1000 ms: ceil(1000 / 3)
  assert.equal((await l.take("a")).allowed, true, "a denied take consumed nothing");
  assert.equal((await l.take("b", 3)).allowed, true, "keys are independent");
  await l.reset("a");
  assert.equal((await l.take("a", 3)).allowed, true, "reset: a fresh key");
  await assert.rejects(l.take("a", 0), RangeError);
  await assert.rejects(l.take("a", 4), /cost must be an integer from 1 to 3, got 4/);
  await assert.rejects(l.take("a", 1.5), RangeError);
  await assert.rejects(l.take("", 1), /key must be a non-empty string/);
  await assert.rejects(l.take(42 as never), TypeError);
  assert.deepEqual(l.getStats(), {
    name: "api",
    keys: 2,
    admitted: 4,
    limited: 1,
    waiting: 0,
    evicted: 0,
  });
  assert.equal(JSON.parse(JSON.stringify(l.getStats())).admitted, 4);
});

test("rateLimiter: as a policy, a call over the limit is refused at once with RateLimitedError (no stack, no timer, never runs)", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({
    name: "geo",
    limit: 2,
    interval: 1000,
    algorithm: "fixed-window",
    clock,
  });
  assert.equal(await l.execute(() => 1), 1);
  assert.equal(await l(async (x: number) => x + 1)(1), 2);
  let ran = false;
  const e = await l.execute(() => (ran = true)).catch((e) => e);
  assert.equal(ran, false);
  assert.ok(e instanceof RateLimitedError);
  assert.ok(e instanceof ResilienceError);
  assert.ok(e instanceof Error);
  assert.equal(e.name, "RateLimitedError");
  assert.equal(e.limiterName, "geo");
  assert.equal(e.key, undefined);
  assert.equal(e.retryAfter, 1000);
  assert.equal(e.limit, 2);
  assert.match(e.message, /Rate limiter 'geo' refused the call: next permit in 1\.0s/);
  assert.equal(e.stack, `RateLimitedError: ${e.message}`);
  assert.equal(clock.pending, 0, "a refusal sets no timer");
  // Failures and sync throws still take their permit.
  clock.tick(1000);
  await assert.rejects(l.execute(() => Promise.reject(new Error("boom"))), /boom/);
  await assert.rejects(
    l.execute(() => {
      throw new TypeError("sync");
    }),
    TypeError,
  );
  await assert.rejects(l.execute(() => 1), RateLimitedError);
  assert.deepEqual(l.getStats(), {
    name: "geo",
    keys: 1,
    admitted: 4,
    limited: 2,
    waiting: 0,
    evicted: 0,
  });
  // The constructor form keeps a stack and its cause.
  const full = new RateLimitedError("x", "k", 5, 1, { cause: "why" });
  assert.equal(full.cause, "why");
  assert.equal(full.key, "k");
  assert.match(full.message, /\(key 'k'\)/);
});

test("rateLimiter: decorators (TC39) take a permit per call", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({ limit: 1, interval: 1000, clock });
  class Api {
    @l
    async get() {
      return "ok";
    }
  }
  const api = new Api();
  assert.equal(await api.get(), "ok");
  await assert.rejects(api.get(), RateLimitedError);
});

test("rateLimiter: maxWait reserves the permit and waits on the deadline scheduler; abort gives it back at once", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({ name: "q", limit: 2, interval: 1000, maxWait: 1000, clock });
  const order: string[] = [];
  await l.execute(() => order.push("a"));
  await l.execute(() => order.push("b"));
  const c = l.execute(() => order.push("c")); // ready at 500
  const controller = new AbortController();
  const d = l.execute(() => order.push("d"), controller.signal); // ready at 1000
  assert.equal(l.getStats().waiting, 2);
  // A third waiter would wait 1500 > maxWait: refused at once.
  const e = await l.execute(() => order.push("e")).catch((e) => e);
  assert.ok(e instanceof RateLimitedError);
  assert.equal(e.retryAfter, 1500);
  controller.abort(new Error("gone"));
  await assert.rejects(d, /gone/);
  assert.equal(l.getStats().waiting, 1);
  // d's permit was given back: a new waiter gets the 1000 ms slot.
  const f = l.execute(() => order.push("f"));
  await clock.tickAsync(499);
  assert.deepEqual(order, ["a", "b"]);
  await clock.tickAsync(1);
  await c;
  assert.deepEqual(order, ["a", "b", "c"]);
  await clock.tickAsync(500);
  await f;
  assert.deepEqual(order, ["a", "b", "c", "f"]);
  assert.equal(clock.pending, 0);
  // Already aborted: rejected before taking anything.
  const gone = AbortSignal.abort(new Error("before"));
  await assert.rejects(l.execute(() => order.push("never"), gone), /before/);
  assert.deepEqual(l.getStats(), {
    name: "q",
    keys: 1,
    admitted: 4,
    limited: 1,
    waiting: 0,
    evicted: 0,
  });
});

test("rateLimiter: 1,000 waiters, a third aborted: each settles once (ran or the abort reason), no timer left", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({ limit: 1000, interval: 1000, burst: 1, maxWait: 1000, clock });
  const controllers: AbortController[] = [];
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < 1000; i++) {
    const c = new AbortController();
    controllers.push(c);
    calls.push(l.execute(() => i, c.signal).catch((e) => e));
  }
  assert.equal(l.getStats().waiting, 999, "the first runs at once, the others 1 ms apart");
  let aborted = 0;
  for (let i = 1; i < 1000; i += 3) controllers[i].abort("x"), aborted++;
  await clock.tickAsync(1000);
  const results = await Promise.all(calls);
  assert.equal(results.filter((r) => r === "x").length, aborted);
  assert.equal(l.getStats().waiting, 0);
  assert.equal(clock.pending, 0);
  assert.equal(results.filter((r) => typeof r === "number").length, 1000 - aborted);
  assert.equal(l.getStats().admitted, 1000 - aborted);
  await clock.tickAsync(1000);
  let ran = false;
  await l.execute(() => (ran = true));
  assert.ok(ran, "the bucket refilled: a call runs at once");
});

test("rateLimiter: maxKeys drops fresh keys first (changes nothing), then the least recently used (logged once, counted)", async () => {
  const clock = new FakeClock();
  const logger = recordingLogger();
  const l = rateLimiter({ limit: 2, interval: 1000, maxKeys: 3, clock, logger });
  await l.take("a");
  await l.take("b");
  await l.take("c");
  clock.tick(1000); // a, b and c are fresh again
  await l.take("c");
  await l.take("d"); // full: the sweep drops a and b (fresh)
  assert.equal(l.getStats().keys, 2);
  assert.equal(l.getStats().evicted, 0);
  await l.take("e");
  await l.take("e");
  assert.equal((await l.take("e")).allowed, false);
  await l.take("f"); // full of live keys: c (least recently used) is dropped
  assert.equal(l.getStats().keys, 3);
  assert.equal(l.getStats().evicted, 1);
  await l.take("g");
  assert.equal(l.getStats().evicted, 2);
  assert.equal(logger.lines.filter((x) => /maxKeys \(3\)/.test(x)).length, 1, "logged once");
  // A key sprayer cannot reset its own limit cheaply: "e" was used recently, so it stays.
  assert.equal((await l.take("e")).allowed, false);
});

test("rateLimiter: O(1) per take with 10,000 live keys and a key sprayer (the sweep is amortised)", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({ limit: 5, interval: 60_000, clock });
  const t0 = performance.now();
  for (let i = 0; i < 50_000; i++) await l.take(`k${i}`);
  const ms = performance.now() - t0;
  assert.equal(l.getStats().keys, 10_000);
  assert.equal(l.getStats().evicted, 40_000);
  assert.ok(ms < 5_000, `50,000 takes took ${ms}ms`);
});

test("retry: a RateLimitedError is waited out when retryAfter fits maxDelay, costs no budget, else rethrown at once", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 0, clock });
  const l = rateLimiter({ limit: 1, interval: 1000, clock });
  let runs = 0;
  const p = compose(
    retry({ maxAttempts: 3, initialDelay: 10, maxDelay: 2000, jitter: false, clock, budget }),
    l,
  );
  const first = await p.execute(() => ++runs);
  assert.equal(first, 1);
  const second = p.execute(() => ++runs);
  await clock.tickAsync(999);
  assert.equal(runs, 1, "waits retryAfter, not the 10 ms backoff");
  await clock.tickAsync(1);
  assert.equal(await second, 2);
  assert.equal(budget.getStats().refused, 0, "no budget spent");
  // retryAfter beyond maxDelay: rethrown at once.
  const strict = compose(retry({ maxAttempts: 3, maxDelay: 100, initialDelay: 10, clock }), l);
  const e = await strict.execute(() => ++runs).catch((e) => e);
  assert.ok(e instanceof RateLimitedError);
  assert.equal(runs, 2);
  // Recognised by its fields (another copy of the library).
  const foreign = { limiterName: "x", retryAfter: 5000 };
  let tries = 0;
  await assert.rejects(
    retry({ maxAttempts: 3, maxDelay: 100, initialDelay: 10, clock }).execute(() => {
      tries++;
      throw foreign;
    }),
    (x) => x === foreign,
  );
  assert.equal(tries, 1);
});

test("takePermits: the documented example and the limit: 1 sliding window", () => {
  const config = { algorithm: "token-bucket" as const, limit: 2, interval: 1_000 };
  let r = takePermits(undefined, { cost: 2 }, config, 0);
  assert.deepEqual([r.answer.allowed, r.answer.remaining], [true, 0]);
  r = takePermits(r.state, { cost: 1 }, config, 100);
  assert.deepEqual([r.answer.allowed, r.answer.retryAfter], [false, 400]);
  // limit 1, sliding: one permit per window, the next when the weighted estimate allows it.
  const sw = { algorithm: "sliding-window" as const, limit: 1, interval: 1000 };
  let s = takePermits(undefined, { cost: 1 }, sw, 999).state;
  const next = takePermits(s, { cost: 1 }, sw, 1000);
  assert.equal(next.answer.allowed, false);
  assert.equal(next.answer.retryAfter, 1000, "previous = 1 weighs until the window ends");
  s = takePermits(s, { cost: 1 }, sw, 2000).state;
  assert.ok(s !== undefined && s.kind === "sw" && s.count === 1);
});

test("rateLimiter: FakeClock jumps — a long idle gap refills once (no overflow), a clock going back admits nothing extra", async () => {
  for (const algorithm of ["token-bucket", "sliding-window", "fixed-window"] as const) {
    const clock = new FakeClock(1_000_000);
    const l = rateLimiter({ limit: 3, interval: 1000, algorithm, clock });
    for (let i = 0; i < 3; i++) assert.equal((await l.take("k")).allowed, true);
    clock.tick(1e12); // ~30 years idle
    for (let i = 0; i < 3; i++) assert.equal((await l.take("k")).allowed, true, algorithm);
    assert.equal(
      (await l.take("k")).allowed,
      false,
      `${algorithm}: refilled to the limit, not beyond`,
    );
    // A clock that goes back (a store's wall time after a correction): nothing is admitted
    // that the state does not already allow.
    let t = 10_000_000;
    const back = {
      now: () => t,
      wallNow: () => t,
      setTimeout: (f: () => void, ms: number) => clock.setTimeout(f, ms),
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
    };
    const moved = rateLimiter({ limit: 3, interval: 1000, algorithm, clock: back });
    for (let i = 0; i < 3; i++) await moved.take("k");
    t -= 15_000;
    assert.equal((await moved.take("k")).allowed, false, `${algorithm}: going back admits nothing`);
    t += 15_000 + 2000; // (two intervals: the sliding window's previous one weighs nothing)
    assert.equal(
      (await moved.take("k")).allowed,
      true,
      `${algorithm}: and resumes once time caught up`,
    );
  }
});

test("rateLimiter: an abort after the wait ended changes nothing (the call ran, its permit is not given back)", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({ limit: 1, interval: 1000, maxWait: 1000, clock });
  await l.execute(() => 0);
  const controller = new AbortController();
  let ran = 0;
  const p = l.execute(async ({ signal }) => {
    ran++;
    await new Promise((r) => setTimeout(r, 0));
    return signal.aborted;
  }, controller.signal);
  await clock.tickAsync(1000);
  assert.equal(ran, 1);
  controller.abort("late");
  await p.catch(() => {});
  assert.equal(ran, 1);
  assert.equal(l.getStats().waiting, 0);
  // No permit came back: the next call waits a whole interval for its reservation.
  let second = 0;
  const next = l.execute(() => (second = 2));
  assert.equal(l.getStats().waiting, 1);
  await clock.tickAsync(999);
  assert.equal(second, 0);
  await clock.tickAsync(1);
  assert.equal(await next, 2);
});
