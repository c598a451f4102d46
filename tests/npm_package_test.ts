// The npm package as users get it: `npm pack` of npm/, installed into a
// temporary consumer project, used through ESM import, CJS require, and a
// TypeScript file type-checked with tsc against the published types.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./_harness.ts";
import { denoPath, ROOT } from "./_runtimes.ts";

const ESM = `
import assert from "node:assert/strict";
import { CircuitOpenError, circuitBreaker, retry, withTimeout } from "edge-resilience";
import { routeCircuitBreaker, routeTimeout } from "edge-resilience/hono";
import { FakeClock } from "edge-resilience/testing";
import { denoKvStore } from "edge-resilience/deno-kv";
import { Hono } from "hono";
assert.equal(typeof denoKvStore, "function");
let n = 0;
assert.equal(await retry({ initialDelay: 0 })(() => (++n < 2 ? Promise.reject(new Error("x")) : n))(), 2);
const b = circuitBreaker({ name: "esm", failureThreshold: 1 });
await b.execute(() => Promise.reject(new Error("down"))).catch(() => {});
await assert.rejects(b.execute(() => 1), CircuitOpenError);
assert.equal(await withTimeout(new Promise(() => {}), 5, { fallbackValue: null }), null);
const app = new Hono();
app.get("/", routeCircuitBreaker(), routeTimeout(100), (c) => c.text("hi"));
assert.equal(await (await app.request("/")).text(), "hi");
assert.equal(typeof new FakeClock().tick, "function");
console.log("esm ok");
`;

const CJS = `
const assert = require("node:assert/strict");
const { CircuitState, HealthCheck } = require("edge-resilience");
const { healthHandler } = require("edge-resilience/hono");
const { Hono } = require("hono");
assert.equal(CircuitState.HALF_OPEN, "half_open");
const h = new HealthCheck({ version: "1" });
h.register("db", () => true);
const app = new Hono();
app.get("/health", healthHandler(h));
app.request("/health").then(async (r) => {
  assert.equal(r.status, 200);
  assert.equal((await r.json()).status, "healthy");
  console.log("cjs ok");
});
`;

const CONSUMER_TS = `
import { circuitBreaker, compose, fallback, type CircuitStats, HealthStatus, retry, timeout } from "edge-resilience";
import { type ResilienceEnv, routeTimeout } from "edge-resilience/hono";
import { Hono } from "hono";

class Api {
  @circuitBreaker({ name: "api" })
  @retry({ maxAttempts: 3 })
  @timeout(1000)
  @fallback(() => "cached")
  async get(id: string): Promise<string> {
    return id;
  }
}
const s: Promise<string> = new Api().get("1");
const wrapped: (a: number, b: string) => Promise<boolean> = compose(retry(), timeout(5))(
  (a: number, b: string) => a > b.length,
);
const stats: CircuitStats = circuitBreaker({ name: "x" }).getStats();
const status: HealthStatus = "degraded";
const app = new Hono<ResilienceEnv>();
app.get("/", routeTimeout(100), (c) => {
  const signal: AbortSignal = c.var.signal;
  return c.text(String(signal.aborted));
});
export { app, s, stats, status, wrapped };
`;

// Proves the types are real: this must NOT type-check.
const BAD_TS = `
import { retry } from "edge-resilience";
const n: Promise<number> = retry()(async (x: string) => x)("a");
export { n };
`;

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

test("npm package: packs, installs, works via ESM import, CJS require and tsc", () => {
  const deno = denoPath()!;
  sh(deno, ["run", "-A", "build_npm.ts", "--ignore-budgets"], ROOT);
  const pkg = JSON.parse(readFileSync(join(ROOT, "npm/package.json"), "utf8"));
  assert.deepEqual(Object.keys(pkg.exports).sort(), [
    ".",
    "./cloudflare",
    "./deno-kv",
    "./hono",
    "./testing",
  ]);
  assert.equal(pkg.sideEffects, false);
  assert.equal(pkg.peerDependenciesMeta.hono.optional, true);
  const version = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).version;
  assert.equal(pkg.version, version);

  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-consumer-"));
  try {
    sh("npm", ["pack", join(ROOT, "npm"), "--pack-destination", dir, "--silent"], dir);
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
    assert.ok(tarball, "npm pack made a tarball");
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    sh("npm", [
      "install",
      `./${tarball}`,
      "hono@^4.6.0",
      "typescript@~5.9.0",
      "--no-audit",
      "--no-fund",
      "--silent",
    ], dir);
    writeFileSync(join(dir, "esm.mjs"), ESM);
    writeFileSync(join(dir, "cjs.cjs"), CJS);
    assert.match(sh("node", ["esm.mjs"], dir), /esm ok/);
    assert.match(sh("node", ["cjs.cjs"], dir), /cjs ok/);

    writeFileSync(join(dir, "consumer.ts"), CONSUMER_TS);
    writeFileSync(join(dir, "bad.ts"), BAD_TS);
    const tsc = join(dir, "node_modules/typescript/bin/tsc");
    const common = [
      "--noEmit",
      "--strict",
      "--target",
      "es2022",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--lib",
      "es2022,dom,dom.iterable",
    ];
    sh("node", [tsc, ...common, "consumer.ts"], dir); // throws on any type error
    let badOutput = "";
    try {
      sh("node", [tsc, ...common, "bad.ts"], dir);
    } catch (e) {
      badOutput = String((e as { stdout?: string }).stdout);
    }
    assert.match(badOutput, /bad\.ts.*error TS2322/s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { runtimes: ["deno"], why: "builds the package with build_npm.ts (a Deno script)" });
