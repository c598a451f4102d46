// Durable Object and Workers KV stores inside real workerd (miniflare), with
// real DO (SQLite-backed) and KV bindings; no mock of either.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { test } from "./_harness.ts";
import { bundle } from "./_runtimes.ts";

let script: string | undefined;

async function worker(persist?: string) {
  script ??= await bundle("tests/_cloudflare_fixture.ts", "neutral");
  return new Miniflare({
    modules: true,
    script,
    compatibilityDate: "2025-01-01",
    durableObjects: {
      CIRCUITS: { className: "CircuitBreakerObject", useSQLite: true },
      TEST_CIRCUITS: { className: "TestCircuitObject", useSQLite: true },
    },
    kvNamespaces: ["CIRCUIT_KV"],
    ...(persist ? { durableObjectsPersist: persist } : {}),
  });
}

async function scenario(mf: Miniflare, name: string, key = name) {
  const res = await mf.dispatchFetch(`http://localhost/${name}?key=${key}`);
  const body = await res.json() as Record<string, unknown>;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

test("Durable Object store in workerd: threshold in total, fail fast everywhere, probes bounded, no sync round trips", async () => {
  const mf = await worker();
  try {
    const t = await scenario(mf, "threshold");
    assert.deepEqual(t.statesAfter, ["closed", "closed", "closed", "closed", "open"]);
    assert.deepEqual(t.failFast, [true, true, true, true]);
    assert.equal(t.ran, 0);
    assert.equal(t.failureCount, 5);

    const h = await scenario(mf, "halfopen");
    assert.ok((h.admitted as number) >= 1 && (h.admitted as number) <= 3, `admitted ${h.admitted}`);
    assert.ok((h.maxRunning as number) <= 3);
    assert.equal((h.rejected as number) + (h.admitted as number), 200);
    assert.deepEqual(h.other, []);

    const o = await scenario(mf, "ops");
    assert.equal(o.waitedOnStore, 0);
    // 100 successes in batches of 25, plus the final flush: at most 5 sends (fewer when sends
    // queue behind a slow one: they coalesce).
    assert.ok((o.ops as number) >= 1 && (o.ops as number) <= 5, `${o.ops} sends`);
    assert.equal(o.outcomes, 101);

    const f1 = await scenario(mf, "open", "shared-fresh");
    assert.equal(f1.state, "open");
    const f2 = await scenario(mf, "fresh", "shared-fresh");
    assert.deepEqual(f2, { ran: false, failFast: true, state: "open" });
  } finally {
    await mf.dispose();
  }
});

test("Durable Object state survives a restart (SQLite-backed storage persisted)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-do-"));
  try {
    let mf = await worker(dir);
    try {
      assert.equal((await scenario(mf, "open", "durable")).state, "open");
    } finally {
      await mf.dispose();
    }
    mf = await worker(dir);
    try {
      assert.deepEqual(await scenario(mf, "fresh", "durable"), {
        ran: false,
        failFast: true,
        state: "open",
      });
    } finally {
      await mf.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Workers KV store in workerd: an OPEN broadcast makes a fresh isolate fail fast", async () => {
  const mf = await worker();
  try {
    const k = await scenario(mf, "kv");
    assert.deepEqual(k, { aState: "open", bRan: false, bFailFast: true, bState: "open" });
  } finally {
    await mf.dispose();
  }
});

test("workerd: timeouts use per-request timers (a deadline from one request never serves another)", async () => {
  const mf = await worker();
  try {
    assert.deepEqual(await scenario(mf, "timeout-first"), { value: 1 });
    const r = await scenario(mf, "timeout-second");
    assert.equal(r.timedOut, true);
    assert.equal(r.sharedTimer, false); // the scheduler detected Workers and fell back
    assert.ok((r.ms as number) < 5000, `took ${r.ms}ms`);
  } finally {
    await mf.dispose();
  }
});

test("Durable Object and Workers KV in workerd: a corrupt entry is repaired once; instances are back on the shared circuit", async () => {
  const mf = await worker();
  try {
    assert.deepEqual(await scenario(mf, "do-corrupt"), {
      repairs: 1,
      available: [true, true, true],
      failFast: [true, true, true],
      ran: 0,
    });
    assert.deepEqual(await scenario(mf, "kv-corrupt"), {
      value: 1,
      repairs: 1,
      available: [true, true],
      stored: "closed",
    });
  } finally {
    await mf.dispose();
  }
});

test("Durable Object and Workers KV in workerd: a future-dated OPEN holds at most resetTimeout + skew allowance", async () => {
  const mf = await worker();
  try {
    for (const name of ["do-future", "kv-future"]) {
      const r = await scenario(mf, name);
      assert.equal(r.firstRejected, true, name);
      assert.ok((r.timeUntilReset as number) <= 400, `${name}: told to wait ${r.timeUntilReset}`);
      assert.equal(r.later, "ran", name);
    }
  } finally {
    await mf.dispose();
  }
});

test("Durable Object in workerd: a hung trial in one instance blocks others' trials no longer than resetTimeout", async () => {
  const mf = await worker();
  try {
    assert.deepEqual(await scenario(mf, "do-hung"), { blocked: true, later: "b" });
  } finally {
    await mf.dispose();
  }
});

test("Durable Object store in workerd: store faults never fail the user's call (1,000 calls per fault, said once per outage)", async () => {
  const mf = await worker();
  try {
    const r = await scenario(mf, "do-faults");
    assert.deepEqual(r.wrong, []);
    assert.equal(r.outages, r.faults);
    // Reports coalesce: a hanging store is one pending send, not 1,000 queued ones waiting the
    // 50 ms timeout in series (that took 100 s here).
    assert.ok((r.ms as number) < 30_000, `took ${r.ms} ms`);
  } finally {
    await mf.dispose();
  }
});

test("differential (Durable Object in workerd): one shared instance is the local breaker — admissions, results, transitions, stats (3 modes × 60 schedules)", async () => {
  const mf = await worker();
  try {
    const d = await scenario(mf, "differential");
    assert.equal(d.runs, 180);
    assert.deepEqual(d.mismatches, []);
  } finally {
    await mf.dispose();
  }
});

test("rate limit through the Durable Object in workerd: 3 limiters sharing a limit of 100 admit exactly 100 of 1,000; one RPC per admitted take, none once refused", async () => {
  const mf = await worker();
  try {
    const r = await scenario(mf, "ratelimit");
    assert.equal(r.allowed, 100);
    // One RPC per admitted take, one denial per limiter; then each isolate remembers the refusal.
    assert.equal(r.roundTrips, 103);
  } finally {
    await mf.dispose();
  }
});
