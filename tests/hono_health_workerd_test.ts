// The health endpoint inside real workerd (miniflare): uptime of a
// HealthCheck built at the Worker's global scope.
import assert from "node:assert/strict";
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
