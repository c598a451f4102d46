// The test runner behind `deno task test` (and so `.ci/run`):
//
//   1. static checks (fmt, lint, type check with doc examples, doc lint)
//   2. the npm build (build_npm.ts), with the bundle sizes printed and their budgets enforced,
//      then the documentation checks (.ci/snippets.ts, .ci/links.ts, .ci/workers.ts)
//   3. the suite on Deno, from source
//   4. the same suite on Node 20, against the built package
//   5. the same suite on Bun, against the built package
//   6. the core conformance tests inside workerd (miniflare)
//
// and ends with one line: `tests: N passed, M failed[, K skipped]`.
import { Miniflare } from "miniflare";
import { bundleTests, bundleWorker } from "./bundle_tests.ts";

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

async function run(cmd: string, args: string[], capture = false) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdout: capture ? "piped" : "inherit",
    stderr: capture ? "piped" : "inherit",
  }).output();
  const text = capture
    ? new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr)
    : "";
  if (capture) await Deno.stdout.write(new TextEncoder().encode(text));
  return { code: out.code, text };
}

function banner(s: string) {
  console.log(`\n=== ${s} ===`);
}

const TEST_FILES = [...Deno.readDirSync(`${ROOT}tests`)]
  .map((e) => e.name)
  .filter((n) => n.endsWith("_test.ts"))
  .sort()
  .map((n) => `tests/${n}`);

/** Tests that need no Node API beyond node:assert (core and Hono middleware): run inside workerd. */
const CONFORMANCE = [
  "mutation_circuit_breaker_time_window",
  "bulkhead",
  "circuit_breaker",
  "circuit_breaker_model",
  "circuit_breaker_ported",
  "circuit_breaker_rules",
  "circuit_breaker_rate",
  "circuit_breaker_window",
  "compose",
  "context",
  "fallback",
  "harness",
  "health_check",
  "hedge",
  "hono_bulkhead",
  "hono_fetch_capacity",
  "hono_circuit_breaker",
  "hono_circuit_breaker_rate",
  "hono_fallback",
  "hono_health",
  "hono_rate_limit",
  "logger",
  "mutation_bulkhead",
  "mutation_fallback",
  "mutation_hedge",
  "mutation_retry",
  "rate_limit",
  "rate_limit_example",
  "rate_limit_model",
  "rate_limit_store",
  "mutation_retry_budget",
  "mutation_timeout",
  "options",
  "retry",
  "retry_budget",
  "scheduler",
  "shared_rate",
  "shared_state",
  "timeout",
].map((n) => `tests/${n}_test.ts`);

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
  const { code } = await run(Deno.execPath(), [
    "test",
    "-A",
    "--unstable-kv",
    `--junit-path=${junit}`,
  ]);
  let t: Tally = { runtime: "deno", passed: 0, failed: 0, skipped: 0 };
  try {
    const xml = await Deno.readTextFile(junit);
    const m = xml.match(/<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"/);
    const e = xml.match(/<testsuites[^>]*\berrors="(\d+)"/);
    const s = xml.match(/<testsuites[^>]*\bskipped="(\d+)"/);
    if (m) {
      const failed = Number(m[2]) + Number(e?.[1] ?? 0);
      const skipped = Number(s?.[1] ?? 0);
      t = { runtime: "deno", passed: Number(m[1]) - failed - skipped, failed, skipped };
    }
  } catch { /* no report: the run failed before testing */ }
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
      // --expose-gc: tests/hono_fetch_gc_test.ts forces collections mid-flight.
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
      ["test", ...bundled.map((f) => f.replace(ROOT, "./"))],
      true,
    );
    const n = (k: string) => Number(text.match(new RegExp(`^\\s*(\\d+) ${k}$`, "m"))?.[1] ?? 0);
    const t = { runtime: "bun", passed: n("pass"), failed: n("fail"), skipped: n("skip") };
    if (code !== 0 && t.failed === 0) t.failed = 1;
    tallies.push(t);
  }
}

// 6. workerd: the core conformance tests in a real Worker.
if (wanted("workerd")) {
  banner("workerd (miniflare, built package)");
  const notHere = TEST_FILES.filter((f) => !CONFORMANCE.includes(f));
  console.log(
    `not run in workerd (they need Node APIs — servers, child processes, files, miniflare itself): ${
      notHere.join(", ")
    }`,
  );
  const t: Tally = { runtime: "workerd", passed: 0, failed: 0, skipped: 0 };
  if (build.code !== 0) t.failed = 1;
  else {
    const mf = new Miniflare({
      modules: true,
      script: await bundleWorker(CONFORMANCE),
      compatibilityDate: "2025-01-01",
      compatibilityFlags: ["nodejs_compat"],
    });
    try {
      const res = await mf.dispatchFetch("http://localhost/");
      const r = await res.json() as {
        passed: string[];
        failed: { name: string; error: string }[];
        skipped: string[];
      };
      for (const n of r.passed) console.log(`ok      ${n}`);
      for (const n of r.skipped) console.log(`skipped ${n}`);
      for (const f of r.failed) console.log(`FAILED  ${f.name}\n${f.error}`);
      t.passed = r.passed.length;
      t.failed = r.failed.length;
      t.skipped = r.skipped.length;
    } catch (e) {
      console.log(`workerd run failed: ${e}`);
      t.failed = 1;
    } finally {
      await mf.dispose().catch(() => {});
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
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
Deno.exit(failed > 0 ? 1 : 0);
