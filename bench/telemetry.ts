// What the event channel costs per call, in one run on one machine: the same policies from the
// code before the channel (BASE, a checkout of an earlier commit: `git archive <commit> | tar -x
// -C /tmp/base`), from this checkout with no subscriber, with a subscriber (events only), and
// with a subscriber that asked for call events; then edge-resilience/otel's instrument() with no
// SDK (the API's no-op providers) and with the SDK (metrics and span events). Each figure: the median of ROUNDS interleaved
// samples, in ns per call.
//
//   deno run -A bench/telemetry.ts [/tmp/base]
import * as now from "../mod.ts";
import { instrument } from "../src/otel/mod.ts";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { TracerProvider } from "@opentelemetry/sdk-trace";

const BASE = Deno.args[0];
const before = BASE ? await import(`${BASE.replace(/\/$/, "")}/mod.ts`) as typeof now : undefined;
const silent = { info() {}, warn() {}, error() {} };
const fn = async () => 42;

type Lib = typeof now;
const make = (lib: Lib, tag: string) => ({
  retry: lib.retry({ maxAttempts: 3, initialDelay: 100, logger: silent })(fn),
  breaker: lib.circuitBreaker({ name: `bench-${tag}`, logger: silent })(fn),
  timeout: lib.timeout(10_000, { logger: silent })(fn),
  bulkhead: lib.bulkhead({ maxConcurrent: 10 })(fn),
  fallback: lib.fallback(() => 0)(fn),
  rateLimiter: lib.rateLimiter({ limit: 1e9, interval: 1 })(fn),
  composed: lib.compose(
    lib.fallback(() => 0, { logger: silent }),
    lib.circuitBreaker({ name: `bench-composed-${tag}`, logger: silent }),
    lib.retry({ maxAttempts: 3, initialDelay: 100, logger: silent }),
    lib.timeout(10_000, { logger: silent }),
  )(fn),
});

// ONLY_BASE=1: only "before" and "no subscriber" (nothing ever subscribes in this process, so
// no code path is ever taken with the flags on: the figures the bench rows see).
const ONLY_BASE = Deno.env.get("ONLY_BASE") === "1";
type Mode = { name: string; cases: ReturnType<typeof make>; setup?: () => () => void };
const modes: Mode[] = [];
if (before) modes.push({ name: "before", cases: make(before, "before") });
modes.push({ name: "no subscriber", cases: make(now, "now") });
class Reader extends MetricReader {
  protected onForceFlush() {
    return Promise.resolve();
  }
  protected onShutdown() {
    return Promise.resolve();
  }
}
if (!ONLY_BASE) {
  modes.push({ name: "subscriber", cases: make(now, "sub"), setup: () => now.subscribe(() => {}) });
  modes.push({
    name: "subscriber + calls",
    cases: make(now, "calls"),
    setup: () => now.subscribe(() => {}, { calls: true }),
  });
  // OpenTelemetry: instrument() with no SDK registered (the API's no-op providers), and with the
  // SDK's MeterProvider (a reader never collected here) and a tracer provider.
  modes.push({
    name: "otel, no SDK",
    cases: make(now, "otel-none"),
    setup: () => instrument().stop,
  });
  const meterProvider = new MeterProvider({ readers: [new Reader()] });
  const tracerProvider = new TracerProvider();
  modes.push({
    name: "otel + SDK",
    cases: make(now, "otel-sdk"),
    setup: () => instrument({ meterProvider, tracerProvider }).stop,
  });
}

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 11);
const SAMPLE_MS = 20;
const iters = new Map<unknown, number>();
async function timeCase(run: () => Promise<unknown>): Promise<number> {
  let n = iters.get(run);
  if (n === undefined) {
    n = 256;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await run();
      if (performance.now() - t0 >= SAMPLE_MS) break;
      n *= 2;
    }
    iters.set(run, n);
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await run();
  return ((performance.now() - t0) * 1e6) / n;
}
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows: Record<string, Record<string, string>> = {};
for (const policy of Object.keys(modes[0].cases) as (keyof Mode["cases"])[]) {
  const t: Record<string, number[]> = {};
  for (let r = -1; r < ROUNDS; r++) { // round -1 warms up
    for (let i = 0; i < modes.length; i++) {
      const m = modes[(i + Math.max(r, 0)) % modes.length];
      const stop = m.setup?.();
      const ns = await timeCase(m.cases[policy]);
      stop?.();
      if (r >= 0) (t[m.name] ??= []).push(ns);
    }
  }
  rows[policy] = Object.fromEntries(
    modes.map((m) => [m.name, `${median(t[m.name]).toFixed(0)} ns`]),
  );
}
console.table(rows);
