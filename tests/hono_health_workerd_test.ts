// The health endpoint inside real workerd (miniflare): uptime of a
// HealthCheck built at the Worker's global scope, and circuits read from a
// real (SQLite-backed, persisted) Durable Object after a restart.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./_harness.ts";
import { workerFor } from "./_runtimes.ts";

test("workerd: uptime_seconds of a HealthCheck built at global scope counts from startup", async () => {
  const mf = await workerFor("tests/_health_worker_fixture.ts", {});
  try {
    const uptime = async () => {
      const res = await mf.dispatchFetch("http://localhost/health");
      assert.equal(res.status, 200);
      return ((await res.json()) as { uptime_seconds: number }).uptime_seconds;
    };
    const first = await uptime();
    assert.ok(first >= 0 && first < 600, `uptime_seconds ${first}`);
    await new Promise((r) => setTimeout(r, 300));
    const second = await uptime();
    assert.ok(second >= first + 0.25 && second < first + 60, `${first} then ${second}`);
  } finally {
    await mf.dispose();
  }
});

test("workerd: after a restart, /health reports the circuit the Durable Object holds OPEN", async () => {
  const persist = mkdtempSync(join(tmpdir(), "hono-health-do-"));
  const extra = {
    durableObjects: { CIRCUITS: { className: "CircuitBreakerObject", useSQLite: true } },
    durableObjectsPersist: persist,
  };
  try {
    const first = await workerFor("tests/_health_worker_fixture.ts", {}, extra);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await first.dispatchFetch("http://localhost/api/quote");
        assert.equal(r.status, 502);
        await r.arrayBuffer();
      }
      // The failures reach the object in the background (waitUntil); then the circuit is open.
      let status = 0;
      for (let i = 0; i < 100 && status !== 503; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const r = await first.dispatchFetch("http://localhost/api/quote");
        await r.arrayBuffer();
        status = r.status;
      }
      assert.equal(status, 503);
    } finally {
      await first.dispose();
    }
    // A new isolate that has served nothing: its health comes from the object.
    const second = await workerFor("tests/_health_worker_fixture.ts", {}, extra);
    try {
      const res = await second.dispatchFetch("http://localhost/health");
      assert.equal(res.status, 200);
      const body = (await res.json()) as {
        status: string;
        circuits: { total: number; open: number };
        checks: { name: string; details: { state?: string; source?: string } }[];
      };
      assert.equal(body.status, "degraded");
      assert.deepEqual([body.circuits.total, body.circuits.open], [2, 1]);
      const open = body.checks.find((c) => c.details.state === "open")!;
      assert.equal(open.name, "circuit:route:GET /api/quote");
      assert.equal(open.details.source, "store");
    } finally {
      await second.dispose();
    }
  } finally {
    rmSync(persist, { recursive: true, force: true });
  }
});
