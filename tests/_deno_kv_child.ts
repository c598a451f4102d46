// One "instance" for the multi-process Deno KV test (tests/deno_kv_test.ts):
// a separate `deno` process with its own connection to the KV file. It
// prints "ready", waits for a line on stdin, then for `runFor` ms keeps
// calling an upstream that is down through a breaker on the shared store,
// and prints what it saw as one JSON line: the wall-clock start of every
// upstream call (each one is a half-open probe: the circuit is OPEN when
// the run starts and the upstream never recovers) and the store events.
//
// Usage: deno run -A --unstable-kv tests/_deno_kv_child.ts KV_PATH RUN_FOR_MS RESET_MS
import { circuitBreaker, type StoreStatusEvent } from "../mod.ts";
import { denoKvStore } from "../src/deno_kv/mod.ts";

const [path, runFor, resetTimeout] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2])];
const kv = await Deno.openKv(path);
const events: StoreStatusEvent[] = [];
const warnings: string[] = [];
const breaker = circuitBreaker({
  name: "shared-probe",
  store: denoKvStore(kv),
  failureThreshold: 1,
  resetTimeout,
  halfOpenMaxCalls: 2,
  logger: { info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
  onStoreStatus: (e) => events.push(e),
  // Generous: this test is about contention between processes, not a slow machine.
  storeOptions: { timeout: 5000, refreshInterval: 20 },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const probes: number[] = [];
const upstream = async () => {
  probes.push(Date.now());
  await sleep(20);
  throw new Error("upstream is down");
};

console.log("ready");
const reader = Deno.stdin.readable.getReader();
await reader.read(); // "go"
reader.releaseLock();

const end = Date.now() + runFor;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (Date.now() < end) {
    await breaker.execute(upstream).catch(() => {});
    await sleep(2);
  }
}));
await breaker.flush();
kv.close();
console.log(JSON.stringify({
  probes,
  unavailable: events.filter((e) => !e.available).map((e) => String(e.error)),
  warnings,
}));
