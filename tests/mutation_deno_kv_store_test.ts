// What mutation testing of src/deno_kv/store.ts found untested: the key
// limit as Deno KV itself counts it (every key part type), which errors are
// contention (retried) and which are not, a lost compare-and-set's retries
// and message, what an operation writes (nothing for a read), and the
// options' checks. Runs on Deno (Deno.openKv).
import assert from "node:assert/strict";
import { clearCircuitBreakers, type StoreOp } from "../mod.ts";
import { type DenoKvLike, denoKvStore, type KvKey } from "../src/deno_kv/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

interface Kv extends DenoKvLike {
  close(): void;
}
const openKv = (path: string): Promise<Kv> =>
  (globalThis as unknown as { Deno: { openKv(p: string): Promise<Kv> } }).Deno.openKv(path);
const DENO = { runtimes: ["deno" as const], why: "Deno KV (Deno.openKv)" };

const CONFIG = { failureThreshold: 3, resetTimeout: 1000, halfOpenMaxCalls: 1 };
const sync = (config: Record<string, unknown> = CONFIG): StoreOp => ({
  type: "circuit",
  action: "sync",
  outcomes: [],
  config: config as typeof CONFIG,
});
const failure = (): StoreOp => ({
  type: "circuit",
  action: "sync",
  outcomes: [{ ok: false, generation: 0, at: 0 }],
  config: CONFIG,
});

/** Whether real Deno KV takes `key`. */
async function kvTakes(kv: Kv, key: KvKey): Promise<boolean> {
  try {
    return (await kv.atomic().set(key, 1).commit()).ok;
  } catch {
    return false;
  }
}

/** The longest name of `unit` repeated that `denoKvStore(kv, { prefix })` accepts. */
function longest(prefix: KvKey, unit: string): number {
  const store = denoKvStore({ get() {}, atomic() {} } as never, { prefix });
  let n = 0;
  for (;;) {
    try {
      store.checkKey!(unit.repeat(n + 1));
    } catch (e) {
      assert.ok(e instanceof RangeError, String(e));
      assert.match(String(e), /does not fit Deno KV's 2048-byte key limit/);
      return n;
    }
    n++;
  }
}

test(
  "denoKvStore: a key is refused exactly when Deno KV itself would refuse it, for every key part type",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const prefixes: KvKey[] = [
        ["edge-resilience"],
        ["p".repeat(1000), 7, true, false],
        [123n, -0xabcdn, -45_678_901_234n, "a\0b"],
        [new Uint8Array([0, 1, 0, 2, 3]), 1.5],
      ];
      for (const prefix of prefixes) {
        for (const unit of ["x", "\0", "é"]) {
          const n = longest(prefix, unit);
          const label = `${String(prefix.map(String)).slice(0, 40)} / ${JSON.stringify(unit)}`;
          assert.ok(n > 0, label);
          assert.equal(await kvTakes(kv, [...prefix, unit.repeat(n)]), true, `${label}: ${n} fits`);
          if (unit === "x") {
            // One byte more per bigint part than Deno KV writes for one that fits 64 bits.
            const exact = n + prefix.filter((p) => typeof p === "bigint").length;
            assert.equal(await kvTakes(kv, [...prefix, unit.repeat(exact)]), true, label);
            assert.equal(await kvTakes(kv, [...prefix, unit.repeat(exact + 1)]), false, label);
          }
          // Exact, except that a bigint part is counted one byte long (Deno KV writes one that
          // fits 64 bits with a one-byte tag, not two): the store errs on the side of refusing.
          const slack = prefix.filter((p) => typeof p === "bigint").length;
          const over = unit.repeat(
            n + 1 + Math.ceil(slack / new TextEncoder().encode(unit).length),
          );
          assert.equal(await kvTakes(kv, [...prefix, over]), false, label);
        }
      }
    } finally {
      kv.close();
    }
  },
  DENO,
);

test("denoKvStore: a prefix must leave room for a key; the error names the option", () => {
  const kv = { get() {}, atomic() {} } as never;
  // A string part costs 2 + its bytes: 2048 − 2043 − 2 = 3 bytes left, the least allowed.
  const tight = denoKvStore(kv, { prefix: ["p".repeat(2043)] });
  tight.checkKey!("a");
  assert.throws(() => tight.checkKey!("ab"), RangeError);
  assert.throws(
    () => denoKvStore(kv, { prefix: ["p".repeat(2044)] }),
    (e) =>
      e instanceof RangeError &&
      e.message ===
        `denoKvStore: option 'prefix' leaves no room in Deno KV's 2048-byte key limit`,
  );
  for (const bad of ["", 5, undefined]) {
    assert.throws(
      () => tight.checkKey!(bad as string),
      (e) =>
        e instanceof TypeError &&
        e.message === "denoKvStore: the breaker's store key must be a non-empty string",
    );
  }
  assert.throws(
    () => denoKvStore(kv, { prefix: "edge" as never }),
    (e) =>
      e instanceof TypeError &&
      e.message === "denoKvStore: option 'prefix' must be a KV key (array)",
  );
});

