// Deno KV store on real Deno KV: `:memory:` and a SQLite file that survives
// reopening. Runs on Deno (Deno.openKv).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { circuitBreaker, CircuitOpenError, clearCircuitBreakers } from "../mod.ts";
import { type DenoKvLike, denoKvStore } from "../src/deno_kv/mod.ts";
import { silent, test } from "./_harness.ts";
import { FaultyStore } from "./_stores.ts";

interface Kv extends DenoKvLike {
  close(): void;
}
const openKv = (path: string): Promise<Kv> =>
  (globalThis as unknown as { Deno: { openKv(p: string): Promise<Kv> } }).Deno.openKv(path);

const boom = () => Promise.reject(new Error("boom"));
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
      const bs = fleet(4, kv, { failureThreshold: 1, storeOptions: { timeout: 10_000 } });
      await assert.rejects(bs[0].execute(boom));
      for (const b of bs) await b.flush();
      await new Promise((r) => setTimeout(r, 120));
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
      assert.ok(admitted >= 1 && admitted <= 2, `admitted ${admitted}`);
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

test("Deno KV: faulted store calls never fail the user's call", async () => {
  const kv = await openKv(":memory:");
  try {
    clearCircuitBreakers();
    const faulty = new FaultyStore(denoKvStore(kv), 10);
    const b = circuitBreaker({
      name: "faulty",
      store: faulty,
      logger: silent,
      failureThreshold: 1_000_000,
      storeOptions: { timeout: 20, retryInterval: 0, refreshInterval: 0, batchSize: 1 },
    });
    const own = new Error("mine");
    for (const fault of ["throw", "corrupt", "slow", "reject-sync"] as const) {
      faulty.fault = fault;
      const results = await Promise.all(
        Array.from(
          { length: 250 },
          (_, i) => b.execute(() => (i % 2 ? i : Promise.reject(own))).then((v) => v, (e) => e),
        ),
      );
      results.forEach((r, i) => assert.equal(r, i % 2 ? i : own, `${fault} #${i}`));
    }
    faulty.heal();
    await b.flush();
  } finally {
    kv.close();
  }
}, DENO);

test("denoKvStore validates its arguments", () => {
  assert.throws(() => denoKvStore({} as never), TypeError);
  assert.throws(
    () => denoKvStore({ get() {}, atomic() {} } as never, { expireIn: 0 }),
    RangeError,
  );
});
