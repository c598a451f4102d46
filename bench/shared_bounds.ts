// How far a fleet sharing a store can admit past what one local breaker fed
// the same interleaved calls admits: calls arrive one per ms, round robin over
// the instances, at an upstream that fails 1 ms later (failureThreshold 5).
// Deterministic (FakeClock): `deno run -A bench/shared_bounds.ts` prints the
// table in docs/shared-state.md.
import { circuitBreaker, clearCircuitBreakers, MemoryStore } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { SlowStore } from "../tests/_stores.ts";

const silent = { info() {}, warn() {}, error() {} };

async function upstreamCalls(instances: number, latency: number, refresh: number) {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new SlowStore(new MemoryStore({ clock }), latency, clock);
  const bs = Array.from({ length: instances }, (_, i) =>
    circuitBreaker({
      name: `i${i}`,
      storeKey: "bounds",
      store,
      failureThreshold: 5,
      resetTimeout: 60_000,
      clock,
      logger: silent,
      storeOptions: { timeout: 10_000, refreshInterval: refresh },
    }));
  // Every instance has learned the shared state (CLOSED) before the upstream breaks.
  const first = bs.map((b) => b.execute(() => 0));
  await clock.tickAsync(2 * latency + 1);
  await Promise.all(first);
  for (const b of bs) {
    const f = b.flush();
    await clock.tickAsync(latency + 1);
    await f;
  }
  let calls = 0;
  const upstream = () => {
    calls++;
    return new Promise<never>((_, reject) => clock.setTimeout(() => reject(new Error("down")), 1));
  };
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < 2_000; i++) {
    all.push(bs[i % instances].execute(upstream).catch(() => {}));
    await clock.tickAsync(1);
  }
  await clock.tickAsync(10_000);
  await Promise.all(all);
  return calls;
}

const rows: string[] = [];
for (const instances of [1, 3, 10]) {
  for (const latency of [0, 5, 50]) {
    const cells: number[] = [];
    for (const refresh of [0, 100, 1_000]) {
      cells.push(await upstreamCalls(instances, latency, refresh));
    }
    rows.push(`| ${instances} | ${latency} ms | ${cells.join(" | ")} |`);
  }
}
console.log(
  "| instances | store latency | refresh 0 | refresh 100 ms | refresh 1000 ms (default) |",
);
console.log("| --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