test("denoKvStore: options are checked and named", () => {
  const kv = { get() {}, atomic() {} } as never;
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ expireIn: 999 }, /option 'expireIn'/],
    [{ expireIn: 365 * 86_400_000 + 1 }, /option 'expireIn'/],
    [{ maxAttempts: 0 }, /option 'maxAttempts'/],
    [{ maxAttempts: 1.5 }, /option 'maxAttempts'/],
    [{ maxAttempts: 10_001 }, /option 'maxAttempts'/],
    [{ clock: 5 }, /option 'clock' must be an object/],
    [{ random: 5 }, /option 'random' must be a function/],
    [{ maxAtempts: 3 }, /maxAttempts/],
  ];
  for (const [o, re] of bad) assert.throws(() => denoKvStore(kv, o), re, JSON.stringify(o));
  assert.throws(() => denoKvStore(kv, null as never), /option 'options'/);
  for (const k of [null, {}, { get() {} }, { atomic() {} }]) {
    assert.throws(
      () => denoKvStore(k as never),
      (e) =>
        e instanceof TypeError &&
        e.message === "denoKvStore: expected a Deno KV database (from openKv)",
    );
  }
  // The bounds themselves are accepted.
  denoKvStore(kv, { expireIn: 1000, maxAttempts: 1 });
  denoKvStore(kv, { expireIn: 365 * 86_400_000, maxAttempts: 10_000 });
});

/** A database over real Deno KV whose reads can throw and whose commits can be lost. */
function wrapped(kv: Kv, fault: { read?: () => unknown; lose?: boolean }) {
  const log = { gets: 0, commits: 0, sets: [] as { key: KvKey; expireIn?: number }[] };
  const db: DenoKvLike = {
    async get(key) {
      log.gets++;
      if (fault.read) throw fault.read();
      return await kv.get(key);
    },
    atomic() {
      const op = kv.atomic();
      const w = {
        check: (...c: { key: KvKey; versionstamp: string | null }[]) => (op.check(...c), w),
        set: (k: KvKey, v: unknown, o?: { expireIn?: number }) => {
          log.sets.push({ key: k, expireIn: o?.expireIn });
          op.set(k, v, o);
          return w;
        },
        commit: async () => {
          log.commits++;
          return fault.lose ? { ok: false } : await op.commit();
        },
      };
      return w as unknown as ReturnType<DenoKvLike["atomic"]>;
    },
  };
  return { db, log };
}

test(
  "denoKvStore: every SQLite lock message is contention (retried); other errors fail at once",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const locks: unknown[] = [
        new TypeError("database is locked"),
        new Error("Database Table Is Locked"),
        new Error("SQLITE_BUSY: busy"),
        new Error("sqlite_locked"),
        "database is locked", // a thrown string
      ];
      for (const lock of locks) {
        let n = 0;
        const fault = { read: () => (n++ < 2 ? lock : undefined) };
        const { db, log } = wrapped(kv, {});
        const store = denoKvStore(
          { ...db, get: (k) => (fault.read() ? Promise.reject(lock) : db.get(k)) } as DenoKvLike,
          { random: () => 0 },
        );
        const answer = await store.run!("k", sync());
        assert.equal((answer as { state: string }).state, "closed", String(lock));
        assert.equal(n, 3, `${String(lock)}: retried twice`);
        assert.equal(log.commits, 0);
      }
      for (const other of [new Error("disk on fire"), new Error("locked out"), null]) {
        const { db, log } = wrapped(kv, { read: () => other });
        const store = denoKvStore(db, { random: () => 0 });
        await assert.rejects(store.run!("k", sync()), (e) => e === other);
        assert.equal(log.gets, 1, `${String(other)}: not retried`);
      }
    } finally {
      kv.close();
    }
  },
  DENO,
);

test(
  "denoKvStore: lost compare-and-sets are retried maxAttempts times, then fail naming the conflict",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const { db, log } = wrapped(kv, { lose: true });
      const store = denoKvStore(db, { random: () => 0, maxAttempts: 4 });
      const e = await store.run!("k", failure()).then(() => undefined, (x: Error) => x);
      assert.equal(
        String(e),
        "Error: denoKvStore: gave up after 4 attempts under contention (conflicting writes)",
      );
      assert.equal(e?.cause, "conflicting writes");
      assert.equal(log.commits, 4);
      // The first attempt that wins answers.
      let lost = 2;
      const w2 = wrapped(kv, {});
      const flaky: DenoKvLike = {
        get: w2.db.get,
        atomic() {
          const a = w2.db.atomic();
          const commit = a.commit.bind(a);
          a.commit = () => (lost-- > 0 ? Promise.resolve({ ok: false }) : commit());
          return a;
        },
      };
      const answer = await denoKvStore(flaky, { random: () => 0 }).run!("k", failure());
      assert.equal((answer as { failures: number }).failures, 1);
      assert.equal(w2.log.gets, 3, "read again before each retry");
    } finally {
      kv.close();
    }
  },
  DENO,
);

