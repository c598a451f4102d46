// One process of the multi-process Deno KV rate-limit test
// (tests/deno_kv_rate_test.ts): a separate `deno` process with its own
// connection to the KV file. It prints "ready", waits for a line on stdin,
// then makes TAKES takes of one key (8 at a time) through a rate limiter on
// the shared store, and prints what it saw as one JSON line.
//
// Usage: deno run -A --unstable-kv tests/_deno_kv_rate_child.ts KV_PATH TAKES LEASE
import { rateLimiter, type StoreStatusEvent } from "../mod.ts";
import { denoKvStore } from "../src/deno_kv/mod.ts";

const [path, takes, lease] = [Deno.args[0], Number(Deno.args[1]), Number(Deno.args[2])];
const kv = await Deno.openKv(path);
const events: StoreStatusEvent[] = [];
const warnings: string[] = [];
const limiter = rateLimiter({
  name: `shared-${lease}`,
  limit: 100,
  // A year: nothing refills during the test (a fixed window's grid edge is days away).
  interval: 365 * 86_400_000,
  algorithm: "fixed-window",
  store: denoKvStore(kv),
  logger: { info() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
  onStoreStatus: (e) => events.push(e),
  // Generous: this test is about contention between processes, not a slow machine.
  storeOptions: { timeout: 5000, ...(lease > 1 ? { lease } : {}) },
});

console.log("ready");
const reader = Deno.stdin.readable.getReader();
await reader.read(); // "go"
reader.releaseLock();

let admitted = 0;
let denied = 0;
let next = 0;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (next < takes) {
    next++;
    if ((await limiter.take("client")).allowed) admitted++;
    else denied++;
  }
}));
kv.close();
console.log(JSON.stringify({
  admitted,
  denied,
  unavailable: events.filter((e) => !e.available).map((e) => String(e.error)),
  warnings,
}));
