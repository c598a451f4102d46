// The rate limiter's store link and the store reducer: a small in-test store
// whose `run` applies `rateLimitReducer` (as every authoritative store does),
// and faulty ones (throws, hangs, garbage).
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  boundLimitState,
  type Clock,
  type LimitState,
  rateLimiter,
  type RateLimitOp,
  rateLimitReducer,
  rateLimitSkew,
  readStoredLimit,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, recordingLogger, test } from "./_harness.ts";

/** An authoritative store: `run` applies the reducer to the entry, atomically (one thread). */
function reducerStore(clock: Clock) {
  const entries = new Map<string, unknown>();
  const store = {
    kind: "authoritative" as const,
    entries,
    calls: 0,
    fault: undefined as undefined | "throw" | "hang" | "garbage" | "sync-throw",
    run(key: string, op: RateLimitOp): Promise<unknown> {
      store.calls++;
      if (store.fault === "sync-throw") throw new Error("sync boom");
      if (store.fault === "throw") return Promise.reject(new Error("boom"));
      if (store.fault === "hang") return new Promise(() => {});
      if (store.fault === "garbage") return Promise.resolve({ allowed: "yes" });
      const r = rateLimitReducer(entries.get(key), op, clock.wallNow());
      if (r.write) {
        if (r.value === undefined) entries.delete(key);
        else entries.set(key, r.value);
      }
      return Promise.resolve(r.answer);
    },
    checkKey(key: string) {
      if (key.length > 64) throw new RangeError("key too long");
    },
  };
  return store;
}

test("rateLimiter store: advisory stores and stores that cannot run are refused at construction, naming 'store'", () => {
  const base = { limit: 1, interval: 1000 };
  assert.throws(
    () => rateLimiter({ ...base, store: { kind: "advisory" } as never }),
    /rateLimiter: option 'store' is advisory \(Workers KV.*cannot count rate limits; use durableObjectStore or denoKvStore/,
  );
  assert.throws(
    () => rateLimiter({ ...base, store: { kind: "authoritative" } as never }),
    /option 'store' cannot count rate limits: expected an authoritative store with run/,
  );
  assert.throws(() => rateLimiter({ ...base, store: null as never }), /option 'store'/);
  const store = reducerStore(new FakeClock());
  assert.throws(
    () => rateLimiter({ ...base, store, storeOptions: { whenUnavailable: "allow" as never } }),
    /'storeOptions.whenUnavailable' must be "local" or "reject" \(a rate limit is never unbounded/,
  );
  assert.throws(
    () => rateLimiter({ ...base, store, storeOptions: { timeot: 1 } as never }),
    /did you mean 'timeout'/,
  );
  assert.throws(
    () => rateLimiter({ ...base, store, storeOptions: { timeout: 0 } }),
    /storeOptions.timeout/,
  );
  assert.throws(
    () => rateLimiter({ ...base, store, storeKey: "x".repeat(65) }),
    /option 'storeKey' cannot be a key of this store/,
  );
  assert.equal(store.calls, 0, "construction sends nothing");
});

test("rateLimiter store: three instances sharing one store admit exactly the limit (1,000 takes, limit 100)", async () => {
  for (const algorithm of ["token-bucket", "sliding-window", "fixed-window"] as const) {
    const clock = new FakeClock();
    const store = reducerStore(clock);
    const instances = [0, 1, 2].map(() =>
      rateLimiter({ name: "api", limit: 100, interval: 60_000, algorithm, clock, store })
    );
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => instances[i % 3].take("alice")),
    );
    assert.equal(answers.filter((a) => a.allowed).length, 100, algorithm);
    assert.equal(store.calls, 1000, "one store command per take");
    assert.deepEqual([...store.entries.keys()], ["rl:api:alice"]);
    const policyCalls = await Promise.all(
      Array.from({ length: 300 }, (_, i) => instances[i % 3].execute(() => 1).catch(() => 0)),
    );
    assert.equal(policyCalls.filter((x) => x === 1).length, 100, "the policy's own key: 'api'");
    assert.ok(store.entries.has("rl:api"));
    await instances[0].reset("alice");
    assert.equal(store.entries.has("api:alice"), false);
    const calls = store.calls;
    // Another instance remembers its denial until the time the store gave (no round trip);
    // the instance that reset forgot its own.
    assert.equal((await instances[1].take("alice")).allowed, false);
    assert.equal(store.calls, calls);
    assert.equal((await instances[0].take("alice")).allowed, true, "reset is shared");
    assert.equal(store.calls, calls + 1);
  }
});

