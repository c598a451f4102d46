// What mutation testing of src/cloudflare/rate_limit_store.ts asks of the
// store on its own (a fake Rate Limiting binding, no limiter around it): the
// construction checks and their messages, the limiter settings it refuses,
// how many binding calls a take of cost n makes and what each answer says
// (remaining, resetAfter, retryAfter on the period's grid), the operations
// that never call the binding, and a malformed binding answer.
import assert from "node:assert/strict";
import type { RateLimitConfig, RateLimitOp, TakeAnswer } from "../mod.ts";
import { cloudflareRateLimitStore, type RateLimitBindingLike } from "../src/cloudflare/mod.ts";
import type { RateLimitStore } from "../src/rate_limit/store_port.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

/** A binding that admits `allow` calls, then refuses; records the keys it was called with. */
function binding(allow = Infinity) {
  const keys: string[] = [];
  return {
    keys,
    limit({ key }: { key: string }) {
      keys.push(key);
      return Promise.resolve({ success: keys.length <= allow });
    },
  };
}
const CONFIG: RateLimitConfig = { algorithm: "fixed-window", limit: 5, interval: 60_000 };
const op = (request: RateLimitOp["request"]): RateLimitOp => ({
  type: "rate",
  request,
  config: CONFIG,
});
/** Runs one operation on the store; its answer. */
const take = (store: RateLimitStore, key: string, o: RateLimitOp) =>
  store.run!(key, o) as Promise<TakeAnswer>;
// 20 s into a minute (and 0 s into a 10 s period).
const clock = () => new FakeClock(0, 1_800_000_020_000);

test("cloudflareRateLimitStore: refuses what is not a binding, missing or foreign options, and names them", () => {
  const b = binding();
  const msg =
    /cloudflareRateLimitStore: expected a Rate Limiting binding \(with limit\(\{ key \}\)\)/;
  assert.throws(() => cloudflareRateLimitStore(undefined as never, { limit: 1, period: 10 }), msg);
  assert.throws(() => cloudflareRateLimitStore(null as never, { limit: 1, period: 10 }), msg);
  assert.throws(() => cloudflareRateLimitStore({} as never, { limit: 1, period: 10 }), msg);
  assert.throws(
    () => cloudflareRateLimitStore({ limit: 1 } as never, { limit: 1, period: 10 }),
    (e) => e instanceof TypeError && msg.test(e.message),
  );
  assert.throws(
    () => cloudflareRateLimitStore(b, undefined as never),
    (e) =>
      e instanceof TypeError &&
      e.message ===
        "cloudflareRateLimitStore: options 'limit' and 'period' (the binding's own) are required",
  );
  assert.throws(
    () => cloudflareRateLimitStore(b, 5 as never),
    /cloudflareRateLimitStore: option 'options' must be an object, got 5/,
  );
  assert.throws(
    () => cloudflareRateLimitStore(b, { limit: 1, period: 10, perod: 10 } as never),
    /unknown option 'perod' \(did you mean 'period'\?\)/,
  );
});

test("cloudflareRateLimitStore: limit is an integer from 1 to MAX_SAFE_INTEGER; period is 10 or 60 seconds, anything else named with its value", () => {
  const b = binding();
  for (const limit of [1, 7, Number.MAX_SAFE_INTEGER]) {
    assert.equal(cloudflareRateLimitStore(b, { limit, period: 60 }).kind, "authoritative");
  }
  for (const limit of [0, 1.5, Number.MAX_SAFE_INTEGER + 2, undefined, "5"]) {
    assert.throws(
      () => cloudflareRateLimitStore(b, { limit, period: 60 } as never),
      /cloudflareRateLimitStore: option 'limit' must be (a number|an integer >= 1 and <= 9007199254740991)/,
      String(limit),
    );
  }
  assert.doesNotThrow(() => cloudflareRateLimitStore(b, { limit: 1, period: 10 }));
  for (const period of [30, 0, 10.5, 600, "10", undefined]) {
    assert.throws(
      () => cloudflareRateLimitStore(b, { limit: 1, period } as never),
      (e) =>
        e instanceof RangeError &&
        e.message ===
          `cloudflareRateLimitStore: option 'period' must be 10 or 60 (seconds: the only periods Cloudflare accepts), got ${
            JSON.stringify(period)
          }`,
      String(period),
    );
  }
});

