/**
 * The demo: two instances of the example app (examples/app.ts) served on
 * loopback by Deno.serve, sharing the route's circuit through Deno KV, in
 * front of a simulated flaky upstream, with traffic driven through failure →
 * open → fallback → half-open → recovery. Prints a timeline of state
 * transitions, retries, timeouts and health, then exits 0.
 *
 *   npx -y deno@2.9.6 task demo            # about 5 seconds, then exits
 *   npx -y deno@2.9.6 task demo --serve    # keep serving (PORT and PORT+1, default 8080/8081);
 *                                          # the circuit state persists in .demo/
 *
 * Only embedded defaults: no external service is used.
 */
import type { Logger } from "../mod.ts";
import type { RouteCircuitBreaker } from "../src/hono/mod.ts";
import { denoKvStore } from "../src/deno_kv/mod.ts";
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

// Two instances of the app — standing for two isolates or servers — share the
// route's circuit through Deno KV (a temp file; with --serve, .demo/ so that the
// state survives a restart).
const kvPath = keepServing
  ? (await Deno.mkdir(".demo", { recursive: true }), ".demo/circuits.sqlite")
  : await Deno.makeTempFile({ suffix: ".sqlite" });
const kv = await Deno.openKv(kvPath);
const store = denoKvStore(kv);
const settings = {
  upstreamUrl: upstream.url,
  failureThreshold: 2,
  resetTimeoutMs: 1500,
  halfOpenMaxCalls: 1,
  attemptTimeoutMs: 300,
  routeTimeoutMs: 1200,
  logger,
  version: "demo",
  store,
};
const apps = {
  A: createApp({ ...settings, name: "A" }),
  B: createApp({ ...settings, name: "B" }),
};
const servers = Object.fromEntries(
  Object.entries(apps).map(([id, app], i) => [
    id,
    Deno.serve({
      hostname: "127.0.0.1",
      port: keepServing ? Number(Deno.env.get("PORT") ?? 8080) + i : 0,
      onListen: () => {},
    }, app.fetch),
  ]),
) as Record<"A" | "B", Deno.HttpServer<Deno.NetAddr>>;
const url = (id: "A" | "B") => `http://127.0.0.1:${servers[id].addr.port}`;
// The route's breaker, held by the app's routeCircuitBreaker middleware (not in the registry).
const breakerOf = (id: "A" | "B") =>
  (apps[id].routes.map((r) => r.handler).find((h) => "breakers" in h) as
    | RouteCircuitBreaker
    | undefined)?.breakers.get("GET /api/quote");

async function request(id: "A" | "B") {
  const start = performance.now();
  const res = await fetch(`${url(id)}/api/quote`);
  const body = await res.json();
  const ms = Math.round(performance.now() - start);
  const source = res.headers.get("x-resilience-fallback") === "last-good"
    ? "last good quote (fallback)"
    : body.stale
    ? "stub (fallback)"
    : `live quote #${body.quote.n}`;
  await breakerOf(id)?.flush(); // what waitUntil does on Workers: the report reaches the store
  const state = breakerOf(id)?.state ?? "closed";
  line(
    "request",
    `instance ${id}: GET /api/quote → ${res.status} ${source} in ${ms}ms  [shared circuit ${state}]`,
  );
}

async function health(id: "A" | "B") {
  const res = await fetch(`${url(id)}/health`);
  const h = await res.json();
  line("health", `instance ${id}: GET /health → ${res.status} ${h.status}`);
}

function setMode(mode: Mode, why: string) {
  upstream.mode = mode;
  line("phase", `upstream → ${mode}: ${why}`);
}

line(
  "phase",
  `instances A ${url("A")} and B ${
    url("B")
  }, sharing the circuit in Deno KV; upstream ${upstream.url}`,
);
setMode("ok", "healthy");
await request("A");
await request("B");
await health("A");

setMode("flaky", "errors and hangs; retries and per-attempt timeouts kick in");
await request("A"); // failure 1, counted in the shared store
await request("B"); // failure 2, from the other instance: the store opens the circuit
await breakerOf("A")?.flush(); // A's view refreshes (on its TTL, in the background)
await health("A");

line("phase", "circuit open everywhere: both instances answer from the fallback at once");
const before = upstream.calls;
await request("A");
await request("B");
line("note", `upstream calls while open: ${upstream.calls - before}`);

setMode("ok", "recovered; waiting for the reset timeout (1.5 s)");
await new Promise((r) => setTimeout(r, 1600));
await request("B"); // the half-open trial (a permit from the store)
await breakerOf("A")?.flush();
await request("A");
await health("A");
line(
  "note",
  `upstream: ${upstream.calls} calls, ${upstream.aborted} cancelled by our timeouts`,
);

if (keepServing) {
  line("phase", `serving: ${url("A")}/api/quote, ${url("B")}/api/quote, /health (Ctrl-C to stop)`);
  line(
    "phase",
    `switch the upstream: curl -X POST ${upstream.url}/__mode/error (ok|error|hang|flaky)`,
  );
} else {
  for (const s of Object.values(servers)) await s.shutdown();
  await upstream.close();
  kv.close();
  await Deno.remove(kvPath);
}
