// Shared rate limits on a file-backed Deno KV used by separate processes:
// each `deno` process has its own connection to the SQLite file (so writes
// contend for its lock), and 1,000 takes spread over them against
// `limit: 100` admit exactly 100. Runs on Deno (Deno.openKv, Deno.Command).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./_harness.ts";
import { startChildren } from "./_children.ts";

const DENO = { runtimes: ["deno" as const], why: "Deno KV (Deno.openKv) in child processes" };

interface ChildResult {
  admitted: number;
  denied: number;
  unavailable: string[];
  warnings: string[];
}

/** Runs `n` processes of tests/_deno_kv_rate_child.ts on one KV file, `takes` takes each. */
async function processes(n: number, takes: number, lease: number): Promise<ChildResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-kv-rate-"));
  const path = join(dir, "limits.sqlite");
  try {
    const children = await startChildren(
      new URL("./_deno_kv_rate_child.ts", import.meta.url),
      n,
      [path, String(takes), String(lease)],
    );
    await children.go();
    return await children.results<ChildResult>();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const lease of [1, 5]) {
  test(
    `Deno KV (file, 4 processes)${
      lease > 1 ? `, lease ${lease}` : ""
    }: 1,000 concurrent takes against limit 100 admit ${
      lease > 1 ? "at most" : "exactly"
    } 100; contention is never an outage`,
    async () => {
      const results = await processes(4, 250, lease);
      const admitted = results.reduce((s, r) => s + r.admitted, 0);
      const figures = JSON.stringify(results.map(({ admitted, denied }) => ({ admitted, denied })));
      for (const r of results) {
        // Lock contention and lost compare-and-sets are retried: never counted as an outage
        // (an outage would switch a process to its local limiter: up to 100 more each).
        assert.deepEqual(r.unavailable, [], r.warnings.join("\n"));
        assert.deepEqual(r.warnings, []);
        assert.equal(r.admitted + r.denied, 250);
      }
      // Leased permits come out of the store's count: within one interval (nothing refills)
      // the fleet still admits at most the limit; unused ones could only be lost (leaseTtl).
      if (lease === 1) assert.equal(admitted, 100, figures);
      else assert.ok(admitted <= 100 && admitted >= 100 - 4 * (lease - 1), figures);
      // The limit is the fleet's: each process alone would have admitted 100 of its 250. How
      // the 100 spread over the processes is not promised (with leases, the first to lease may
      // take most of them; a process that starts late on a loaded machine may get none).
      assert.ok(results.filter((r) => r.admitted > 0).length >= 1, figures);
      console.log(`Deno KV, 4 processes, lease ${lease}: admitted ${admitted}; ${figures}`);
    },
    DENO,
  );
}
