// The npm package as users get it: built by `deno task build:npm` (no flags:
// the size budgets hold), `npm pack`ed, installed into a consumer project
// (.ci/out/npm-consumer) and used there: ESM import and CJS require on Node and Bun,
// TypeScript consumers in every module resolution mode, source maps whose
// sources are in the package, and the Workers-only entry kept out of Node.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "./_harness.ts";
import { bunPath, denoPath, ROOT } from "./_runtimes.ts";

const DENO_ONLY = {
  runtimes: ["deno" as const],
  why: "builds the package with build_npm.ts (a Deno script)",
};

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
const { FakeClock } = require("edge-resilience/testing");
const { Hono } = require("hono");
assert.equal(CircuitState.HALF_OPEN, "half_open");
assert.equal(typeof new FakeClock().tick, "function");
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

// Throws from inside the package: the stack names the package's files.
const STACK_ESM = `
import { circuitBreaker } from "edge-resilience";
try {
  circuitBreaker({ name: "stack", failureThreshold: -1 });
} catch (e) {
  console.log(e.stack);
}
`;
const STACK_CJS = `
const { retry } = require("edge-resilience");
retry({ maxAttempts: 0 });
`;

// What a Node-based unit test of a Worker can import: the stores of edge-resilience/cloudflare
// (not the Durable Object class of edge-resilience/cloudflare/object), core + MemoryStore.
const WORKER_IN_NODE = `
import assert from "node:assert/strict";
import { CircuitOpenError, circuitBreaker, MemoryStore } from "edge-resilience";
import { durableObjectStore, workersKvStore } from "edge-resilience/cloudflare";
// The stores load and work outside workerd: a KV store over a Map, a DO store over a fake stub.
const kv = new Map();
const kvStore = workersKvStore({
  get: async (k) => kv.get(k) ?? null,
  put: async (k, v) => void kv.set(k, v),
});
const kvBreaker = circuitBreaker({ name: "kv-in-node", failureThreshold: 1, store: kvStore });
await kvBreaker.execute(() => Promise.reject(new Error("down"))).catch(() => {});
await assert.rejects(kvBreaker.execute(() => 1), CircuitOpenError);
assert.equal(typeof durableObjectStore({ idFromName: () => ({}), get: () => ({}) }), "object");
const cjs = (await import("node:module")).createRequire(import.meta.url)("edge-resilience/cloudflare");
assert.equal(typeof cjs.workersKvStore, "function");
assert.equal(cjs.CircuitBreakerObject, undefined);
// Only the Durable Object's own entry needs workerd.
// Node: ERR_UNSUPPORTED_ESM_URL_SCHEME; Bun: ERR_MODULE_NOT_FOUND ("cloudflare:workers").
await assert.rejects(import("edge-resilience/cloudflare/object"), (e) =>
  ["ERR_UNSUPPORTED_ESM_URL_SCHEME", "ERR_MODULE_NOT_FOUND"].includes(e.code) &&
  String(e).includes("cloudflare:"));
const store = new MemoryStore(); // stands in for durableObjectStore(env.CIRCUITS)
const a = circuitBreaker({ name: "upstream", failureThreshold: 1, store });
const b = circuitBreaker({ name: "upstream-other-isolate", failureThreshold: 1, store, storeKey: "upstream" });
await a.execute(() => Promise.reject(new Error("down"))).catch(() => {});
await assert.rejects(b.execute(() => 1), CircuitOpenError);
console.log("worker-in-node ok");
`;