test("rateLimiter store: a store that throws, hangs or answers garbage — takes never reject, one probe per retryInterval, outage logged once", async () => {
  for (const fault of ["throw", "sync-throw", "hang", "garbage"] as const) {
    const clock = new FakeClock();
    const store = reducerStore(clock);
    const logger = recordingLogger();
    const events: unknown[] = [];
    const l = rateLimiter({
      name: "api",
      limit: 5,
      interval: 1000,
      clock,
      logger,
      store,
      storeOptions: { timeout: 100, retryInterval: 1000 },
      onStoreStatus: (e) => events.push({ ...e, error: e.error !== undefined }),
    });
    assert.equal((await l.take("k")).allowed, true);
    store.fault = fault;
    let allowed = 0;
    for (let i = 0; i < 1000; i++) {
      const p = l.take("k");
      if (fault === "hang" && i === 0) await clock.tickAsync(100);
      const a = await p;
      if (a.allowed) allowed++;
      if (i % 100 === 99) await clock.tickAsync(100); // 1 s over the run: one probe
    }
    // The local bucket (5, refilled at 5 per second) decides: 5 at once, 4.5 refilled over
    // the 900 ms the takes span.
    assert.equal(allowed, 5 + 4, `${fault}: the local limiter decides: ${allowed}`);
    assert.ok(
      store.calls <= 1 + 1 + 2,
      `${fault}: ${store.calls} store commands (the failing one and probes)`,
    );
    const outage = logger.lines.filter((x) => /store unavailable/.test(x));
    assert.equal(outage.length, 1, `${fault}: logged once`);
    assert.deepEqual(events, [{ name: "api", available: false, error: true }]);
    // Healed: the next probe brings it back.
    store.fault = undefined;
    await clock.tickAsync(1000);
    await l.take("k"); // starts the probe (this take is answered locally)
    await clock.tickAsync(0);
    assert.deepEqual(events.at(-1), { name: "api", available: true, error: false });
    assert.equal((await l.take("k")).allowed, true);
    assert.equal(logger.lines.filter((x) => /available again/.test(x)).length, 1);
    assert.equal(clock.pending, 0, `${fault}: no timer left`);
  }
});

test("rateLimiter store: whenUnavailable 'reject' denies every take until the probe finds the store back", async () => {
  const clock = new FakeClock();
  const store = reducerStore(clock);
  const l = rateLimiter({
    limit: 5,
    interval: 1000,
    clock,
    store,
    storeOptions: { whenUnavailable: "reject", retryInterval: 2000 },
  });
  store.fault = "throw";
  const first = await l.take("k");
  assert.equal(first.allowed, false);
  assert.equal(first.retryAfter, 2000);
  await clock.tickAsync(500);
  assert.equal((await l.take("k")).retryAfter, 1500);
  const e = await l.execute(() => 1).catch((e) => e);
  assert.equal(e.name, "RateLimitedError");
  assert.equal(e.retryAfter, 1500);
  store.fault = undefined;
  await clock.tickAsync(1500);
  await l.take("k"); // the probe
  await clock.tickAsync(0);
  assert.equal((await l.take("k")).allowed, true);
});

test("rateLimiter store: maxWait reserves through the store; an aborted waiter's permit is given back there", async () => {
  const clock = new FakeClock();
  const store = reducerStore(clock);
  const opts = { name: "q", limit: 1, interval: 1000, maxWait: 1000, clock, store } as const;
  const a = rateLimiter(opts);
  const b = rateLimiter(opts);
  assert.equal(await a.execute(() => "a"), "a");
  const controller = new AbortController();
  const waiting = b.execute(() => "b", controller.signal);
  await clock.tickAsync(0);
  assert.equal(b.getStats().waiting, 1);
  controller.abort(new Error("gone"));
  await assert.rejects(waiting, /gone/);
  await clock.tickAsync(0);
  // The slot at 1000 is free again: another instance reserves it.
  const c = a.execute(() => "c");
  await clock.tickAsync(1000);
  assert.equal(await c, "c");
  assert.equal(clock.pending, 0);
});

