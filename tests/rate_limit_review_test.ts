// Fixes from a fresh-eyes review of rate limiting (#18): a stored future time
// is bounded AND saved (MemoryStore, Deno KV; Redis in
// tests/redis_rate_expiry_test.ts), a refused key counts as used under
// `maxKeys`, a throwing logger never stops a take, repairs are logged once,
// `execute` with a non-signal never runs `fn` on a reserved permit, and a
// literal key cannot equal another key's shortened form.
import assert from "node:assert/strict";
import {
  MemoryStore,
  type RateLimitAlgorithm,
  rateLimiter,
  rateLimitReducer,
  type SharedStore,
} from "../mod.ts";
import { type DenoKvAtomic, type DenoKvLike, denoKvStore } from "../src/deno_kv/store.ts";
import { safeKey } from "../src/hono/circuit_breaker.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

const ALGORITHMS: RateLimitAlgorithm[] = ["token-bucket", "fixed-window", "sliding-window"];
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

/** A state of `algorithm` dated one hour ahead of `now`, with no permit left. */
function future(algorithm: RateLimitAlgorithm, now: number, interval: number): unknown {
  const start = Math.floor(now / interval) * interval + HOUR;
  return algorithm === "token-bucket"
    ? { kind: "tb", at: now + HOUR, level: 0 }
    : algorithm === "fixed-window"
    ? { kind: "fw", start, count: 5 }
    : { kind: "sw", start, count: 5, previous: 5 };
}

/**
 * A key stored 1 h ahead: the first take finds it bounded (≤ interval + skew
 * ahead) and the store saves the bounded value; the key admits again within
 * interval + skew, not an hour.
 */
async function futureState(
  algorithm: RateLimitAlgorithm,
  make: (
    clock: FakeClock,
  ) => Promise<{ store: SharedStore; put(v: unknown): Promise<void>; get(): Promise<unknown> }>,
) {
  const interval = 1000;
  const clock = new FakeClock(0, T0);
  const { store, put, get } = await make(clock);
  await put(future(algorithm, T0, interval));
  const limiter = rateLimiter({
    name: "f",
    limit: 5,
    interval,
    algorithm,
    store,
    clock,
    logger: silent,
  });
  const first = await limiter.take("k");
  // Saved bounded, even by a denial: a reader of the raw entry sees no time an hour ahead.
  const stored = await get() as { at?: number; start?: number } | undefined;
  if (stored !== undefined) {
    const t = stored.at ?? stored.start!;
    assert.ok(t <= T0 + 2 * interval + 5000, `${algorithm}: stored ${JSON.stringify(stored)}`);
  }
  assert.ok(first.allowed || first.retryAfter <= 2 * interval + 1000, JSON.stringify(first));
  // Within interval + skew (+ one interval for a window's carried count), the key admits again.
  let admitted = first.allowed;
  for (let i = 0; i < 40 && !admitted; i++) {
    clock.tick(100);
    admitted = (await limiter.take("k")).allowed;
  }
  assert.ok(admitted, `${algorithm}: still blocked ${clock.now()} ms later`);
  assert.ok(
    clock.now() <= 2 * interval + 1000 + 5000,
    `${algorithm}: admitted after ${clock.now()} ms`,
  );
  return first;
}

for (const algorithm of ALGORITHMS) {
  test(`rate limit, MemoryStore (${algorithm}): a state stored 1 h ahead is bounded, saved, and admits within interval + skew`, async () => {
    await futureState(algorithm, (clock) => {
      const entries = new Map<string, unknown>();
      return Promise.resolve({
        store: new MemoryStore({ entries, clock }),
        put: (v) => Promise.resolve(void entries.set("rl:f:k", v)),
        get: () => Promise.resolve(entries.get("rl:f:k")),
      });
    });
  });

  test(
    `rate limit, Deno KV (${algorithm}): a state stored 1 h ahead is bounded, saved, and admits within interval + skew`,
    async () => {
      const Deno = (globalThis as unknown as {
        Deno: { openKv(p: string): Promise<Parameters<typeof denoKvStore>[0] & { close(): void }> };
      }).Deno;
      const kv = await Deno.openKv(":memory:");
      try {
        const key = ["edge-resilience", "rl:f:k"];
        await futureState(algorithm, (clock) =>
          Promise.resolve({
            store: denoKvStore(kv, { clock }),
            put: async (v) => void await kv.atomic().set(key, v).commit(),
            get: async () => (await kv.get(key)).value ?? undefined,
          }));
      } finally {
        kv.close();
      }
    },
    { runtimes: ["deno"], why: "Deno.openKv" },
  );
}

