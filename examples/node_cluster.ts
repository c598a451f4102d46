/**
 * A Node fleet: several processes (node:cluster) serve the example app
 * (examples/app.ts) on one port with @hono/node-server, in front of the
 * demo's flaky upstream, sharing the route's circuit breaker and a rate limit
 * of 10 requests per minute per client through Redis. The primary process
 * drives traffic through failure → open (for every process) → rate limiting →
 * recovery and prints what happened, then exits 0 (1 if a process failed).
 *
 * From the repository (after `deno install`: Node finds the npm packages in node_modules/):
 *
 *   npx esbuild examples/node_cluster.ts --bundle --platform=node --format=esm \
 *     --packages=external --outfile=cluster.mjs
 *   REDIS_URL=redis://127.0.0.1:6379 WORKERS=3 node cluster.mjs
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=8080 node cluster.mjs --serve   # keep serving
 *
 * `REDIS_SOCKET=/path/to/redis.sock` connects through a unix socket instead.
 * If Redis does not answer within `CONNECT_MS` (default 2000) at start, each
 * process says so and serves with its own breaker and limiter (the phases then
 * show per-process numbers) until Redis answers.
 * Every run uses its own key prefix, so runs do not see each other's state.
 */
import cluster from "node:cluster";
import { get as httpGet } from "node:http";
import process from "node:process";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createClient } from "redis";
import { routeRateLimiter } from "../src/hono/mod.ts";
import { redisStore } from "../src/redis/mod.ts";
import { createApp } from "./app.ts";
import { startFlakyUpstream } from "./flaky_upstream.ts";

const WORKERS = Number(process.env.WORKERS ?? 3);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const REDIS_SOCKET = process.env.REDIS_SOCKET;
const RESET_MS = 2000;
const LIMIT = 10;
/** How long a process waits for Redis at start before serving without it. */
const CONNECT_MS = Number(process.env.CONNECT_MS ?? 2000);

if (cluster.isPrimary) await primary();
else await worker();

/** One process of the fleet: the app, its breaker and limiter on Redis. */
async function worker(): Promise<void> {
  const client = createClient({
    ...(REDIS_SOCKET ? { socket: { path: REDIS_SOCKET, tls: false } } : { url: REDIS_URL }),
    disableOfflineQueue: true, // an outage fails fast: the breaker and limiter go local
  });
  client.on("error", () => {}); // reconnects by itself; the store reports outages
  // Connecting is bounded: Redis unreachable at start is an outage like any other. The processes
  // serve at once, each with its own breaker and limiter, and share them once Redis answers.
  const connected = client.connect().then(() => true, () => false);
  let wait: ReturnType<typeof setTimeout> | undefined;
  const up = await Promise.race([
    connected,
    new Promise<false>((r) => (wait = setTimeout(() => r(false), CONNECT_MS))),
  ]);
  clearTimeout(wait);
  if (!up) {
    console.log(
      `  worker ${cluster.worker!.id}: Redis unreachable at ${
        REDIS_SOCKET ?? REDIS_URL
      } after ${CONNECT_MS}ms: breaking and limiting locally (each process on its own) until it answers`,
    );
  }
  const store = redisStore(client, { prefix: process.env.PREFIX, expireIn: 3_600_000 });
  const id = `worker ${cluster.worker!.id}`;
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set("x-served-by", String(process.pid));
  });
  app.use(
    "/api/*",
    routeRateLimiter({
      name: "api",
      limit: LIMIT,
      interval: 60_000,
      key: (c) => c.req.header("x-client") ?? "anonymous",
      store, // one Lua script per request: one round trip
    }),
  );
  app.route(
    "/",
    createApp({
      upstreamUrl: process.env.UPSTREAM_URL!,
      failureThreshold: 3,
      resetTimeoutMs: RESET_MS,
      store, // no round trip per call while CLOSED
      logger: {
        info: (m) => m.includes("Circuit breaker") && console.log(`  ${id}: ${m}`),
        warn: (m) => /Circuit|store/.test(m) && console.log(`  ${id}: ${m}`),
        error: (m) => console.log(`  ${id}: ${m}`),
      },
    }),
  );
  const server = serve(
    { fetch: app.fetch, hostname: "127.0.0.1", port: Number(process.env.PORT ?? 0) },
    (info) => process.send!({ port: info.port, shared: up }),
  );
  process.on("message", (m) => {
    if (m !== "stop") return;
    server.close();
    if (client.isOpen) client.destroy(); // (also stops reconnecting to an unreachable Redis)
    process.disconnect();
  });
}

