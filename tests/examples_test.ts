// The example app: in-process through app.request(), and served for real by
// Deno, Node (@hono/node-server), Bun, and workerd (miniflare).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { clearCircuitBreakers } from "../mod.ts";
import { createApp } from "../examples/app.ts";
import { startFlakyUpstream } from "../examples/flaky_upstream.ts";
import { macrotask, test } from "./_harness.ts";
import { bundle, bunPath, denoPath, startServer, workerFor } from "./_runtimes.ts";

/** The same checks against any way of serving the example app. */
async function exercise(
  get: (path: string, init?: RequestInit) => Response | Promise<Response>,
  up: {
    url: string;
    mode: string;
  },
) {
  const setMode = (m: string) =>
    fetch(`${up.url}/__mode/${m}`, { method: "POST" }).then((r) => r.text());
  await setMode("ok");
  let res = await get("/api/quote");
  assert.equal(res.status, 200);
  const live = await res.json();
  assert.equal(live.stale, false);
  assert.equal(typeof live.quote.text, "string");
  await macrotask(); // last good copy stored in the background
  await setMode("error");
  // Each failing request is answered with the last good quote; after 2 the breaker opens.
  for (let i = 0; i < 3; i++) {
    res = await get("/api/quote");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-resilience-fallback"), "last-good");
    assert.deepEqual(await res.json(), live);
  }
  res = await get("/health");
  assert.equal(res.status, 200);
  const h = await res.json();
  assert.equal(h.status, "degraded");
  assert.ok(
    h.checks.some((c: { name: string; details: { state?: string } }) =>
      c.name.startsWith("circuit:") && c.details.state === "open"
    ),
  );
  res = await get("/health", { headers: { accept: "application/health+json" } });
  assert.equal(res.headers.get("content-type"), "application/health+json");
  assert.equal((await res.json()).status, "warn");
  // The status page, wherever the app runs: the same circuit, as JSON and as a page.
  res = await get("/status/json");
  assert.equal(res.headers.get("cache-control"), "no-store");
  const s = await res.json();
  assert.ok(
    s.breakers.some((b: { name: string; state: string }) =>
      b.name.endsWith(":GET /api/quote") && b.state === "open"
    ),
  );
  assert.equal(s.actions, false); // read-only: no authorize
  res = await get("/status");
  assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'nonce-/);
  assert.match(await res.text(), /<title>Resilience status<\/title>/);
}

const ENV = (upstream: string) => ({ UPSTREAM_URL: upstream, PORT: "0" });
const APP_OPTS = { failureThreshold: 2, resetTimeoutMs: 60_000, attemptTimeoutMs: 300 };

test("example app in-process (app.request): fallback, breaker, health", async () => {
  clearCircuitBreakers();
  const up = await startFlakyUpstream();
  try {
    const app = createApp({ upstreamUrl: up.url, ...APP_OPTS, name: "inproc" });
    await exercise((p, init) => app.request(p, init), up);
  } finally {
    await up.close();
  }
});

test("example app in-process: a hanging upstream is aborted at the attempt deadline", async () => {
  clearCircuitBreakers();
  const up = await startFlakyUpstream(0, "hang");
  try {
    const app = createApp({ upstreamUrl: up.url, ...APP_OPTS, name: "hang", routeTimeoutMs: 2000 });
    const res = await app.request("/api/quote");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { quote: null, stale: true }); // no last good: the stub
    assert.equal(up.calls, 2); // maxAttempts 2
    for (let i = 0; i < 100 && up.aborted < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(up.aborted, 2); // both attempts were really cancelled
  } finally {
    await up.close();
  }
});

async function served(cmd: string, args: string[]) {
  const up = await startFlakyUpstream();
  const server = await startServer(cmd, args, ENV(up.url));
  try {
    await exercise((p, init) => fetch(server.url + p, init), up);
  } finally {
    await server.stop();
    await up.close();
  }
}

test("example server on Deno (Deno.serve)", async () => {
  const deno = denoPath();
  assert.ok(deno, "this test runs under Deno (the suite's primary runtime)");
  await served(deno, ["run", "-A", "--unstable-no-legacy-abort", "examples/deno_server.ts"]);
}, { runtimes: ["deno"], why: "spawns the Deno binary running the suite" });

test("example server on Node (@hono/node-server)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-node-"));
  try {
    const file = join(dir, "server.mjs");
    writeFileSync(file, await bundle("examples/node_server.ts", "node"));
    await served(process.env.NODE_BINARY ?? "node", [file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("example server on Bun (Bun.serve)", async () => {
  const bun = bunPath();
  assert.ok(bun, "Bun is installed by `deno task test` (npm package bun, install script allowed)");
  await served(bun, ["examples/bun_server.ts"]);
});

/** The bindings of wrangler.toml, as miniflare takes them. */
const WORKER_BINDINGS = {
  durableObjects: { CIRCUITS: { className: "CircuitBreakerObject", useSQLite: true } },
  kvNamespaces: ["CIRCUIT_KV"],
  compatibilityDate: "2025-09-01",
  compatibilityFlags: ["enable_request_signal"],
};

for (const store of ["durable-object", "kv"]) {
  test(`example Worker in workerd (miniflare), circuit in ${store}: real responses and headers`, async () => {
    const up = await startFlakyUpstream();
    const mf = await workerFor(
      "examples/worker.ts",
      { UPSTREAM_URL: up.url, CIRCUIT_STORE: store, RATE_LIMIT: "10" },
      WORKER_BINDINGS,
    );
    try {
      const get = async (p: string, init?: RequestInit) => {
        const r = await mf.dispatchFetch(`http://localhost${p}`, init as never);
        return new Response(await r.arrayBuffer(), {
          status: r.status,
          headers: r.headers as never,
        });
      };
      await exercise(get, up);
      // The route's breaker works through the bound store, which answers.
      const h = await (await get("/health")).json();
      const breaker = h.checks.find((c: { name: string }) => c.name.startsWith("circuit:"));
      assert.equal(breaker.details.storeAvailable, true, JSON.stringify(breaker));
      // /api/* is rate limited per client address (RATE_LIMIT = 10 per minute), in the
      // Durable Object whatever CIRCUIT_STORE says: 10 answered, the 11th refused.
      const client = { headers: { "cf-connecting-ip": "203.0.113.9" } };
      for (let i = 9; i >= 0; i--) {
        const ok = await get("/api/quote", client);
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get("ratelimit-policy"), '"api";q=10;w=60');
        assert.match(ok.headers.get("ratelimit") ?? "", new RegExp(`^"api";r=${i};t=\\d+$`));
        await ok.arrayBuffer();
      }
      const limited = await get("/api/quote", client);
      assert.equal(limited.status, 429);
      assert.match(limited.headers.get("ratelimit") ?? "", /^"api";r=0;t=\d+$/);
      assert.ok(Number(limited.headers.get("retry-after")) >= 1);
      assert.equal((await limited.json()).limiter, "api");
      // Another address has its own limit.
      const other = await get("/api/quote", { headers: { "cf-connecting-ip": "198.51.100.2" } });
      assert.equal(other.status, 200);
      assert.match(other.headers.get("ratelimit") ?? "", /;r=9;/);
    } finally {
      await mf.dispose();
      await up.close();
    }
  });
}
