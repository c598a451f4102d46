// The servers behind bench/adaptive_http.ts. Prints "listening on URL" and
// serves until killed.
//
//   upstream: `<script> upstream <workers>` — each request waits for one of
//     `workers` slots (FIFO), holds it 50 ms, answers 200. It never notices a
//     client that gave up: a request abandoned in its queue is still served
//     (wasted work, as a real server does).
//   front: `<script> front <upstream URL>` — a Hono app calling the upstream
//     with a 500 ms deadline: `/plain` without a limiter, `/limited` behind
//     `routeAdaptiveConcurrency`. 200 when the upstream answered in time, 504
//     at the deadline, 503 when shed. `/__stats` gives (and resets) what it
//     measured: answers, timeouts, refusals, and the latencies of admitted
//     requests (those that called the upstream).
import process from "node:process";
import { Hono } from "hono";
import { routeAdaptiveConcurrency } from "../src/hono/mod.ts";

const [mode, arg] = process.argv.slice(2).length
  ? process.argv.slice(2)
  : (globalThis as { Deno?: { args: string[] } }).Deno!.args;
const app = new Hono();

if (mode === "upstream") {
  const workers = Number(arg);
  let busy = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else busy--;
  };
  app.get("/work", async (c) => {
    if (busy < workers) busy++;
    else await new Promise<void>((r) => queue.push(r));
    await new Promise((r) => setTimeout(r, 50));
    release();
    return c.text("ok");
  });
} else {
  const upstream = arg;
  const stats = { ok: 0, timeout: 0, shed: 0, latencies: [] as number[] };
  const call = async () => {
    const t0 = performance.now();
    try {
      const res = await fetch(`${upstream}/work`, { signal: AbortSignal.timeout(500) });
      await res.text();
      stats.ok++;
      stats.latencies.push(performance.now() - t0);
      return new Response("ok");
    } catch {
      stats.timeout++;
      stats.latencies.push(performance.now() - t0);
      return new Response("deadline", { status: 504 });
    }
  };
  app.get("/plain", () => call());
  // ADAPTIVE_OPTIONS (JSON) overrides the limiter's options, to compare tunings.
  const tuning = JSON.parse(process.env.ADAPTIVE_OPTIONS ?? "{}");
  const limiter = routeAdaptiveConcurrency({
    name: "upstream",
    minLimit: 1,
    ...tuning,
    fallback: (c) => {
      stats.shed++;
      return c.text("shed", 503, { "retry-after": "1" });
    },
  });
  app.get("/limited", limiter, () => call());
  app.get("/__stats", (c) => {
    const l = [...stats.latencies].sort((a, b) => a - b);
    const out = {
      ok: stats.ok,
      timeout: stats.timeout,
      shed: stats.shed,
      p50: l[Math.floor(l.length * 0.5)] ?? 0,
      p99: l[Math.floor(l.length * 0.99)] ?? 0,
      limit: limiter.limiter()!.getStats().limit,
    };
    Object.assign(stats, { ok: 0, timeout: 0, shed: 0, latencies: [] });
    return c.json(out);
  });
}

const announce = (port: number) => console.log(`listening on http://127.0.0.1:${port}`);
const deno = (globalThis as { Deno?: typeof Deno }).Deno;
if (deno) {
  deno.serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => announce(port) }, app.fetch);
} else {
  const { serve } = await import("@hono/node-server");
  serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, ({ port }) => announce(port));
}
