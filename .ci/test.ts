// The test runner behind `deno task test` (and so `.ci/run`):
//
//   1. static checks (fmt, lint, type check with doc examples, doc lint, the entries type-checked
//      without the DOM lib)
//   2. the npm build (build_npm.ts), with the bundle sizes printed and their budgets enforced,
//      then the documentation checks (.ci/snippets.ts, .ci/links.ts, .ci/workers.ts)
//   3. the suite on Deno, from source
//   4. the same suite on Node 20, against the built package
//   5. the same suite on Bun, against the built package
//   6. the same suite inside workerd (miniflare), but for the files that need what a Worker lacks
//      (servers, child processes, the source tree, gc): their tests are reported skipped, by name
//
// and ends with one line: `tests: N passed, M failed, K skipped`.
import { Miniflare } from "miniflare";
import { bundleTests, bundleWorker } from "./bundle_tests.ts";
import { junitCounts, uncaughtErrors } from "./junit.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const OUT = `${ROOT}.ci/out`;
await Deno.mkdir(OUT, { recursive: true });

interface Tally {
  runtime: string;
  passed: number;
  failed: number;
  skipped: number;
}
const tallies: Tally[] = [];
const only = Deno.env.get("ONLY_RUNTIMES")?.split(",");
const wanted = (r: string) => !only || only.includes(r);

/**
 * Runs a command from the repository root. With `capture`, its output is still shown as it comes
 * and also returned.
 */
async function run(cmd: string, args: string[], capture = false) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdout: capture ? "piped" : "inherit",
    stderr: capture ? "piped" : "inherit",
  }).spawn();
  let text = "";
  const tee = async (from: ReadableStream<Uint8Array> | null, to: typeof Deno.stdout) => {
    if (!from) return;
    const decoder = new TextDecoder();
    for await (const chunk of from) {
      text += decoder.decode(chunk, { stream: true });
      await to.write(chunk);
    }
  };
  await Promise.all(
    capture ? [tee(child.stdout, Deno.stdout), tee(child.stderr, Deno.stderr)] : [],
  );
  const { code } = await child.status;
  return { code, text };
}

function banner(s: string) {
  console.log(`\n=== ${s} ===`);
}

const TEST_FILES = [...Deno.readDirSync(`${ROOT}tests`)]
  .map((e) => e.name)
  .filter((n) => n.endsWith("_test.ts"))
  .sort()
  .map((n) => `tests/${n}`);

/**
 * Test files that run inside workerd too (everything they import loads in a Worker with
 * `nodejs_compat`): core, Hono middleware, stores with fakes. A test in them that cannot run there
 * says so by its `runtimes` (tests/_harness.ts) and is reported skipped with its reason.
 */
const CONFORMANCE = [
  "adaptive",
  "adaptive_hono",
  "adaptive_property",
  "adaptive_review",
  "adaptive_simulation",
  "bulkhead",
  "chaos",
  "chaos_review",
  "ci_junit",
  "circuit_breaker",
  "circuit_breaker_model",
  "circuit_breaker_ported",
  "circuit_breaker_rate",
  "circuit_breaker_rules",
  "circuit_breaker_window",
  "compose",
  "context",
  "decorators",
  "default_logger",
  "deno_kv",
  "docs_checkers",
  "errors",
  "fallback",
  "harness",
  "health_check",
  "hedge",
  "hono_bulkhead",
  "hono_chaos",
  "hono_circuit_breaker",
  "hono_circuit_breaker_rate",
  "hono_edge_paths",
  "hono_fallback",
  "hono_fetch",
  "hono_fetch_capacity",
  "hono_health",
  "hono_route_keys_model",
  "hono_timeout",
  "hono_rate_limit",
  "logger",
  "misuse",
  "mutation_bulkhead",
  "mutation_circuit_breaker_shared_rules",
  "mutation_circuit_breaker_time_window",
  "mutation_fallback",
  "mutation_hedge",
  "mutation_retry",
  "mutation_shared_keys",
  "mutation_shared_link_store",
  "mutation_shared_port",
  "rate_limit",
  "rate_limit_example",
  "rate_limit_lease",
  "rate_limit_model",
  "rate_limit_store",
  "mutation_retry_budget",
  "mutation_timeout",
  "options",
  "otel",
  "otel_review",
  "retry",
  "retry_budget",
  "route_keys_hash",
  "scheduler",
  "rate_limit_shared",
  "shared_differential",
  "shared_equals_local",
  "shared_rate",
  "shared_state",
  "status_page",
  "status_page_ids",
  "status_page_review",
  "store_listener",
  "telemetry",
  "telemetry_async",
  "telemetry_fixes",
  "telemetry_review",
  "timeout",
  "types",
].map((n) => `tests/${n}_test.ts`);