test("rateLimitReducer: a denial or a peek on a bounded state writes the bounded value", () => {
  const config = { algorithm: "fixed-window" as const, limit: 5, interval: 1000 };
  const stored = { kind: "fw", start: T0 + HOUR, count: 5 };
  for (const request of [{ cost: 1 }, { cost: 1, peek: true }]) {
    const r = rateLimitReducer(stored, { type: "rate", request, config }, T0);
    assert.equal(r.write, true, JSON.stringify(request));
    assert.ok((r.value as { start: number }).start <= T0, JSON.stringify(r.value));
  }
  // In range: a denial writes nothing.
  const inRange = { kind: "fw", start: Math.floor(T0 / 1000) * 1000, count: 5 };
  const r = rateLimitReducer(inRange, { type: "rate", request: { cost: 1 }, config }, T0);
  assert.deepStrictEqual([r.answer.allowed, r.write], [false, false]);
});

for (const algorithm of ["token-bucket", "fixed-window", "sliding-window"] as const) {
  test(`maxKeys (${algorithm}): a key held at its limit survives key spraying (a refusal counts as use)`, async () => {
    for (const every of [10, 50, 99]) {
      const clock = new FakeClock();
      const rl = rateLimiter({
        limit: 5,
        interval: 60_000,
        algorithm,
        maxKeys: 100,
        clock,
        logger: silent,
      });
      let victim = 0;
      for (let i = 0; i < 5000; i++) {
        if (i % every === 0 && (await rl.take("victim")).allowed) victim++;
        await rl.take(`spray-${i}`);
      }
      assert.ok(victim <= 5, `every ${every}: victim admitted ${victim} (limit 5 per minute)`);
      assert.ok(rl.getStats().evicted > 0, "the sprayed keys were evicted");
    }
  });
}

const throwing = {
  info() {
    throw new Error("logger boom");
  },
  warn() {
    throw new Error("logger boom");
  },
  error() {
    throw new Error("logger boom");
  },
};

test("a throwing logger never stops a take: store down (limiting locally), store back, eviction", async () => {
  let down = true;
  const entries = new Map<string, unknown>();
  const memory = new MemoryStore({ entries });
  const store = {
    kind: "authoritative" as const,
    run: (k: string, op: never) => down ? Promise.reject(new Error("down")) : memory.run!(k, op),
  };
  const clock = new FakeClock();
  const l = rateLimiter({
    name: "m2",
    limit: 2,
    interval: 1000,
    store,
    clock,
    logger: throwing,
    storeOptions: { retryInterval: 10 },
  });
  assert.equal((await l.take("k")).allowed, true); // store down: logged (throws), answered locally
  assert.equal((await l.take("k")).allowed, true);
  assert.equal((await l.take("k")).allowed, false);
  down = false;
  clock.tick(20);
  await l.take("k"); // the probe: store available again (logged: throws)
  await new Promise((r) => setTimeout(r, 0));
  entries.set("rl:m2:j", "{garbage"); // repaired (logged: throws)
  assert.equal((await l.take("j")).allowed, true);
  // Eviction's warning (no store).
  const l2 = rateLimiter({
    name: "m2b",
    limit: 2,
    interval: 100_000,
    maxKeys: 2,
    logger: throwing,
  });
  for (let i = 0; i < 4; i++) assert.equal((await l2.take(`k${i}`)).allowed, true);
  assert.equal(l2.getStats().evicted, 2);
});

test("repaired store entries are logged once (then aggregated), not once per take", async () => {
  const entries = new Map<string, unknown>();
  const clock = new FakeClock();
  const logger = recordingLogger();
  const store = new MemoryStore({ entries, clock });
  const l = rateLimiter({ name: "r8", limit: 5, interval: 60_000, store, clock, logger });
  for (let i = 0; i < 50; i++) {
    entries.set(`rl:r8:k${i % 5}`, "garbage");
    await l.take(`k${i % 5}`);
  }
  assert.equal(
    logger.lines.filter((m) => m.includes("unreadable")).length,
    1,
    logger.lines.join("\n"),
  );
});