// Type-checked in every mode; must compile without a single error.
const CONSUMER = `
import {
  circuitBreaker, compose, fallback, type CircuitStats, HealthStatus, retry, timeout,
} from "edge-resilience";
import { type ResilienceEnv, routeTimeout } from "edge-resilience/hono";
import { FakeClock } from "edge-resilience/testing";
import { type DenoKvStoreOptions, denoKvStore } from "edge-resilience/deno-kv";
import { type CircuitBreakerNamespace, durableObjectStore } from "edge-resilience/cloudflare";
import { CircuitBreakerObject } from "edge-resilience/cloudflare/object";
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
export const s: Promise<string> = new Api().get("1");
export const wrapped: (a: number, b: string) => Promise<boolean> = compose(retry(), timeout(5))(
  (a: number, b: string) => a > b.length,
);
export const stats: CircuitStats = circuitBreaker({ name: "x" }).getStats();
export const status: HealthStatus = "degraded";
export const clock: FakeClock = new FakeClock();
export const kv: DenoKvStoreOptions | undefined = undefined;
export const makeKv: typeof denoKvStore = denoKvStore;
export const doStore = (ns: CircuitBreakerNamespace) => durableObjectStore(ns);
export { CircuitBreakerObject };
export const app = new Hono<ResilienceEnv>();
app.get("/", routeTimeout(100), (c) => {
  const signal: AbortSignal = c.var.signal;
  return c.text(String(signal.aborted));
});
`;

// Proves the types are real (not \`any\`): each line must fail, in every mode.
const BAD = `
import { retry } from "edge-resilience";
import { FakeClock } from "edge-resilience/testing";
import { routeTimeout } from "edge-resilience/hono";
import { durableObjectStore } from "edge-resilience/cloudflare";
export const n: Promise<number> = retry()(async (x: string) => x)("a");
export const c: string = new FakeClock();
export const r = routeTimeout("100");
export const d = durableObjectStore(42);
`;
const BAD_ERRORS = ["6:TS2322", "7:TS2322", "8:TS2345", "9:TS2345"];

// What @cloudflare/workers-types (or \`wrangler types\`) gives a Workers project.
const WORKERS_TYPES = `
declare module "cloudflare:workers" {
  export abstract class DurableObject<Env = unknown> {
    protected ctx: unknown;
    protected env: Env;
    constructor(ctx: unknown, env: Env);
  }
}
`;

