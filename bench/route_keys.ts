// Memory of per-key route breakers (routeCircuitBreaker with a `key`):
// bytes per kept key, and the heap after an attacker sends 1,000,000
// distinct keys to a middleware with the default maxKeys (1,000). Prints JSON.
//
//   deno run -A --v8-flags=--expose-gc bench/route_keys.ts [distinctKeys]
import { Hono } from "hono";
import { routeCircuitBreaker } from "../src/hono/mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc (Deno) or --expose-gc (Node)");
const heap = (): number => {
  const p = (globalThis as { process?: { memoryUsage(): { heapUsed: number } } }).process;
  const d = (globalThis as { Deno?: { memoryUsage(): { heapUsed: number } } }).Deno;
  return (d ? d.memoryUsage() : p!.memoryUsage()).heapUsed;
};
const settle = () => {
  for (let i = 0; i < 4; i++) gc();
};
const silent = { info() {}, warn() {}, error() {} };
const arg = (globalThis as { Deno?: { args: string[] } }).Deno?.args[0];
const ATTACK = Number(arg ?? 1_000_000);

function keyedApp(maxKeys?: number) {
  const mw = routeCircuitBreaker({
    key: (c) => c.req.header("x-tenant") ?? "",
    logger: silent,
    ...(maxKeys ? { maxKeys } : {}),
  });
  const app = new Hono();
  app.get("/k", mw, (c) => c.text("ok"));
  return { app, mw };
}

async function send(app: Hono, from: number, to: number) {
  for (let i = from; i < to; i++) {
    const res = await app.fetch(
      new Request("http://x/k", { headers: { "x-tenant": `tenant-${i}` } }),
    );
    await res.arrayBuffer();
  }
}

// 1. Bytes per kept key: 20,000 keys kept (maxKeys 20,000), heap before and after.
const KEPT = 20_000;
const kept = keyedApp(KEPT);
await send(kept.app, 0, 100); // warm up
settle();
const before = heap();
await send(kept.app, 100, KEPT + 100);
settle();
const bytesPerKey = Math.round((heap() - before) / KEPT);
if (kept.mw.breakers.size !== KEPT) throw new Error("not all keys kept");

// 2. The attack: ATTACK distinct keys, default maxKeys; heap sampled as it goes.
const attacked = keyedApp();
settle();
const start = heap();
const samples: { keys: number; heapGrowthBytes: number }[] = [];
const t0 = performance.now();
const step = ATTACK / 5;
for (let done = 0; done < ATTACK; done += step) {
  await send(attacked.app, done, done + step);
  settle();
  samples.push({ keys: done + step, heapGrowthBytes: heap() - start });
}
const seconds = (performance.now() - t0) / 1000;

console.log(JSON.stringify(
  {
    runtime: (globalThis as { Deno?: unknown }).Deno ? "deno" : "node",
    bytesPerKey,
    attack: {
      distinctKeys: ATTACK,
      maxKeys: 1000,
      breakersKept: attacked.mw.breakers.size,
      heapGrowthBytes: samples,
      requestsPerSecond: Math.round(ATTACK / seconds),
    },
    // Hold the first app until the end, so that its breakers were live when measured.
    keptStill: kept.mw.breakers.size,
  },
  null,
  2,
));