test(
  "denoKvStore: a read writes nothing; a change is written under the prefix with expireIn, checked against its versionstamp",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const { db, log } = wrapped(kv, {});
      const store = denoKvStore(db, { prefix: ["app", 1], expireIn: 60_000 });
      await store.run!("cb:x", sync());
      assert.equal(log.commits, 0, "nothing stored, nothing changed");
      await store.run!("cb:x", failure());
      assert.deepEqual(log.sets, [{ key: ["app", 1, "cb:x"], expireIn: 60_000 }]);
      const stored = (await kv.get(["app", 1, "cb:x"])).value as { failures: number };
      assert.equal(stored.failures, 1);
      // A write that raced another: the versionstamp check loses, the retry counts both.
      const stale = await kv.get(["app", 1, "cb:x"]);
      let raced = false;
      const racing: DenoKvLike = {
        async get<T>(k: KvKey) {
          const e = await kv.get<T>(k);
          if (!raced) {
            raced = true;
            await kv.atomic().set(k, { ...(stale.value as object), failures: 2 }).commit();
          }
          return e;
        },
        atomic: () => kv.atomic(),
      };
      await denoKvStore(racing, { prefix: ["app", 1], random: () => 0 }).run!("cb:x", failure());
      assert.equal(((await kv.get(["app", 1, "cb:x"])).value as { failures: number }).failures, 3);
      clearCircuitBreakers();
    } finally {
      kv.close();
    }
  },
  DENO,
);

test("denoKvStore: retries stop within 90% of the breaker's timeout, 450 ms without one", async () => {
  const clock = new FakeClock();
  const locked: DenoKvLike = {
    get: () => Promise.reject(new TypeError("database is locked")),
    atomic: () => {
      throw new Error("unused");
    },
  };
  const store = denoKvStore(locked, { clock, random: () => 1 - 1e-9 });
  for (
    const [config, limit] of [
      [{ ...CONFIG, timeout: 200 }, 180],
      [CONFIG, 450],
      [{ ...CONFIG, timeout: 0 }, 450],
      [{ ...CONFIG, timeout: "1000" }, 450],
    ] as const
  ) {
    const t0 = clock.now();
    let done = false;
    const p = store.run!("k", sync(config)).catch((e) => e).finally(() => (done = true));
    while (!done) await clock.tickAsync(10);
    const e = await p;
    assert.match(String(e), /gave up after \d+ attempts under contention/);
    const spent = clock.now() - t0;
    assert.ok(spent <= limit + 10 && spent > limit - 60, `${JSON.stringify(config)}: ${spent} ms`);
  }
});

test("denoKvStore: a retry that would start at the end of the retry budget is not made", async () => {
  const clock = new FakeClock();
  let tries = 0;
  const locked: DenoKvLike = {
    get: () => (tries++, Promise.reject(new TypeError("database is locked"))),
    atomic: () => {
      throw new Error("unused");
    },
  };
  // Timeout 10 ms: a budget of 9. Waits 1, 2, 4 (at 7 ms), then 2: the fifth try would start at 9.
  const r = [0.5, 0.5, 0.5, 0.125, 0.5, 0.5];
  const store = denoKvStore(locked, { clock, random: () => r.shift() ?? 0.5 });
  let done = false;
  const p = store.run!("k", sync({ ...CONFIG, timeout: 10 })).catch((e) => e).finally(() =>
    done = true
  );
  while (!done) await clock.tickAsync(1);
  assert.match(String(await p), /gave up after 4 attempts under contention/);
  assert.equal(tries, 4);
  assert.equal(clock.now(), 7);
});

test(
  "denoKvStore: a malformed operation is a rejected promise (never a synchronous throw), and writes nothing",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const { db, log } = wrapped(kv, {});
      const store = denoKvStore(db);
      for (const op of [undefined, null, {}, { type: "circuit" }, { type: "nope", config: null }]) {
        let p: Promise<unknown> | undefined;
        assert.doesNotThrow(() => (p = store.run!("k", op as never)), JSON.stringify(op));
        await assert.rejects(p!, TypeError, JSON.stringify(op));
      }
      assert.equal(log.commits, 0);
    } finally {
      kv.close();
    }
  },
  DENO,
);
