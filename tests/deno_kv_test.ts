// Deno KV store on real Deno KV: `:memory:` and a SQLite file that survives
// reopening. Runs on Deno (Deno.openKv).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  initialSharedState,
  skewAllowance,
} from "../mod.ts";
import { type DenoKvLike, denoKvStore, type KvKey } from "../src/deno_kv/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FaultyStore } from "./_stores.ts";
import { startChildren } from "./_children.ts";

interface Kv extends DenoKvLike {
  close(): void;
}
const openKv = (path: string): Promise<Kv> =>
  (globalThis as unknown as { Deno: { openKv(p: string): Promise<Kv> } }).Deno.openKv(path);

const boom = () => Promise.reject(new Error("boom"));
const CFG = { failureThreshold: 3, resetTimeout: 1000, halfOpenMaxCalls: 2 };
const DENO = { runtimes: ["deno" as const], why: "Deno KV (Deno.openKv)" };

function fleet(n: number, kv: DenoKvLike, opts: Record<string, unknown> = {}) {
  clearCircuitBreakers();
  const store = denoKvStore(kv);
  return Array.from({ length: n }, (_, i) =>
    circuitBreaker({
      name: `i${i}`,
      storeKey: "upstream",
      store,
      logger: silent,
      failureThreshold: 3,
      resetTimeout: 100,
      halfOpenMaxCalls: 2,
      ...opts,
    }));
}

test(
  "Deno KV (:memory:): threshold in total across instances; every instance then fails fast",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const bs = fleet(3, kv);
      for (const b of bs) {
        await assert.rejects(b.execute(boom), /boom/);
        await b.flush();
      }
      for (const b of bs) await b.flush();
      let ran = 0;
      for (const b of bs) await assert.rejects(b.execute(() => ran++), CircuitOpenError);
      assert.equal(ran, 0);
    } finally {
      kv.close();
    }
  },
  DENO,
);

test(
  "Deno KV (:memory:): 200 concurrent half-open calls admit at most halfOpenMaxCalls probes",
  async () => {
    const kv = await openKv(":memory:");
    try {
      // A generous store timeout: this test is about permits, not about a slow machine.
      // A permit lasts resetTimeout at most: 1 s, so that a loaded machine stalling a 20 ms
      // trial cannot expire its permit (another instance would then get one, by design).
      const bs = fleet(4, kv, {
        failureThreshold: 1,
        resetTimeout: 1_000,
        storeOptions: { timeout: 10_000 },
      });
      await assert.rejects(bs[0].execute(boom));
      for (const b of bs) await b.flush();
      await new Promise((r) => setTimeout(r, 1_020));
      let admitted = 0;
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          bs[i % 4].execute(async () => {
            admitted++;
            await new Promise((r) => setTimeout(r, 20));
          }).then(() => "ok", (e) => (e instanceof CircuitOpenError ? "rejected" : String(e)))),
      );
      for (const b of bs) {
        await b.flush();
      }
      // At most halfOpenMaxCalls trials; besides them, an instance whose first call reaches the
      // store only after the trials closed the circuit runs that one call as a CLOSED call (its
      // queued callers are refused): at most one per other instance (docs/shared-state.md).
      assert.ok(admitted >= 1 && admitted <= 2 + 3, `admitted ${admitted}`);
      assert.equal(results.filter((r) => r === "rejected").length, 200 - admitted);
    } finally {
      kv.close();
    }
  },
  DENO,
);

