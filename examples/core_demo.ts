/**
 * The core demo: a simulated flaky upstream called through
 * fallback → circuit breaker → retry → timeout, printing a timeline of what
 * the policies do: retries, timeouts, the circuit opening, fallbacks,
 * half-open trials and recovery. Runs for about four seconds on embedded
 * defaults and exits 0.
 *
 *   npx -y deno@2.9.6 run -A examples/core_demo.ts
 */
import {
  circuitBreaker,
  compose,
  currentContext,
  fallback,
  HealthCheck,
  type Logger,
  retry,
  timeout,
} from "../mod.ts";

const t0 = performance.now();
const stamp = () => `${((performance.now() - t0) / 1000).toFixed(2)}s`.padStart(6);
const line = (kind: string, msg: string) => console.log(`${stamp()}  ${kind.padEnd(9)} ${msg}`);

const logger: Logger = {
  info: (m) => line("info", m),
  warn: (m) => line("warn", m),
  error: (m) => line("error", m),
};

/** The upstream: healthy, then down (errors and hangs), then healthy again. */
let phase: "healthy" | "down" | "recovered" = "healthy";
let upstreamCalls = 0;
function upstream(id: number): Promise<string> {
  upstreamCalls++;
  const signal = currentContext()?.signal;
  if (phase === "healthy" || phase === "recovered") return Promise.resolve(`live #${id}`);
  if (upstreamCalls % 2 === 0) return Promise.reject(new Error("502 from upstream"));
  // Hangs until our timeout aborts it.
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () => {
      line("aborted", `upstream call for #${id} cancelled (${String(signal.reason)})`);
      reject(signal.reason);
    }, { once: true });
  });
}

const breaker = circuitBreaker({
  name: "upstream",
  failureThreshold: 2,
  resetTimeout: 1000,
  halfOpenMaxCalls: 1,
  logger,
  onStateChange: (e) => line("state", `${e.from} → ${e.to} (${e.reason})`),
});

const getData = compose(
  fallback(() => "cached value", { logger: { ...logger, warn: () => {} } }),
  breaker,
  retry({ maxAttempts: 2, initialDelay: 100, logger }),
  timeout(200, { logger }),
)(upstream);

const health = new HealthCheck({ version: "demo" });
health.register("upstream", () => ({
  healthy: true,
  degraded: breaker.state !== "closed",
  message: `circuit ${breaker.state}`,
}), { critical: false });

async function request(id: number) {
  const result = await getData(id);
  const h = await health.runAll();
  line("request", `#${id} → ${result}  [circuit ${breaker.state}, health ${h.status}]`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

line("phase", "upstream healthy");
for (let i = 1; i <= 2; i++) await request(i);
phase = "down";
line("phase", "upstream down: errors and hangs");
for (let i = 3; i <= 6; i++) await request(i);
line("phase", "circuit open: calls answered by the fallback without touching the upstream");
const before = upstreamCalls;
for (let i = 7; i <= 8; i++) await request(i);
line("note", `upstream calls while open: ${upstreamCalls - before}`);
phase = "recovered";
line("phase", "upstream recovered; waiting for the reset timeout");
await sleep(1100);
for (let i = 9; i <= 10; i++) await request(i);
const s = breaker.getStats();
line(
  "stats",
  `state=${s.state} calls=${s.totalCalls} failures=${s.totalFailures} rejections=${s.totalRejections}`,
);
console.log("\nhealth:", JSON.stringify(await health.runAll(), null, 2));