/** A GET on a new connection (so that the primary spreads them over the processes). */
function get(url: string, client: string) {
  return new Promise<{ status: number; live: boolean; pid: string }>((resolve, reject) => {
    httpGet(url, { agent: false, headers: { "x-client": client } }, (res) => {
      res.resume();
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          live: res.statusCode === 200 && !res.headers["x-resilience-fallback"],
          pid: String(res.headers["x-served-by"]),
        }));
    }).on("error", reject);
  });
}

async function primary(): Promise<void> {
  const upstream = await startFlakyUpstream();
  const prefix = `er-demo:${Date.now().toString(36)}:`;
  const env = { UPSTREAM_URL: upstream.url, PREFIX: prefix, PORT: process.env.PORT ?? "0" };
  const workers = Array.from({ length: WORKERS }, () => cluster.fork(env));
  let stopping = false;
  cluster.on("exit", (w, code) => {
    if (stopping) return;
    console.error(
      `worker ${w.id} exited (code ${code}): is Redis up at ${REDIS_SOCKET ?? REDIS_URL}?`,
    );
    process.exit(1);
  });
  const started = await Promise.all(
    workers.map((w) => new Promise<{ port: number; shared: boolean }>((r) => w.once("message", r))),
  );
  const base = `http://127.0.0.1:${started[0].port}`;
  // Without Redis every process counts on its own: the numbers below are per process.
  const shared = started.every((s) => s.shared) ? "shared" : "per process, Redis unreachable";
  console.log(
    `fleet: ${WORKERS} processes on ${base}, Redis at ${
      REDIS_SOCKET ?? REDIS_URL
    } (prefix ${prefix})`,
  );
  if (process.argv.includes("--serve")) {
    console.log(`serving ${base}/api/quote and ${base}/status; Ctrl-C to stop`);
    return;
  }
  const quote = `${base}/api/quote`;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let n = 0;
  const fresh = () => `client-${++n}`; // a client of its own per request: no rate limit in play

  // 1. All well: requests spread over the processes.
  const ok = [];
  for (let i = 0; i < 4 * WORKERS; i++) ok.push(await get(quote, fresh()));
  console.log(
    `phase 1  upstream ok: ${ok.length} requests → ${
      ok.filter((r) => r.live).length
    } live quotes, served by ${new Set(ok.map((r) => r.pid)).size} processes`,
  );

  // 2. The upstream fails: failures from every process add up in Redis and open one circuit.
  upstream.mode = "error";
  let reached = 0;
  let calls = upstream.calls;
  for (let i = 0; i < 4 * WORKERS; i++) {
    const before = upstream.calls;
    await get(quote, fresh());
    if (upstream.calls > before) reached++;
    await sleep(50);
  }
  const failing = upstream.calls - calls;
  calls = upstream.calls;
  const open = [];
  for (let i = 0; i < 4 * WORKERS; i++) open.push(await get(quote, fresh()));
  console.log(
    `phase 2  upstream failing: of ${
      4 * WORKERS
    } requests, ${reached} reached it (${failing} calls: 2 attempts each) before the ${
      shared === "shared" ? "shared circuit" : `circuits (${shared})`
    } opened; then ${open.length} requests → ${
      open.filter((r) => r.status === 200 && !r.live).length
    } answered by the fallback, ${upstream.calls - calls} upstream calls, by ${
      new Set(open.map((r) => r.pid)).size
    } processes`,
  );

  // 3. One client sends 30 requests at once: the limit is one for the fleet.
  upstream.mode = "ok";
  const burst = await Promise.all(Array.from({ length: 30 }, () => get(quote, "greedy")));
  console.log(
    `phase 3  rate limit ${LIMIT}/min per client, ${shared}: 30 requests from one client → ${
      burst.filter((r) => r.status !== 429).length
    } allowed, ${burst.filter((r) => r.status === 429).length} answered 429, by ${
      new Set(burst.map((r) => r.pid)).size
    } processes`,
  );

  // 4. Recovery: after the reset timeout a trial succeeds and the circuit closes for all.
  const t0 = Date.now();
  while (!(await get(quote, fresh())).live) await sleep(100);
  const back = [];
  for (let i = 0; i < 3 * WORKERS; i++) back.push(await get(quote, fresh()));
  console.log(
    `phase 4  upstream ok again: a live quote ${
      ((Date.now() - t0) / 1000).toFixed(1)
    }s later (reset timeout ${RESET_MS / 1000}s), then ${
      back.filter((r) => r.live).length
    } of ${back.length} live`,
  );

  stopping = true;
  await Promise.all(workers.map((w) =>
    new Promise((r) => {
      w.once("exit", r);
      w.send("stop");
    })
  ));
  await upstream.close();
  console.log("done");
}
