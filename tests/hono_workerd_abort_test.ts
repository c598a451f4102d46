// Client disconnects on Workers: `request.signal` follows the client only
// with the `enable_request_signal` compatibility flag. With it, a client going
// away aborts c.var.signal and the upstream fetch (plain or resilientFetch);
// without it, workerd still cancels the request's I/O, but the signal never aborts.
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { test } from "./_harness.ts";
import { bundle } from "./_runtimes.ts";
import { startUpstream, until } from "./_upstream.ts";

/**
 * A client Worker calls the app Worker through a service binding and gives up
 * after 300 ms: in workerd that is a client going away (what a browser closing
 * its connection is at Cloudflare's edge).
 */
const CLIENT = `export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    try {
      await env.APP.fetch("http://app" + path, { signal: AbortSignal.timeout(300) });
      return new Response("answered");
    } catch (e) {
      return new Response(String(e?.name));
    }
  },
};`;

async function clientGoesAway(flags: string[], path: string) {
  const up = await startUpstream((req, res) => {
    if (req.url?.startsWith("/signal-aborted")) res.end("noted");
    // /hang never answers
  });
  const mf = new Miniflare({
    workers: [
      {
        name: "client",
        modules: true,
        script: CLIENT,
        compatibilityDate: "2025-01-01",
        serviceBindings: { APP: "app" },
      },
      {
        name: "app",
        modules: true,
        script: await bundle("tests/_worker_abort_fixture.ts", "neutral"),
        compatibilityDate: "2025-01-01",
        compatibilityFlags: flags,
        bindings: { UPSTREAM_URL: up.url },
      },
    ],
  });
  try {
    const res = await mf.dispatchFetch(`http://localhost${path}`);
    assert.equal(await res.text(), "TimeoutError"); // the client gave up
    assert.ok(up.requests.some((r) => r.path === "/hang"));
    const seen = () => ({
      upstreamClosed: up.disconnects === 1,
      signalAborted: up.requests.some((r) => r.path === `/signal-aborted${path}`),
    });
    await until(() => seen().upstreamClosed && seen().signalAborted, 2_000).catch(() => {});
    return seen();
  } finally {
    await mf.dispose();
    await up.close();
  }
}

for (const path of ["/fetch", "/resilient"]) {
  test(`workerd + enable_request_signal: a client going away aborts c.var.signal and the upstream (${path})`, async () => {
    assert.deepEqual(await clientGoesAway(["enable_request_signal"], path), {
      upstreamClosed: true,
      signalAborted: true,
    });
  });
}

test("workerd without enable_request_signal: the request is cancelled, but c.var.signal never aborts (why the flag is needed)", async () => {
  // workerd cancels the request's pending I/O, so the upstream closes, but no abort
  // listener runs: cleanup tied to the signal (and resilientFetch's own) never happens.
  assert.deepEqual(await clientGoesAway([], "/fetch"), {
    upstreamClosed: true,
    signalAborted: false,
  });
});
