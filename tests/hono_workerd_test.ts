// The route middleware inside real workerd (miniflare): status codes,
// headers, and a timeout that really cancels the upstream subrequest.
import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import { workerFor } from "./_runtimes.ts";
import { startUpstream, until } from "./_upstream.ts";

test("workerd: routeTimeout answers 504 and cancels the upstream subrequest; breaker 503 + Retry-After", async () => {
  const up = await startUpstream(() => {/* never answers */});
  const mf = await workerFor("tests/_worker_fixture.ts", { UPSTREAM_URL: up.url });
  try {
    const slow = await mf.dispatchFetch("http://localhost/slow");
    assert.equal(slow.status, 504);
    assert.equal(slow.headers.get("content-type"), "application/problem+json");
    assert.equal(((await slow.json()) as { status: number }).status, 504);
    await until(() => up.disconnects === 1, 5000);

    for (let i = 0; i < 2; i++) {
      const r = await mf.dispatchFetch("http://localhost/flaky");
      assert.equal(r.status, 502);
      await r.arrayBuffer();
    }
    const open = await mf.dispatchFetch("http://localhost/flaky");
    assert.equal(open.status, 503);
    assert.equal(open.headers.get("retry-after"), "30");
    assert.equal(open.headers.get("content-type"), "application/problem+json");
    const body = (await open.json()) as { breaker: string; retryAfter: number };
    assert.equal(body.breaker, "route:GET /flaky");
    assert.equal(body.retryAfter, 30);
  } finally {
    await mf.dispose();
    await up.close();
  }
});