test("execute(fn, notASignal) on a reserved permit: refused, the permit given back, fn never runs", async () => {
  for (const algorithm of ["token-bucket", "fixed-window"] as const) {
    const clock = new FakeClock();
    const rl = rateLimiter({
      limit: 1,
      interval: 1000,
      maxWait: 1000,
      algorithm,
      clock,
      logger: silent,
    });
    const ran: string[] = [];
    const run = (name: string, signal?: unknown) =>
      rl.execute(() => void ran.push(`${name}@${clock.now()}`), signal as AbortSignal).then(
        () => "ok",
        (e) => (e as Error).name,
      );
    const a = run("A");
    await clock.tickAsync(0);
    const b = run("B", { signal: new AbortController().signal });
    await clock.tickAsync(0);
    const d = run("D"); // gets the permit B gave back: at 1000, not 2000
    await clock.tickAsync(3000);
    assert.deepStrictEqual(await Promise.all([a, b, d]), ["ok", "TypeError", "ok"]);
    assert.deepStrictEqual(ran, ["A@0", "D@1000"], algorithm);
    assert.equal(clock.pending, 0);
    assert.equal(rl.getStats().waiting, 0);
  }
});

test("safeKey: a literal key equal to another key's shortened form is shortened too (no collision)", () => {
  const victim = "u".repeat(300);
  const forged = safeKey(victim);
  assert.notEqual(safeKey(forged), forged);
  assert.notEqual(safeKey(forged), safeKey(victim));
  assert.equal(safeKey("a…b#c"), "a…b#c"); // the marker is "…#" together
  assert.equal(safeKey("plain-key"), "plain-key");
  assert.match(safeKey("x…#y"), /^x…#y…#[0-9a-f]{32}$/);
});

test("Deno KV: a rate-limit write expires no sooner than the state's life, whatever expireIn says (breaker writes keep expireIn)", async () => {
  // A structural Deno KV (DenoKvLike) that records each write's expireIn.
  const entries = new Map<string, { value: unknown; versionstamp: string }>();
  const expiries: number[] = [];
  let v = 0;
  const kv: DenoKvLike = {
    get: (key) => {
      const e = entries.get(JSON.stringify(key));
      return Promise.resolve(
        e
          ? { value: e.value as never, versionstamp: e.versionstamp }
          : { value: null, versionstamp: null },
      );
    },
    atomic() {
      const writes: [string, unknown][] = [];
      const op: DenoKvAtomic = {
        check: () => op,
        set(key, value, options) {
          writes.push([JSON.stringify(key), value]);
          expiries.push(options?.expireIn ?? Infinity);
          return op;
        },
        commit() {
          for (const [k, value] of writes) entries.set(k, { value, versionstamp: String(++v) });
          return Promise.resolve({ ok: true });
        },
      };
      return op;
    },
  };
  const clock = new FakeClock(0, T0);
  for (const algorithm of ALGORITHMS) {
    for (const interval of [60_000, 365 * 86_400_000]) {
      expiries.length = 0;
      const store = denoKvStore(kv, { clock, expireIn: 1000 });
      const name = `kv-${algorithm}-${interval}`;
      const l = rateLimiter({ name, limit: 5, interval, algorithm, store, clock, logger: silent });
      for (let i = 0; i < 5; i++) assert.equal((await l.take("k")).allowed, true);
      const denied = await l.take("k");
      assert.equal(denied.allowed, false);
      // The last write (the 5th take) lasts until the state is fresh again: past the denial's reset.
      assert.equal(expiries.length, 5, "a denial writes nothing");
      assert.ok(expiries[4] >= denied.resetAfter, `${name}: expireIn ${expiries[4]}`);
    }
  }
  // A breaker's write keeps the store's expireIn.
  expiries.length = 0;
  const { circuitBreaker } = await import("../mod.ts");
  const b = circuitBreaker({
    name: "kv-b",
    failureThreshold: 1,
    store: denoKvStore(kv, { clock, expireIn: 1000 }),
    clock,
    logger: silent,
  });
  await b.execute(() => Promise.reject(new Error("x"))).catch(() => {});
  await new Promise((r) => setTimeout(r, 0));
  await clock.tickAsync(0);
  assert.ok(expiries.length > 0 && expiries.every((e) => e === 1000), JSON.stringify(expiries));
});