test("Deno KV (file): an open circuit survives closing and reopening the database", async () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-kv-"));
  const path = join(dir, "circuits.sqlite");
  try {
    let kv = await openKv(path);
    const [a] = fleet(1, kv, { failureThreshold: 1, resetTimeout: 600_000 });
    await assert.rejects(a.execute(boom));
    await a.flush();
    kv.close();
    kv = await openKv(path);
    try {
      const [b] = fleet(1, kv, { resetTimeout: 600_000 });
      let ran = false;
      await assert.rejects(b.execute(() => (ran = true)), CircuitOpenError);
      assert.equal(ran, false);
    } finally {
      kv.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, DENO);

test(
  "Deno KV: faulted store calls never fail the user's call (1,000 calls per fault; said once per outage)",
  async () => {
    const kv = await openKv(":memory:");
    try {
      clearCircuitBreakers();
      const faulty = new FaultyStore(denoKvStore(kv), 100); // "slow": past the 20 ms timeout
      const log = recordingLogger();
      const statuses: boolean[] = [];
      const b = circuitBreaker({
        name: "faulty",
        store: faulty,
        logger: log,
        onStoreStatus: (e) => statuses.push(e.available),
        failureThreshold: 1_000_000,
        storeOptions: { timeout: 20, retryInterval: 100, refreshInterval: 0, batchSize: 1 },
      });
      assert.equal(await b.execute(() => 0), 0);
      await b.flush();
      const own = new Error("mine");
      const faults = ["throw", "corrupt", "slow", "reject-sync", "lock", "hang"] as const;
      for (const fault of faults) {
        faulty.fault = fault;
        const results = await Promise.all(
          Array.from(
            { length: 1000 },
            (_, i) => b.execute(() => (i % 2 ? i : Promise.reject(own))).then((v) => v, (e) => e),
          ),
        );
        results.forEach((r, i) => assert.equal(r, i % 2 ? i : own, `${fault} #${i}`));
        await b.flush();
        assert.equal(b.getStats().storeAvailable, false, fault);
        faulty.heal(); // it recovers by itself, at the next retry (every 100 ms)
        for (let i = 0; i < 20 && !b.getStats().storeAvailable; i++) {
          await new Promise((r) => setTimeout(r, 30));
          await b.execute(() => 1);
          await b.flush();
        }
        assert.equal(b.getStats().storeAvailable, true, `${fault} recovers`);
      }
      const outages = log.lines.filter((l) => l.includes("state store unavailable"));
      assert.equal(outages.length, faults.length, outages.join("\n"));
      assert.deepEqual(statuses, faults.flatMap(() => [false, true]));
    } finally {
      kv.close();
    }
  },
  DENO,
);

test(
  "Deno KV (file, 3 processes): contention is not an outage; probes across processes stay within halfOpenMaxCalls",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "edge-resilience-kv-procs-"));
    const path = join(dir, "circuits.sqlite");
    // A trial holds its permit for resetTimeout at most: a process stalled longer than that (a
    // loaded CI machine) between its permit and its upstream call would start a trial whose
    // permit already expired. 1 s keeps such stalls out of a test of contention.
    const RESET = 1000;
    const RUN_FOR = 3500;
    try {
      // Three processes, each with its own connection to the file.
      const children = await startChildren(
        new URL("./_deno_kv_child.ts", import.meta.url),
        3,
        [path, String(RUN_FOR), String(RESET)],
      );
      // Open the shared circuit (a fourth connection), then let the processes go.
      const kv = await openKv(path);
      try {
        const [opener] = fleet(1, kv, {
          storeKey: "shared-probe",
          failureThreshold: 1,
          resetTimeout: RESET,
        });
        await assert.rejects(opener.execute(boom));
        await opener.flush();
        assert.equal(opener.state, "open");
      } finally {
        kv.close();
      }
      await children.go();
      const results = await children.results<{
        probes: number[];
        unavailable: string[];
        warnings: string[];
      }>();
      // Lock contention never counted as a store outage.
      for (const r of results) assert.deepEqual(r.unavailable, [], r.warnings.join("\n"));
      // Upstream calls (all of them half-open probes) across the three processes: a trial
      // period admits at most halfOpenMaxCalls; the next one starts resetTimeout after the
      // failed probe reopened the circuit. So no window shorter than resetTimeout holds more.
      const all = results.flatMap((r) => r.probes).sort((a, b) => a - b);
      const perProcess = results.map((r) => r.probes.length);
      assert.ok(all.length >= 2, `probes per process: ${perProcess}`);
      const WINDOW = RESET - 50;
      for (let i = 0; i < all.length; i++) {
        const inWindow = all.filter((t) => t >= all[i] && t < all[i] + WINDOW).length;
        assert.ok(
          inWindow <= 2,
          `${inWindow} probes within ${WINDOW} ms (per process: ${perProcess}; at ${
            all.map((t) => t - all[0])
          })`,
        );
      }
      // At most one trial period per resetTimeout (plus the first).
      assert.ok(all.length <= 2 * (Math.floor(RUN_FOR / RESET) + 1), `${all.length} probes`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  DENO,
);

test(
  "Deno KV: 'database is locked' and lost compare-and-sets are retried, not an outage (1,000 calls)",
  async () => {
    const kv = await openKv(":memory:");
    try {
      // Half of reads and commits fail as SQLite's do when another process holds the lock.
      let seed = 42;
      let locked = 0;
      const lock = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        if ((seed >>> 16) % 2 === 0) { // a high bit: the low bits of an LCG alternate
          locked++;
          throw new TypeError("database is locked");
        }
      };
      const contended: DenoKvLike = {
        get: (key) => Promise.resolve().then(() => (lock(), kv.get(key))),
        atomic() {
          const op = kv.atomic();
          const wrapped = {
            check: (...c: { key: KvKey; versionstamp: string | null }[]) => (
              op.check(...c), wrapped
            ),
            set: (k: KvKey, v: unknown, o?: { expireIn?: number }) => (op.set(k, v, o), wrapped),
            commit: () => Promise.resolve().then(() => (lock(), op.commit())),
          } as unknown as ReturnType<DenoKvLike["atomic"]>;
          return wrapped;
        },
      };
      clearCircuitBreakers();
      const statuses: boolean[] = [];
      const b = circuitBreaker({
        name: "locked",
        store: denoKvStore(contended),
        logger: silent,
        failureThreshold: 1_000_000,
        onStoreStatus: (e) => statuses.push(e.available),
        storeOptions: { timeout: 5000, refreshInterval: 100, batchSize: 10 },
      });
      const own = new Error("mine");
      for (let chunk = 0; chunk < 10; chunk++) {
        const results = await Promise.all(
          Array.from(
            { length: 100 },
            (_, i) => b.execute(() => (i % 10 ? i : Promise.reject(own))).then((v) => v, (e) => e),
          ),
        );
        results.forEach((r, i) => assert.equal(r, i % 10 ? i : own, `#${chunk * 100 + i}`));
        await b.flush();
      }
      assert.deepEqual(statuses, []); // never "unavailable"
      assert.ok(locked >= 10, `${locked} lock errors`);
      assert.equal(b.getStats().storeAvailable, true);
      assert.equal(b.getStats().failureCount, 0); // the last batch ended with a success
    } finally {
      kv.close();
    }
  },
  DENO,
);

test("Deno KV: a store key too long for Deno KV is refused when the breaker is built", async () => {
  const kv = await openKv(":memory:");
  try {
    clearCircuitBreakers();
    // A long prefix leaves less room than the library's own 512-byte bound on keys:
    // ["p" × 1600] costs 2 + 1600 bytes, a string part 2 + its bytes, the key is "cb:" + name.
    const prefix = ["p".repeat(1600)];
    const store = denoKvStore(kv, { prefix });
    const fits = "x".repeat(2048 - 1602 - 2 - 3);
    const b = circuitBreaker({ name: "long", storeKey: fits, store, logger: silent });
    assert.equal(await b.execute(() => 1), 1);
    await b.flush();
    assert.equal(b.getStats().storeAvailable, true);
    // One byte more, and Deno KV itself refuses the key: the breaker refuses it first.
    const tooLong = [...prefix, "cb:" + fits + "x"];
    await assert.rejects(kv.atomic().set(tooLong, 1).commit());
    await kv.atomic().set([...prefix, "cb:" + fits], 1).commit(); // the limit itself: fine
    assert.throws(
      () => circuitBreaker({ name: "longer", storeKey: fits + "x", store }),
      (e) =>
        e instanceof RangeError && /option 'storeKey'/.test(e.message) &&
        /2048-byte/.test(e.message),
    );
    // Multi-byte characters count in bytes; a name without storeKey is named as 'name'.
    assert.throws(
      () => circuitBreaker({ name: "é".repeat(1011), store }),
      (e) => e instanceof RangeError && /option 'name'/.test(e.message),
    );
    assert.throws(() => denoKvStore(kv, { prefix: ["p".repeat(2046)] }), /'prefix'/);
  } finally {
    kv.close();
  }
}, DENO);

test(
  "Deno KV: a corrupt entry is repaired (logged once); instances are back on the shared circuit",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const key = ["edge-resilience", "cb:upstream"];
      await kv.atomic().set(key, { state: "sideways", generation: -1 }).commit();
      const log = recordingLogger();
      const statuses: boolean[] = [];
      const bs = fleet(3, kv, {
        logger: log,
        onStoreStatus: (e: { available: boolean }) => statuses.push(e.available),
        storeOptions: { refreshInterval: 0 },
      });
      for (const b of bs) {
        await assert.rejects(b.execute(boom), /boom/);
        await b.flush();
      }
      assert.equal(
        log.lines.filter((l) => l.includes("was unreadable")).length,
        1,
        log.lines.join(),
      );
      assert.deepEqual(statuses, []);
      assert.equal(((await kv.get(key)).value as { state: string }).state, "open");
      for (const b of bs) await b.flush();
      for (const b of bs) await assert.rejects(b.execute(() => 1), CircuitOpenError);
    } finally {
      kv.close();
    }
  },
  DENO,
);