/** Module settings of each TypeScript consumer; files are named `<mode>/consumer.<ext>`. */
const MODES: { mode: string; ext: string; flags: string[] }[] = [
  { mode: "esm-nodenext", ext: "ts", flags: ["--module", "nodenext"] },
  {
    mode: "esm-bundler",
    ext: "ts",
    flags: ["--module", "esnext", "--moduleResolution", "bundler"],
  },
  { mode: "cjs-node16", ext: "cts", flags: ["--module", "node16"] },
  { mode: "cjs-nodenext", ext: "cts", flags: ["--module", "nodenext"] },
  { mode: "node10", ext: "ts", flags: ["--module", "commonjs", "--moduleResolution", "node10"] },
];

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Output (stdout and stderr) of a command that may fail. */
function shAny(cmd: string, args: string[], cwd: string): { code: number; out: string } {
  try {
    return { code: 0, out: sh(cmd, args, cwd) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

let consumerDir: string | undefined;
/**
 * Builds the package (plain `build_npm.ts`: the budgets must hold), packs it,
 * and installs the tarball into a fresh consumer project, once per run.
 * `hono` is linked from the repository's node_modules (no registry needed).
 */
function consumer(): string {
  if (consumerDir) return consumerDir;
  const build = shAny(denoPath()!, ["run", "-A", "build_npm.ts"], ROOT);
  assert.equal(build.code, 0, `build_npm.ts failed:\n${build.out}`);
  const dir = join(ROOT, ".ci/out/npm-consumer");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  sh("npm", ["pack", join(ROOT, "npm"), "--pack-destination", dir, "--silent"], dir);
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, "npm pack made a tarball");
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  sh("npm", ["install", `./${tarball}`, "--offline", "--no-audit", "--no-fund", "--silent"], dir);
  symlinkSync(realpathSync(join(ROOT, "node_modules/hono")), join(dir, "node_modules/hono"));
  return consumerDir = dir;
}

const installed = (dir: string) => join(dir, "node_modules/edge-resilience");

test("npm package: the build exits 0 with the budgets enforced; metadata", () => {
  const dir = consumer(); // asserts the plain build passed
  const pkg = JSON.parse(readFileSync(join(installed(dir), "package.json"), "utf8"));
  const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  assert.equal(pkg.version, deno.version);
  assert.equal(pkg.description, deno.description);
  assert.ok(pkg.description.length > 40, "a description indexes can show");
  assert.equal(pkg.license, "MIT");
  assert.ok(pkg.keywords.includes("circuit-breaker") && pkg.keywords.includes("hono"));
  assert.deepEqual(pkg.engines, { node: ">=20" }, "engines: what .ci/test.ts runs, Node 20");
  assert.equal(pkg.sideEffects, false);
  assert.equal(pkg.peerDependenciesMeta.hono.optional, true);
  // OpenTelemetry: only edge-resilience/otel imports it, an optional peer.
  assert.equal(pkg.peerDependencies["@opentelemetry/api"], "^1.3.0");
  assert.equal(pkg.peerDependenciesMeta["@opentelemetry/api"].optional, true);
  assert.equal(pkg.peerDependenciesMeta.redis.optional, true);
  assert.equal(pkg.peerDependenciesMeta.ioredis.optional, true);
  assert.equal(pkg.dependencies, undefined);
  assert.deepEqual(Object.keys(pkg.exports).sort(), [
    ".",
    "./cloudflare",
    "./cloudflare/object",
    "./deno-kv",
    "./hono",
    "./otel",
    "./redis",
    "./testing",
  ]);
  for (const [sub, conditions] of Object.entries(pkg.exports)) {
    for (const [cond, target] of Object.entries(conditions as Record<string, unknown>)) {
      const t = target as { types: string; default: string };
      assert.ok(existsSync(join(installed(dir), t.types)), `${sub} ${cond} types: ${t.types}`);
      assert.ok(existsSync(join(installed(dir), t.default)), `${sub} ${cond}: ${t.default}`);
    }
    if (sub !== ".") {
      const [types] = pkg.typesVersions["*"][sub.slice(2)];
      assert.ok(existsSync(join(installed(dir), types)), `typesVersions ${sub}: ${types}`);
    }
  }
}, DENO_ONLY);

test(
  "npm package: budgets fail the build with the figure, the budget and how to update it",
  async () => {
    // A non-literal specifier: the Node and Bun bundles of this file leave it alone.
    const build = new URL("../build_npm.ts", import.meta.url).href;
    const { BUDGETS, budgetOf, budgetProblems } = await import(build);
    const entry = BUDGETS[0];
    const budget = budgetOf(entry);
    assert.equal(budget, Math.ceil(entry.measured * 1.05));
    assert.deepEqual(budgetProblems([{ budget: entry, min: 1, gzip: budget }]), []);
    const [problem] = budgetProblems([{ budget: entry, min: 1, gzip: budget + 1 }]);
    assert.match(problem, new RegExp(`${budget + 1} B gzip exceeds its budget of ${budget} B`));
    assert.match(problem, /BUDGETS \(build_npm\.ts\)/);
    assert.match(problem, new RegExp(`measured: ${budget + 1}, date:`));
    for (const b of BUDGETS) assert.match(b.date, /^\d{4}-\d{2}-\d{2}\b/, `${b.name} has a date`);
  },
  DENO_ONLY,
);

test("npm package: works via ESM import and CJS require on Node and Bun", () => {
  const dir = consumer();
  const bun = bunPath();
  assert.ok(bun, "Bun is installed by `deno task test` (npm package bun, install script allowed)");
  writeFileSync(join(dir, "esm.mjs"), ESM);
  writeFileSync(join(dir, "cjs.cjs"), CJS);
  for (const runtime of ["node", bun]) {
    assert.match(sh(runtime, ["esm.mjs"], dir), /esm ok/, runtime);
    assert.match(sh(runtime, ["cjs.cjs"], dir), /cjs ok/, runtime);
  }
}, DENO_ONLY);

test(
  "npm package: TypeScript consumers compile for import and require in every resolution mode",
  () => {
    const dir = consumer();
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    writeFileSync(join(dir, "workers-types.d.ts"), WORKERS_TYPES);
    const failures: string[] = [];
    for (const { mode, ext, flags } of MODES) {
      mkdirSync(join(dir, mode), { recursive: true });
      writeFileSync(join(dir, mode, `consumer.${ext}`), CONSUMER);
      writeFileSync(join(dir, mode, `bad.${ext}`), BAD);
      const { out } = shAny("node", [
        tsc,
        "--noEmit",
        "--strict",
        "--target",
        "es2022",
        "--lib",
        "es2022,dom,dom.iterable",
        ...flags,
        "workers-types.d.ts",
        `${mode}/consumer.${ext}`,
        `${mode}/bad.${ext}`,
      ], dir);
      // Exactly the expected errors, all in bad.*: the consumer compiles, the types are real.
      const errors = [...out.matchAll(/^(\S+)\((\d+),\d+\): error (TS\d+)/gm)]
        .map(([, file, line, code]) => file.endsWith(`bad.${ext}`) ? `${line}:${code}` : out);
      try {
        assert.deepEqual(errors, BAD_ERRORS);
      } catch {
        failures.push(`${mode}:\n${out}`);
      }
    }
    assert.deepEqual(failures, []);
  },
  DENO_ONLY,
);

/** Every frame of `stack` inside the installed package names a file that exists. */
function framesExist(stack: string): string[] {
  const files = [...stack.matchAll(/\(?((?:file:\/\/)?\/[^\s()]+?):\d+:\d+\)?$/gm)]
    .map(([, f]) => f.replace(/^file:\/\//, ""))
    .filter((f) =>
      f.includes("/node_modules/edge-resilience/") || f.includes("/node_modules/src/")
    );
  assert.ok(files.length > 0, `the stack has frames in the package:\n${stack}`);
  return files.filter((f) => !existsSync(f));
}

test("npm package: source maps point at sources inside the package", () => {
  const dir = consumer();
  const pkg = installed(dir);
  const bad: string[] = [];
  let maps = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const f = join(d, name);
      if (statSync(f).isDirectory()) walk(f);
      else if (f.endsWith(".map")) {
        maps++;
        const map = JSON.parse(readFileSync(f, "utf8"));
        map.sources.forEach((s: string, i: number) => {
          const src = resolve(dirname(f), map.sourceRoot ?? "", s);
          if (!src.startsWith(pkg + "/") || !existsSync(src)) {
            bad.push(`${f.slice(pkg.length)}: ${s} is not in the package`);
          } else if (map.sourcesContent && map.sourcesContent[i] !== readFileSync(src, "utf8")) {
            bad.push(`${f.slice(pkg.length)}: sourcesContent of ${s} differs from the file`);
          }
        });
      }
    }
  };
  walk(pkg);
  assert.ok(maps > 40, `maps for the ESM, CJS and declaration files (found ${maps})`);
  assert.deepEqual(bad, []);

  // And what users see: Node's source-mapped stack traces name existing files.
  writeFileSync(join(dir, "stack.mjs"), STACK_ESM);
  writeFileSync(join(dir, "stack.cjs"), STACK_CJS);
  const esm = sh("node", ["--enable-source-maps", "stack.mjs"], dir);
  assert.match(esm, /failureThreshold/);
  assert.match(esm, /node_modules\/edge-resilience\/ts\/src\/circuit_breaker\/state\.ts:\d+/);
  assert.deepEqual(framesExist(esm), []);
  const cjs = shAny("node", ["--enable-source-maps", "stack.cjs"], dir);
  assert.notEqual(cjs.code, 0);
  assert.match(cjs.out, /maxAttempts/);
  assert.deepEqual(framesExist(cjs.out), []);
  assert.match(cjs.out, /node_modules\/edge-resilience\/ts\/src\/retry\.ts:\d+/);
}, DENO_ONLY);

test(
  "npm package: edge-resilience/cloudflare (the stores) loads and works in Node and Bun; only /cloudflare/object needs workerd",
  () => {
    const dir = consumer();
    writeFileSync(join(dir, "worker-in-node.mjs"), WORKER_IN_NODE);
    for (const runtime of ["node", bunPath()!]) {
      assert.match(sh(runtime, ["worker-in-node.mjs"], dir), /worker-in-node ok/, runtime);
    }
  },
  DENO_ONLY,
);