/** Why each other test file cannot run inside workerd: its tests are reported skipped there. */
const NOT_IN_WORKERD: Record<string, string> = {
  circuit_breaker_imports: "reads the source tree from disk",
  core_imports: "reads the source tree from disk",
  cloudflare: "starts workerd itself (miniflare) to test the Durable Object and KV stores",
  cloudflare_rate: "starts workerd itself (miniflare) to test the Durable Object store",
  cloudflare_rate_limit:
    "starts workerd itself (miniflare): Workers sharing the Durable Object and the Rate Limiting binding",
  deno_kv_rate: "spawns deno processes sharing a Deno KV file",
  decorators_tsc: "compiles with tsc and esbuild, then runs Node",
  demo: "spawns the demo (Deno processes)",
  demo_install: "reads deno.json and the lockfiles, runs `deno info`",
  errors_minify: "bundles with esbuild and imports the bundle from a file",
  examples: "serves the example app and a loopback upstream, spawns Deno, Node, Bun and miniflare",
  redis_breaker: "starts a redis-server (a process) and connects to it",
  redis_cluster: "starts a redis-server cluster (processes) and connects to it",
  redis_faults: "starts, stops and pauses a redis-server (a process)",
  redis_options: "loads node-redis and ioredis clients (Node's net module)",
  redis_processes: "spawns child processes sharing a redis-server",
  redis_rate: "starts a redis-server (a process) and connects to it",
  redis_store: "starts a redis-server (a process) and connects to it",
  hono_chaos_server: "serves a real HTTP server to cut connections, which a Worker cannot",
  hono_fetch_gc: "serves a loopback upstream and forces garbage collections, which a Worker cannot",
  hono_health_workerd: "starts workerd itself (miniflare) to run a Worker",
  hono_workerd: "starts workerd itself (miniflare) to run a Worker",
  hono_workerd_abort: "starts workerd itself (miniflare) to run a Worker",
  npm_package: "packs the npm package and spawns Node, Bun and Deno on it",
  process_exit: "spawns the runtime running the suite to watch a program exit",
  publish_files: "runs `deno publish --dry-run`",
  status_page_browser:
    "serves the page on loopback and drives a headless Chromium (a child process)",
};
const notInWorkerd = (f: string) =>
  NOT_IN_WORKERD[f.replace(/^tests\//, "").replace(/_test\.ts$/, "")] ??
    "not listed in CONFORMANCE (.ci/test.ts)";

// 1. Static checks count as one test.
banner("static checks (deno task check)");
const check = await run(Deno.execPath(), ["task", "check"]);
console.log(`static checks ... ${check.code === 0 ? "ok" : "FAILED"}`);
tallies.push({
  runtime: "static checks",
  passed: +(check.code === 0),
  failed: +(check.code !== 0),
  skipped: 0,
});

// 2. The npm build counts as one test (it also prints the bundle sizes).
banner("npm build (build_npm.ts)");
// The size budgets are enforced: an entry grown past its budget fails the build (BUDGETS in build_npm.ts).
const build = await run(Deno.execPath(), ["run", "-A", "build_npm.ts"]);
tallies.push({
  runtime: "npm build",
  passed: +(build.code === 0),
  failed: +(build.code !== 0),
  skipped: 0,
});

// Documentation: snippets type-checked and run, links, the Workers project (each a tally).
for (
  const [runtime, script] of [
    ["docs: snippets", ".ci/snippets.ts"],
    ["docs: links", ".ci/links.ts"],
    ["docs: workers", ".ci/workers.ts"],
  ]
) {
  banner(`${runtime} (${script})`);
  const r = build.code === 0 || script !== ".ci/workers.ts"
    ? await run(Deno.execPath(), ["run", "-A", script], true)
    : { code: 1, text: "" };
  const m = r.text.match(/^\w+: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/m);
  const t = { runtime, passed: Number(m?.[1] ?? 0), failed: Number(m?.[2] ?? 0), skipped: 0 };
  t.skipped = Number(m?.[3] ?? 0);
  if (r.code !== 0 && t.failed === 0) t.failed = 1;
  tallies.push(t);
}

// 3. Deno, from source.
if (wanted("deno")) {
  banner("Deno (from source)");
  const junit = `${OUT}/junit-deno.xml`;
  await Deno.remove(junit).catch(() => {});
  const { code, text } = await run(Deno.execPath(), [
    "test",
    "-A",
    "--unstable-kv",
    `--junit-path=${junit}`,
  ], true);
  const t: Tally = { runtime: "deno", passed: 0, failed: 0, skipped: 0 };
  try {
    // Per test case: ignored tests are marked there (and by `disabled` on their suite), not in a
    // `skipped` attribute of the whole report (.ci/junit.ts).
    Object.assign(t, junitCounts(await Deno.readTextFile(junit)));
  } catch { /* no report: the run failed before testing */ }
  // A module failed by an uncaught error is in Deno's output, not in its JUnit file.
  t.failed += uncaughtErrors(text).length;
  if (code !== 0 && t.failed === 0) t.failed = 1;
  tallies.push(t);
}

// 4 and 5. Node and Bun, against the built package.
const bundled = build.code === 0 && (wanted("node") || wanted("bun"))
  ? await bundleTests(TEST_FILES, `${OUT}/node`)
  : [];

if (wanted("node")) {
  banner("Node (built package)");
  if (build.code !== 0) tallies.push({ runtime: "node", passed: 0, failed: 1, skipped: 0 });
  else {
    const { code, text } = await run(
      "node",
      // --expose-gc: tests/hono_fetch_gc_test.ts forces collections mid-flight (it would also
      // expose gc itself, through node:v8 and node:vm, as it does on Deno).
      ["--expose-gc", "--test", "--test-reporter=tap", ...bundled],
      true,
    );
    const n = (k: string) => Number(text.match(new RegExp(`^# ${k} (\\d+)$`, "m"))?.[1] ?? 0);
    const t = {
      runtime: "node",
      passed: n("pass"),
      failed: n("fail") + n("cancelled"),
      skipped: n("skipped"),
    };
    if (code !== 0 && t.failed === 0) t.failed = 1;
    tallies.push(t);
  }
}

if (wanted("bun")) {
  banner("Bun (built package)");
  const bun = `${ROOT}node_modules/bun/bin/bun.exe`;
  if (build.code !== 0) tallies.push({ runtime: "bun", passed: 0, failed: 1, skipped: 0 });
  else {
    const { code, text } = await run(
      bun,
      // Bun's default per-test timeout is 5 s; the property tests take longer on a loaded machine.
      ["test", "--timeout=300000", ...bundled.map((f) => f.replace(ROOT, "./"))],
      true,
    );
    const n = (k: string) => Number(text.match(new RegExp(`^\\s*(\\d+) ${k}$`, "m"))?.[1] ?? 0);
    const t = { runtime: "bun", passed: n("pass"), failed: n("fail"), skipped: n("skip") };
    if (code !== 0 && t.failed === 0) t.failed = 1;
    tallies.push(t);
  }
}

// 6. workerd: the test files that can run there, in a real Worker; the tests of the others are
// listed (.ci/list_tests.ts) and reported skipped, one by one, with the reason.
if (wanted("workerd")) {
  banner("workerd (miniflare, built package)");
  const t: Tally = { runtime: "workerd", passed: 0, failed: 0, skipped: 0 };
  const notHere = TEST_FILES.filter((f) => !CONFORMANCE.includes(f));
  const listed = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", ".ci/list_tests.ts", ...notHere],
    cwd: ROOT,
    stderr: "inherit",
  }).output();
  try {
    if (listed.code !== 0) throw new Error(`exit code ${listed.code}`);
    const lines = new TextDecoder().decode(listed.stdout).trim().split("\n");
    const names = JSON.parse(lines[lines.length - 1]) as Record<string, string[]>;
    for (const f of notHere) {
      for (const n of names[f]) console.log(`skipped ${n} [${f}: ${notInWorkerd(f)}]`);
      t.skipped += names[f].length;
    }
  } catch (e) {
    console.log(`FAILED  listing the tests workerd does not run: ${e}`);
    t.failed++;
  }
  if (build.code !== 0) t.failed++;
  else {
    let mf: Miniflare | undefined;
    try {
      mf = new Miniflare({
        modules: true,
        script: await bundleWorker(CONFORMANCE),
        // node:fs (for test files that use it in tests that workerd skips) needs 2025-09-15.
        compatibilityDate: "2025-09-15",
        compatibilityFlags: ["nodejs_compat"],
      });
      const res = await mf.dispatchFetch("http://localhost/");
      const r = await res.json() as {
        passed: string[];
        failed: { name: string; error: string }[];
        skipped: string[];
      };
      for (const n of r.passed) console.log(`ok      ${n}`);
      for (const n of r.skipped) console.log(`skipped ${n}`);
      for (const f of r.failed) console.log(`FAILED  ${f.name}\n${f.error}`);
      t.passed += r.passed.length;
      t.failed += r.failed.length;
      t.skipped += r.skipped.length;
    } catch (e) {
      console.log(`workerd run failed: ${e}`);
      t.failed++;
    } finally {
      await mf?.dispose().catch(() => {});
    }
  }
  tallies.push(t);
}

banner("summary");
let passed = 0;
let failed = 0;
let skipped = 0;
for (const t of tallies) {
  console.log(
    `${t.runtime.padEnd(14)} ${t.passed} passed, ${t.failed} failed${
      t.skipped ? `, ${t.skipped} skipped` : ""
    }`,
  );
  passed += t.passed;
  failed += t.failed;
  skipped += t.skipped;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
Deno.exit(failed > 0 ? 1 : 0);