test("cloudflareRateLimitStore: a limiter is accepted only with the binding's settings; each mismatch is named with both values", () => {
  const store = cloudflareRateLimitStore(binding(), { limit: 5, period: 60 });
  assert.equal(store.knowsRemaining, false);
  assert.doesNotThrow(() => store.checkConfig!(CONFIG));
  const refused = (config: RateLimitConfig, why: string) =>
    assert.throws(
      () => store.checkConfig!(config),
      (e) =>
        e instanceof TypeError &&
        e.message ===
          `cloudflareRateLimitStore counts what its binding is configured for (fixed-window, 5 per 60 s): the limiter's ${why}`,
    );
  refused(
    { ...CONFIG, algorithm: "sliding-window" },
    `algorithm is "sliding-window", not "fixed-window"`,
  );
  refused(
    { ...CONFIG, algorithm: "token-bucket", limit: 6 },
    `algorithm is "token-bucket", not "fixed-window"`,
  );
  refused({ ...CONFIG, limit: 6 }, "limit is 6, the binding's is 5");
  refused({ ...CONFIG, limit: 6, interval: 10_000 }, "limit is 6, the binding's is 5");
  refused(
    { ...CONFIG, interval: 10_000 },
    "interval is 10000 ms, the binding's period is 60000 ms",
  );
  refused({ ...CONFIG, interval: 60 }, "interval is 60 ms, the binding's period is 60000 ms");
});

test("cloudflareRateLimitStore: a take of cost n is n binding calls with the key; admitted: remaining limit − cost, retryAfter 0, resetAfter to the period's end", async () => {
  const b = binding();
  const c = clock();
  const store = cloudflareRateLimitStore(b, { limit: 5, period: 60, clock: c });
  assert.deepEqual(await take(store, "rl:api:k", op({ cost: 1 })), {
    allowed: true,
    limit: 5,
    remaining: 4,
    resetAfter: 40_000,
    retryAfter: 0,
  });
  assert.deepEqual(b.keys, ["rl:api:k"]);
  c.tick(15_500);
  assert.deepEqual(await take(store, "rl:api:j", op({ cost: 3 })), {
    allowed: true,
    limit: 5,
    remaining: 2,
    resetAfter: 24_500,
    retryAfter: 0,
  });
  assert.deepEqual(b.keys, ["rl:api:k", "rl:api:j", "rl:api:j", "rl:api:j"]);
  // A 10 s period: the grid is 10 s (20 s into the minute is a period's start: a whole period left).
  const ten = cloudflareRateLimitStore(binding(), { limit: 5, period: 10, clock: clock() });
  assert.equal((await take(ten, "k", op({ cost: 1 }))).resetAfter, 10_000);
});

test("cloudflareRateLimitStore: the first refused call ends a take: denied, remaining 0, retryAfter = resetAfter; the calls after it are not made", async () => {
  const b = binding(2);
  const c = clock();
  c.tick(1_000);
  const store = cloudflareRateLimitStore(b, { limit: 5, period: 60, clock: c });
  assert.deepEqual(await take(store, "k", op({ cost: 5 })), {
    allowed: false,
    limit: 5,
    remaining: 0,
    resetAfter: 39_000,
    retryAfter: 39_000,
  });
  assert.equal(b.keys.length, 3, "two admitted, the third refused, the last two never made");
  assert.equal((await take(store, "k", op({ cost: 1 }))).allowed, false);
  assert.equal(b.keys.length, 4);
  // A take of cost 0 calls nothing and is admitted.
  assert.deepEqual(await take(store, "k", op({ cost: 0 })), {
    allowed: true,
    limit: 5,
    remaining: 5,
    resetAfter: 39_000,
    retryAfter: 0,
  });
  assert.equal(b.keys.length, 4);
});

test("cloudflareRateLimitStore: peek, reset and a refund (even of 0) never call the binding: admitted, remaining the whole limit", async () => {
  const b = binding(0);
  const store = cloudflareRateLimitStore(b, { limit: 5, period: 60, clock: clock() });
  const full = { allowed: true, limit: 5, remaining: 5, resetAfter: 40_000, retryAfter: 0 };
  assert.deepEqual(await take(store, "k", op({ cost: 1, peek: true })), full);
  assert.deepEqual(await take(store, "k", op({ cost: 1, reset: true })), full);
  assert.deepEqual(await take(store, "k", op({ cost: 1, refund: 1 })), full);
  assert.deepEqual(await take(store, "k", op({ cost: 1, refund: 0 })), full);
  assert.equal(b.keys.length, 0);
  // And without those flags the same store asks (and this binding refuses).
  assert.equal((await take(store, "k", op({ cost: 1, peek: false, reset: false }))).allowed, false);
  assert.equal(b.keys.length, 1);
});

test("cloudflareRateLimitStore: a malformed binding answer is a TypeError (an outage to the limiter), not an admission", async () => {
  for (const answer of [undefined, null, true, "yes", {}, { success: 1 }, { success: "true" }]) {
    const bad: RateLimitBindingLike = { limit: () => Promise.resolve(answer as never) };
    const store = cloudflareRateLimitStore(bad, { limit: 5, period: 60 });
    await assert.rejects(
      store.run!("k", op({ cost: 1 })),
      (e) =>
        e instanceof TypeError &&
        e.message === "malformed answer from the Rate Limiting binding",
      JSON.stringify(answer),
    );
  }
  // A well-formed refusal is not malformed.
  const no = cloudflareRateLimitStore({ limit: () => Promise.resolve({ success: false }) }, {
    limit: 5,
    period: 60,
  });
  assert.equal((await take(no, "k", op({ cost: 1 }))).allowed, false);
});