test(
  "Deno KV: a future-dated openedAt keeps the circuit OPEN at most resetTimeout + skew allowance",
  async () => {
    const kv = await openKv(":memory:");
    try {
      const key = ["edge-resilience", "cb:upstream"];
      const RESET = 150;
      await kv.atomic().set(key, {
        ...initialSharedState(),
        state: "open",
        generation: 1,
        openedAt: Date.now() + 365 * 86_400_000,
      }).commit();
      const bs = fleet(2, kv, { resetTimeout: RESET, storeOptions: { refreshInterval: 0 } });
      const t0 = Date.now();
      let closedAt = -1;
      const limit = RESET + skewAllowance(RESET);
      for (let i = 0; Date.now() - t0 < 3 * limit; i++) {
        const r = await bs[i % 2].execute(() => i).catch((e) => e);
        if (r instanceof CircuitOpenError) {
          assert.ok(r.timeUntilReset <= limit, `told to wait ${r.timeUntilReset} ms`);
          closedAt = -1;
        } else {
          assert.equal(r, i);
          if (closedAt < 0) closedAt = Date.now() - t0;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      // Slack for this slow shared machine: the store and the test read the clock at other times.
      assert.ok(closedAt >= 0 && closedAt <= limit + 100, `calls ran again after ${closedAt} ms`);
      for (const b of bs) await b.flush();
    } finally {
      kv.close();
    }
  },
  DENO,
);

test("denoKvStore: contention backoff is jittered, growing, capped at 50 ms and stops within 90% of the breaker's timeout (no sleeping)", async () => {
  // Runs anywhere: a stand-in database that is always locked, and a fake clock.
  const clock = new FakeClock();
  let tries = 0;
  const locked: DenoKvLike = {
    get() {
      tries++;
      return Promise.reject(new TypeError("database is locked"));
    },
    atomic: () => {
      throw new Error("unused");
    },
  };
  const waits: number[] = [];
  const realSetTimeout = clock.setTimeout.bind(clock);
  clock.setTimeout = (fn: () => void, ms: number) => (waits.push(ms), realSetTimeout(fn, ms));
  const store = denoKvStore(locked, { clock, random: () => 0.999 });
  const config = { ...CFG, timeout: 500 };
  let error: unknown;
  const op = store.run!("k", { type: "circuit", action: "sync", outcomes: [], config }).catch((
    e,
  ) => (error = e));
  while (error === undefined) await clock.tickAsync(5);
  await op;
  assert.match(
    String(error),
    /gave up after \d+ attempts under contention \(TypeError: database is locked\)/,
  );
  assert.equal((error as Error).cause instanceof TypeError, true);
  assert.equal(tries, waits.length + 1);
  waits.forEach((w, i) => assert.ok(w <= Math.min(50, 2 ** (i + 1)), `wait #${i}: ${w}`));
  assert.deepEqual(waits.slice(0, 5).map(Math.round), [2, 4, 8, 16, 32]);
  const spent = waits.reduce((a, b) => a + b, 0);
  assert.ok(spent <= 450 && spent > 350, `waited ${spent} ms`);
  // maxAttempts bounds it too; anything but contention fails at once.
  tries = 0;
  const few = denoKvStore(locked, { clock, random: () => 0.5, maxAttempts: 3 });
  const e2 = await (async () => {
    const p = few.run!("k", { type: "circuit", action: "sync", outcomes: [], config }).catch((e) =>
      e
    );
    for (let i = 0; i < 20; i++) await clock.tickAsync(5);
    return await p;
  })();
  assert.match(String(e2), /gave up after 3 attempts/);
  assert.equal(tries, 3);
  const broken = denoKvStore({ ...locked, get: () => Promise.reject(new Error("disk on fire")) }, {
    clock,
  });
  await assert.rejects(
    broken.run!("k", { type: "circuit", action: "sync", outcomes: [], config }),
    /disk on fire/,
  );
});

test("denoKvStore validates its arguments", () => {
  assert.throws(() => denoKvStore({} as never), TypeError);
  assert.throws(
    () => denoKvStore({ get() {}, atomic() {} } as never, { expireIn: 0 }),
    RangeError,
  );
});
