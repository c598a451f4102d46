/**
 * The demo: the example app (examples/app.ts) served on loopback by
 * Deno.serve, in front of a simulated flaky upstream, with traffic driven
 * through failure → open → fallback → half-open → recovery. Prints a timeline
 * of state transitions, retries, timeouts and health, then exits 0.
 *
 *   npx -y deno@2.9.6 task demo            # about 5 seconds, then exits
 *   npx -y deno@2.9.6 task demo --serve    # keep serving for a browser (PORT, default 8080)
 *
 * Only embedded defaults: no external service is used.
 */
import { listCircuitBreakers, type Logger } from "../mod.ts";
import { createApp } from "./app.ts";
import { type Mode, startFlakyUpstream } from "./flaky_upstream.ts";

const keepServing = Deno.args.includes("--serve");
const t0 = performance.now();
const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const paint = (code: number, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const KIND_COLOR: Record<string, number> = {
  phase: 1,
  state: 35,
  retry: 33,
  timeout: 33,
  warn: 33,
  error: 31,
  request: 36,
  health: 32,
};
function line(kind: string, msg: string) {
  const t = `${((performance.now() - t0) / 1000).toFixed(2)}s`.padStart(7);
  console.log(`${t}  ${paint(KIND_COLOR[kind] ?? 0, kind.padEnd(8))} ${msg}`);
}

const logger: Logger = {
  info: (m) => line(m.includes("Circuit breaker") ? "state" : "info", m),
  warn: (m) =>
    line(
      m.startsWith("Attempt")
        ? "retry"
        : m.startsWith("Timeout")
        ? "timeout"
        : m.includes("Circuit")
        ? "state"
        : "warn",
      m,
    ),
  error: (m) => line("error", m),
};

const upstream = await startFlakyUpstream();
const app = createApp({
  upstreamUrl: upstream.url,
  failureThreshold: 2,
  resetTimeoutMs: 1500,
  halfOpenMaxCalls: 1,
  attemptTimeoutMs: 300,
  routeTimeoutMs: 1200,
  logger,
  version: "demo",
});
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: keepServing ? Number(Deno.env.get("PORT") ?? 8080) : 0,
  onListen: () => {},
}, app.fetch);
const base = `http://127.0.0.1:${server.addr.port}`;

async function request() {
  const start = performance.now();
  const res = await fetch(`${base}/api/quote`);
  const body = await res.json();
  const ms = Math.round(performance.now() - start);
  const source = res.headers.get("x-resilience-fallback") === "last-good"
    ? "last good quote (fallback)"
    : body.stale
    ? "stub (fallback)"
    : `live quote #${body.quote.n}`;
  const state = listCircuitBreakers()[0]?.state ?? "closed";
  line("request", `GET /api/quote → ${res.status} ${source} in ${ms}ms  [circuit ${state}]`);
}

async function health() {
  const res = await fetch(`${base}/health`);
  const h = await res.json();
  line("health", `GET /health → ${res.status} ${h.status}`);
}

function setMode(mode: Mode, why: string) {
  upstream.mode = mode;
  line("phase", `upstream → ${mode}: ${why}`);
}

line("phase", `app on ${base}, upstream on ${upstream.url}`);
setMode("ok", "healthy");
await request();
await request();
await health();

setMode("flaky", "errors and hangs; retries and per-attempt timeouts kick in");
await request();
await request();
await health();

line("phase", "circuit open: answered at once from the fallback, upstream untouched");
const before = upstream.calls;
await request();
await request();
line("note", `upstream calls while open: ${upstream.calls - before}`);

setMode("ok", "recovered; waiting for the reset timeout (1.5 s)");
await new Promise((r) => setTimeout(r, 1600));
await request(); // the half-open trial
await request();
await health();
line(
  "note",
  `upstream: ${upstream.calls} calls, ${upstream.aborted} cancelled by our timeouts`,
);

if (keepServing) {
  line("phase", `serving: open ${base}/api/quote and ${base}/health (Ctrl-C to stop)`);
  line(
    "phase",
    `switch the upstream: curl -X POST ${upstream.url}/__mode/error (ok|error|hang|flaky)`,
  );
} else {
  await server.shutdown();
  await upstream.close();
}
