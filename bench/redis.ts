// Added latency per call of the Redis store, as ratios to one Redis round trip
// (a PING on the same connection: the floor of anything that talks to Redis)
// and to the same call without a store. One call in flight at a time, against
// a redis-server this script starts on a unix socket (tests/_redis.ts), with
// node-redis and ioredis. Cases run interleaved in rounds; each figure is the
// median of per-round ratios (as bench/timing.ts).
//
//   deno run -A bench/redis.ts            # about 20 seconds; prints a markdown table
//
// - breaker, CLOSED: no round trip on the call's path (outcomes are reported
//   in the background, one operation per `batchSize` successes);
// - rate-limit take: one round trip (the Lua script), against two before it
//   (read script + compare-and-set script, the breaker's path, kept as
//   `take, read + CAS` for comparison).
import { circuitBreaker, clearCircuitBreakers, rateLimiter, type StoreOp } from "../mod.ts";
import { applyOp } from "../src/shared/port.ts";
import { redisStore } from "../src/redis/mod.ts";
import { redisEngine } from "../src/redis/store.ts";
import { connect, REDIS_UNAVAILABLE, RedisServer } from "../tests/_redis.ts";

if (REDIS_UNAVAILABLE) throw new Error(REDIS_UNAVAILABLE);
const server = new RedisServer();
await server.start();

const silent = { info() {}, warn() {}, error() {} };
const fn = async () => 42;
const ROUNDS = 21;
const SAMPLE_MS = 50;
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeCase(run: () => Promise<unknown>, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await run();
  return ((performance.now() - t0) * 1e6) / n; // ns per call
}
async function calibrate(run: () => Promise<unknown>): Promise<number> {
  for (let n = 16;; n *= 2) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await run();
    if (performance.now() - t0 >= SAMPLE_MS) return n;
  }
}

const rows: Record<string, Record<string, string>> = {};
let floors = "";
try {
  for (const name of ["node-redis", "ioredis"]) {
    clearCircuitBreakers();
    const c = await connect(name, server);
    try {
      const raw = c.client as {
        sendCommand?(a: string[]): Promise<unknown>;
        call?(...a: string[]): Promise<unknown>;
      };
      const ping = name === "ioredis" ? () => raw.call!("PING") : () => raw.sendCommand!(["PING"]);
      const store = redisStore(c.client as never);
      const engine = redisEngine<StoreOp>("bench", c.client as never, {}, applyOp, () => 500);
      const limits = { limit: 1_000_000_000, interval: 1000, algorithm: "sliding-window" as const };
      const breakerPolicy = circuitBreaker({ name: `bench-redis-${name}`, store, logger: silent });
      const localBreaker = circuitBreaker({ name: `bench-local-${name}`, logger: silent })(fn);
      const redisBreaker = breakerPolicy(fn);
      const localLimiter = rateLimiter({ name: "bench-local", ...limits, logger: silent });
      const redisLimiter = rateLimiter({ name: "bench-redis", ...limits, store, logger: silent });
      const op = { type: "rate", request: { cost: 1 }, config: limits } as const;
      // Two groups, timed apart: a busy shared breaker's background reports would share the
      // connection with the rate-limit cases (measured: up to 6× slower takes meanwhile).
      const groups: Record<string, () => Promise<unknown>>[] = [{
        "PING (one round trip)": ping,
        "breaker CLOSED, no store": () => localBreaker(),
        "breaker CLOSED, Redis": () => redisBreaker(),
      }, {
        "PING (one round trip)": ping,
        "rate-limit take, no store": () => localLimiter.take("k"),
        "rate-limit take, Redis (Lua)": () => redisLimiter.take("k"),
        "store op, Lua script (now)": () => store.run!("rl:lua", op),
        "store op, read + CAS (before)": () => engine.run("rl:cas", op),
      }];
      const pairs: Record<string, string> = {
        "breaker CLOSED, Redis": "breaker CLOSED, no store",
        "rate-limit take, Redis (Lua)": "rate-limit take, no store",
      };
      for (const cases of groups) {
        for (const run of Object.values(cases)) await run(); // load scripts, connect
        const n = new Map<string, number>();
        for (const [k, run] of Object.entries(cases)) n.set(k, await calibrate(run));
        const names = Object.keys(cases);
        const vsPing: Record<string, number[]> = {};
        const vsLocal: Record<string, number[]> = {};
        const pings: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const t: Record<string, number> = {};
          for (let i = 0; i < names.length; i++) {
            const k = names[(i + r) % names.length];
            t[k] = await timeCase(cases[k], n.get(k)!);
          }
          pings.push(t[names[0]]);
          for (const k of names) {
            (vsPing[k] ??= []).push(t[k] / t[names[0]]);
            if (pairs[k]) (vsLocal[k] ??= []).push(t[k] / t[pairs[k]]);
          }
        }
        if (cases === groups[0]) {
          await breakerPolicy.flush(); // its last reports, before the rate-limit group
          floors += `${name}: a PING takes ${(median(pings) / 1000).toFixed(0)} µs here. `;
        }
        for (const k of names) {
          if (k === names[0] && cases !== groups[0]) continue;
          const local = vsLocal[k] ? ` (${median(vsLocal[k]).toFixed(2)}× without a store)` : "";
          (rows[k] ??= {})[name] = `${median(vsPing[k]).toFixed(2)}×${local}`;
        }
      }
    } finally {
      await c.close();
    }
  }
} finally {
  await server.dispose();
}

console.log("| case | node-redis 6.4: × a PING | ioredis 6.1: × a PING |");
console.log("| --- | --- | --- |");
for (const [k, v] of Object.entries(rows)) {
  console.log(`| ${k} | ${v["node-redis"]} | ${v["ioredis"]} |`);
}
console.log(`\n${floors.trim()}`);
