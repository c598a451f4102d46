// The app behind bench/http_bench.ts: the same small JSON route bare and behind
// the Hono middleware, served by Deno.serve on Deno and @hono/node-server on
// Node. Prints "listening on URL" and serves until killed.
import process from "node:process";
import { type Context, Hono } from "hono";
import { createMiddleware } from "hono/factory";
import {
  type ResilienceEnv,
  routeCircuitBreaker,
  routeFallback,
  routeTimeout,
} from "../src/hono/mod.ts";

const app = new Hono<ResilienceEnv>();
const payload = { id: 42, name: "quote", price: 12.5, tags: ["a", "b", "c"] };
const handler = (c: Context) => c.json(payload);
const fallback = { fallback: () => Response.json({ stale: true }) };

app.get("/bare", handler);
app.get("/timeout", routeTimeout(5_000), handler);
app.get(
  "/three",
  routeFallback(fallback),
  routeCircuitBreaker({ failureThreshold: 5, resetTimeout: 10_000 }),
  routeTimeout(5_000),
  handler,
);
app.get(
  "/lastgood",
  routeFallback({ ...fallback, lastGood: true }),
  routeCircuitBreaker({ failureThreshold: 5, resetTimeout: 10_000 }),
  routeTimeout(5_000),
  handler,
);
// Ablations: what each middleware costs alone, and what its parts cost (`--ablation`).
app.get("/breaker", routeCircuitBreaker({ failureThreshold: 5, resetTimeout: 10_000 }), handler);
app.get("/fallback", routeFallback(fallback), handler);
app.get("/lastgood-only", routeFallback({ ...fallback, lastGood: true }), handler);
app.get(
  "/lastgood-every",
  routeFallback({ ...fallback, lastGood: { refreshInterval: 0 } }),
  handler,
);
const part = (fn: (c: Context) => void) =>
  createMiddleware(async (c, next) => {
    fn(c);
    await next();
  });
app.get("/part/noop", part(() => {}), handler);
app.get("/part/noop3", part(() => {}), part(() => {}), part(() => {}), handler);
app.get("/part/controller", part((c) => c.set("signal", new AbortController().signal)), handler);
app.get("/part/request-signal", part((c) => void c.req.raw.signal), handler);
app.get(
  "/part/listener",
  createMiddleware(async (c, next) => {
    const s = c.req.raw.signal;
    const f = () => {};
    s.addEventListener("abort", f, { once: true });
    await next();
    s.removeEventListener("abort", f);
  }),
  handler,
);

// The server's CPU time so far (µs): the driver reads it around each run.
app.get("/__cpu", (c) => {
  const u = process.cpuUsage();
  return c.json(u.user + u.system);
});

const announce = (port: number) => console.log(`listening on http://127.0.0.1:${port}`);
const deno = (globalThis as { Deno?: typeof Deno }).Deno;
if (deno) {
  deno.serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => announce(port) }, app.fetch);
} else {
  const { serve } = await import("@hono/node-server");
  serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, ({ port }) => announce(port));
}