test("rateLimitReducer: malformed operations throw; unreadable entries are repaired (and say so); future-dated state is bounded", () => {
  const config = { algorithm: "fixed-window" as const, limit: 2, interval: 1000 };
  const op = { type: "rate" as const, request: { cost: 1 }, config };
  for (
    const bad of [
      null,
      { ...op, type: "breaker" },
      { ...op, config: { ...config, limit: 0 } },
      { ...op, config: { ...config, algorithm: "x" } },
      { ...op, config: { ...config, burst: 2 } },
      { ...op, request: { cost: 3 } },
      { ...op, request: { cost: 1, maxWait: 2000 } },
      { ...op, request: { cost: 1, peek: "yes" } },
    ]
  ) {
    assert.throws(
      () => rateLimitReducer(undefined, bad as never, 0),
      TypeError,
      JSON.stringify(bad),
    );
  }
  for (
    const raw of ["{", 42, { kind: "fw", start: 5, count: 1 }, { kind: "tb", at: 0, level: 1 }]
  ) {
    const r = rateLimitReducer(raw, op, 10_000);
    assert.equal(r.answer.allowed, true);
    assert.equal(r.answer.repaired, "malformed rate limit state");
    assert.equal(r.write, true);
    assert.deepEqual(r.value, { kind: "fw", start: 10_000, count: 1 });
  }
  // A peek of a repaired entry writes the repair (a fresh state: deleted).
  const peek = rateLimitReducer("{", { ...op, request: { cost: 1, peek: true } }, 0);
  assert.deepEqual([peek.write, peek.value], [true, undefined]);
  // A window dated far ahead (skew, corruption) is brought back to now: it cannot block for long.
  const future = rateLimitReducer({ kind: "fw", start: 1e12, count: 2 }, op, 10_000);
  assert.equal(future.answer.allowed, false);
  assert.equal(future.answer.retryAfter, 1000);
  const tb = { algorithm: "token-bucket" as const, limit: 1, interval: 1000 };
  const r = rateLimitReducer({ kind: "tb", at: 1e12, level: -1e12 }, { ...op, config: tb }, 0);
  assert.equal(r.answer.allowed, false);
  assert.ok(r.answer.retryAfter <= 1000 + 1000 + 5000, `bounded: ${r.answer.retryAfter}`);
  assert.equal(readStoredLimit(undefined, tb).state, undefined);
  // A denied take and a peek write nothing.
  const full = { kind: "fw", start: 0, count: 2 };
  assert.equal(rateLimitReducer(full, op, 10).write, false);
  assert.equal(
    rateLimitReducer(full, { ...op, request: { cost: 1, peek: true } }, 10).write,
    false,
  );
});

test("rateLimiter store: a denial is remembered until its retryAfter — a blocked client costs no round trip", async () => {
  const clock = new FakeClock();
  const store = reducerStore(clock);
  const l = rateLimiter({ limit: 2, interval: 1000, algorithm: "fixed-window", clock, store });
  const other = rateLimiter({ limit: 2, interval: 1000, algorithm: "fixed-window", clock, store });
  await l.take("k");
  await l.take("k");
  const denied = await l.take("k");
  assert.deepEqual(denied, {
    allowed: false,
    limit: 2,
    remaining: 0,
    resetAfter: 1000,
    retryAfter: 1000,
  });
  const calls = store.calls;
  await clock.tickAsync(400);
  for (let i = 0; i < 1000; i++) {
    const a = await l.take("k");
    assert.equal(a.allowed, false);
    assert.equal(a.retryAfter, 600);
    assert.equal(a.resetAfter, 600);
  }
  assert.equal(store.calls, calls, "1,000 denied takes, no store command");
  // The policy's own limit is another key, a peek must see the store: both ask it.
  assert.equal(await l.execute(() => 1), 1);
  await l.peek("k");
  await l.take("other-key");
  assert.equal(store.calls, calls + 3);
  // Once the time has come, the store is asked again (and answers: a new window).
  await clock.tickAsync(600);
  assert.equal((await l.take("k")).allowed, true);
  assert.equal(store.calls, calls + 4);
  // The other instance never saw the denial: it asks the store.
  assert.equal((await other.take("k")).allowed, true);
  assert.equal(store.calls, calls + 5);
});

test("rateLimiter store: a cached denial does not refuse a reservation that fits maxWait", async () => {
  const clock = new FakeClock();
  const store = reducerStore(clock);
  const opts = { limit: 1, interval: 1000, maxWait: 500, clock, store } as const;
  const l = rateLimiter(opts);
  await l.execute(() => 1); // the permit of this second
  const refused = await l.execute(() => 2).catch((e) => e); // 1000 > 500: refused, cached
  assert.equal(refused.retryAfter, 1000);
  const calls = store.calls;
  await clock.tickAsync(400);
  await assert.rejects(l.execute(() => 3), (e: { retryAfter?: number }) => e.retryAfter === 600);
  assert.equal(store.calls, calls, "600 > maxWait: refused from the cache");
  await clock.tickAsync(200);
  const waiting = l.execute(() => 4); // 400 <= maxWait: the store reserves it
  await clock.tickAsync(0);
  assert.equal(store.calls, calls + 1);
  assert.equal(l.getStats().waiting, 1);
  await clock.tickAsync(400);
  assert.equal(await waiting, 4);
});

