// Bytes per live breaker (10,000 instances, GC before and after) and timers
// held by an idle breaker. Runs on Deno (--v8-flags=--expose-gc) and Node
// (--expose-gc); prints JSON.
import { circuitBreaker } from "../mod.ts";
import { circuitBreaker as ckBreaker, ConsecutiveBreaker, handleAll } from "cockatiel";
import CircuitBreaker from "opossum";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const heap = (): number => {
  const p = (globalThis as { process?: { memoryUsage(): { heapUsed: number } } }).process;
  const d = (globalThis as { Deno?: { memoryUsage(): { heapUsed: number } } }).Deno;
  return (d ? d.memoryUsage() : p!.memoryUsage()).heapUsed;
};

// Count timers started (and not cleared) while breakers are built.
let live = 0;
type TimerFn = (...args: unknown[]) => unknown;
const g = globalThis as unknown as Record<string, TimerFn>;
for (const [start, stop] of [["setTimeout", "clearTimeout"], ["setInterval", "clearInterval"]]) {
  const realStart = g[start];
  const realStop = g[stop];
  g[start] = (...a) => (live++, realStart(...a));
  g[stop] = (...a) => (live--, realStop(...a));
}

const fn = async () => 42;
const N = 10_000;
const makers: Record<string, () => unknown> = {
  "edge-resilience": () => circuitBreaker({}),
  "edge-resilience rate, 100-call window": () =>
    circuitBreaker({ failureRateThreshold: 0.5, windowCalls: 100 }),
  "edge-resilience rate, 10-bucket time window": () =>
    circuitBreaker({ failureRateThreshold: 0.5, windowDuration: 10_000, windowBuckets: 10 }),
  cockatiel: () =>
    ckBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  opossum: () => new CircuitBreaker(fn, { timeout: false }),
};

const result: Record<string, { bytesPerBreaker: number; timersPerIdleBreaker: number }> = {};
for (const [name, make] of Object.entries(makers)) {
  make(); // warm up code paths
  gc();
  gc();
  const before = heap();
  const timersBefore = live;
  const held: unknown[] = new Array(N);
  for (let i = 0; i < N; i++) held[i] = make();
  gc();
  gc();
  const after = heap();
  result[name] = {
    bytesPerBreaker: Math.round((after - before) / N),
    timersPerIdleBreaker: (live - timersBefore) / N,
  };
  for (const b of held) (b as { shutdown?: () => void }).shutdown?.();
  held.length = 0;
}
console.log(JSON.stringify(result));
// The warm-up opossum breakers still hold their intervals: exit explicitly.
const exit = globalThis as {
  Deno?: { exit(c: number): void };
  process?: { exit(c: number): void };
};
(exit.Deno ?? exit.process)?.exit(0);
