// One process of the multi-process Redis test (tests/redis_processes_test.ts):
// its own node-redis connection to the test's server. Protocol on stdin and
// stdout, a line each: prints "ready"; on "go", makes 2 failing calls (the
// threshold is 8: 4 processes × 2) and prints "failed"; on "check", says
// whether its breaker now refuses a call without running it, then for
// `runFor` ms keeps calling an upstream that is down (every upstream call is a
// half-open probe) and prints one JSON line: that answer, the wall-clock
// start of every probe, and the store outages seen.
//
// Usage: deno run -A tests/_redis_child.ts SOCKET RUN_FOR_MS RESET_MS
import { createClient } from "redis";
import { circuitBreaker, CircuitOpenError, type StoreStatusEvent } from "../mod.ts";
import { redisStore } from "../src/redis/mod.ts";

const [socket, runFor, resetTimeout] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2])];
const client = createClient({ socket: { path: socket, tls: false }, disableOfflineQueue: true });
await client.connect();
const events: StoreStatusEvent[] = [];
const breaker = circuitBreaker({
  name: "fleet",
  store: redisStore(client),
  failureThreshold: 8,
  resetTimeout,
  halfOpenMaxCalls: 2,
  logger: { info() {}, warn() {}, error() {} },
  onStoreStatus: (e) => events.push(e),
  // Generous: this test is about processes sharing a circuit, not a slow machine.
  storeOptions: { timeout: 5000, refreshInterval: 20 },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
let buffered = "";
async function line(): Promise<string> {
  while (!buffered.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("stdin closed");
    buffered += value;
  }
  const [first, ...rest] = buffered.split("\n");
  buffered = rest.join("\n");
  return first;
}

console.log("ready");
await line(); // "go"
for (let i = 0; i < 2; i++) {
  await breaker.execute(() => Promise.reject(new Error("down"))).catch(() => {});
}
await breaker.flush();
console.log("failed");
await line(); // "check": every process has reported its failures
await breaker.flush();
await breaker.execute(() => "ran").catch(() => {}); // refreshes the view if it was stale
await breaker.flush();
let ran = false;
const openForAll = await breaker.execute(() => (ran = true)).then(
  () => false,
  (e) => e instanceof CircuitOpenError && !ran,
);

const probes: number[] = [];
const upstream = async () => {
  probes.push(Date.now());
  await sleep(20);
  throw new Error("upstream is down");
};
const end = Date.now() + runFor;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (Date.now() < end) {
    await breaker.execute(upstream).catch(() => {});
    await sleep(2);
  }
}));
await breaker.flush();
client.destroy();
console.log(JSON.stringify({
  openForAll,
  probes,
  unavailable: events.filter((e) => !e.available).map((e) => String(e.error)),
}));