test("rateLimiter store: a key the store cannot hold is the caller's RangeError, not an outage", async () => {
  const clock = new FakeClock();
  const store = reducerStore(clock);
  const events: unknown[] = [];
  const l = rateLimiter({
    limit: 2,
    interval: 1000,
    clock,
    store,
    onStoreStatus: (e) => events.push(e),
  });
  await assert.rejects(
    l.take("x".repeat(100)),
    /rateLimiter: key cannot be a key of this store: RangeError: key too long/,
  );
  assert.equal(store.calls, 0);
  assert.deepEqual(events, []);
  assert.equal((await l.take("short")).allowed, true, "the store is still in use");
  assert.equal(store.calls, 1);
});

test("rateLimiter store: storeOptions.lease — about one round trip per `lease` takes; the limit still holds within a window", async () => {
  const clock = new FakeClock();
  const store = reducerStore(clock);
  const instances = [0, 1, 2].map(() =>
    rateLimiter({
      name: "api",
      limit: 100,
      interval: 60_000,
      algorithm: "fixed-window",
      clock,
      store,
      storeOptions: { lease: 5, leaseTtl: 60_000 },
    })
  );
  let admitted = 0;
  for (let i = 0; i < 1000; i++) if ((await instances[i % 3].take("alice")).allowed) admitted++;
  assert.equal(admitted, 100, "one window: every leased permit was granted by the store within it");
  assert.ok(store.calls <= 100 / 5 + 3 + 3, `${store.calls} store commands for 1,000 takes`);
  // A reset forgets this instance's lease; reservations (maxWait) never lease.
  await instances[0].reset("alice");
  const before = store.calls;
  await instances[0].take("alice");
  assert.equal(store.calls, before + 1);
});

test("rateLimiter store: leases expire after leaseTtl (their permits stay taken)", async () => {
  const clock = new FakeClock();
  const store = reducerStore(clock);
  const l = rateLimiter({
    limit: 10,
    interval: 1000,
    algorithm: "fixed-window",
    clock,
    store,
    storeOptions: { lease: 4, leaseTtl: 100 },
  });
  assert.deepEqual(await l.take("k"), {
    allowed: true,
    limit: 10,
    remaining: 9,
    resetAfter: 1000,
    retryAfter: 0,
  });
  assert.equal(store.calls, 1);
  assert.equal((await l.take("k")).remaining, 8);
  assert.equal(store.calls, 1, "from the lease");
  await clock.tickAsync(100);
  assert.equal((await l.take("k")).allowed, true);
  assert.equal(store.calls, 2, "the lease expired: the store again");
  // 4 + 4 taken from the store: 2 are left there.
  const peek = await l.peek("k");
  assert.equal(peek.remaining, 2);
});

test("rateLimiter store: lease options are checked", () => {
  const store = reducerStore(new FakeClock());
  const base = { limit: 10, interval: 1000, store };
  assert.throws(() => rateLimiter({ ...base, storeOptions: { lease: 0 } }), /storeOptions.lease/);
  assert.throws(
    () => rateLimiter({ ...base, storeOptions: { lease: 11 } }),
    /storeOptions.lease.*<= 10/,
  );
  assert.throws(() => rateLimiter({ ...base, storeOptions: { lease: 1.5 } }), /storeOptions.lease/);
  assert.throws(
    () => rateLimiter({ ...base, storeOptions: { leaseTtl: 0 } }),
    /storeOptions.leaseTtl/,
  );
  assert.throws(
    () => rateLimiter({ ...base, storeOptions: { leaseTtl: 1001 } }),
    /storeOptions.leaseTtl/,
  );
  assert.throws(
    () => rateLimiter({ ...base, storeOptions: { leas: 2 } as never }),
    /did you mean 'lease'/,
  );
});

test("rateLimiter store: with leases, any interval admits at most limit + isolates × (lease − 1) beyond the algorithm's own bound", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("token-bucket", "sliding-window", "fixed-window" as const),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 10, max: 1000 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.array(fc.tuple(fc.nat(2), fc.integer({ min: 0, max: 400 })), { maxLength: 80 }),
      async (algorithm, L, I, n, lease0, ttlPermille, steps) => {
        const clock = new FakeClock();
        const store = reducerStore(clock);
        const lease = Math.min(lease0, L);
        const leaseTtl = Math.max(1, Math.floor((I * ttlPermille) / 1000));
        const instances = Array.from({ length: n }, () =>
          rateLimiter({
            limit: L,
            interval: I,
            algorithm,
            clock,
            store,
            storeOptions: { lease, leaseTtl },
          }));
        const used: number[] = [];
        for (const [who, dt] of steps) {
          clock.tick(Math.round((dt * I) / 1000));
          if ((await instances[who % n].take("k")).allowed) used.push(clock.wallNow());
        }
        const extra = n * (lease - 1);
        for (const s of used) {
          const inSpan = used.filter((t) => t >= s && t < s + I).length;
          if (algorithm === "token-bucket") assert.ok(inSpan < L + L + extra, `span ${inSpan}`);
          else if (algorithm === "sliding-window") {
            assert.ok(inSpan < 2 * L + extra, `span ${inSpan}`);
          } else assert.ok(inSpan <= 2 * L + extra, `span ${inSpan}`);
          const g = Math.floor(s / I) * I;
          const inGrid = used.filter((t) => t >= g && t < g + I).length;
          if (algorithm !== "token-bucket") assert.ok(inGrid <= L + extra, `grid ${inGrid}`);
        }
      },
    ),
    { numRuns: Math.ceil(FC_RUNS / 4) },
  );
});

test("readStoredLimit and boundLimitState: every malformed field is repaired; bounds are exact", () => {
  const tb = { algorithm: "token-bucket" as const, limit: 2, interval: 1000 };
  const fw = { algorithm: "fixed-window" as const, limit: 2, interval: 1000 };
  const sw = { algorithm: "sliding-window" as const, limit: 2, interval: 1000 };
  const bad: [unknown, typeof tb | typeof fw | typeof sw][] = [
    [{ kind: "tb", at: -1, level: 0 }, tb],
    [{ kind: "tb", at: 0, level: NaN }, tb],
    [{ kind: "tb", at: 0, level: Infinity }, tb],
    [{ kind: "tb", at: "0", level: 0 }, tb],
    [{ kind: "fw", start: 0, count: 0 }, tb],
    [{ kind: "fw", start: 500, count: 1 }, fw],
    [{ kind: "fw", start: 0, count: -1 }, fw],
    [{ kind: "fw", start: 0, count: 1.5 }, fw],
    [{ kind: "fw", start: -1000, count: 1 }, fw],
    [{ kind: "sw", start: 0, count: 1 }, sw],
    [{ kind: "sw", start: 0, count: 1, previous: -1 }, sw],
    [{ kind: "fw", start: 0, count: 1, previous: 0 }, sw],
    [[], fw],
    ["x", fw],
  ];
  for (const [raw, config] of bad) {
    assert.deepEqual(readStoredLimit(raw, config), {
      state: undefined,
      repaired: "malformed rate limit state",
    }, JSON.stringify(raw));
  }
  assert.deepEqual(readStoredLimit({ kind: "sw", start: 0, count: 1, previous: 2, x: 1 }, sw), {
    state: { kind: "sw", start: 0, count: 1, previous: 2 },
  });
  assert.deepEqual(readStoredLimit(null, sw), { state: undefined });
  // The bucket's level: within [−limit, burst] tokens; its time at most interval + skew ahead.
  assert.deepEqual(boundLimitState({ kind: "tb", at: 0, level: -1e9 }, tb, 0), {
    kind: "tb",
    at: 0,
    level: -2000,
  });
  assert.deepEqual(boundLimitState({ kind: "tb", at: 0, level: 1e9 }, tb, 0), {
    kind: "tb",
    at: 0,
    level: 2000,
  });
  const at = (s: LimitState) => (s.kind === "tb" ? s.at : NaN);
  const start = (s: LimitState) => (s.kind === "tb" ? NaN : s.start);
  assert.equal(at(boundLimitState({ kind: "tb", at: 1e9, level: 0 }, tb, 10_000)), 12_000);
  assert.equal(at(boundLimitState({ kind: "tb", at: 11_999, level: 0 }, tb, 10_000)), 11_999);
  // A window: at most one interval past the grid window of now + skew.
  assert.equal(start(boundLimitState({ kind: "fw", start: 12_000, count: 2 }, fw, 10_000)), 12_000);
  assert.equal(start(boundLimitState({ kind: "fw", start: 13_000, count: 2 }, fw, 10_000)), 10_000);
  assert.equal(rateLimitSkew(60_000), 5000);
  assert.equal(rateLimitSkew(300), 300);
});
