// `deno task mutate [src/retry.ts …]`: mutation testing with StrykerJS 9
// (command runner: each mutant runs the relevant Deno test files; one at a
// time, since the suite uses real timers). One source file per Stryker run;
// for each: the score, and the surviving mutants listed in
// .ci/out/mutate/<file>.survivors.txt (the full report: <file>.json / .html).
// Not part of .ci/run: minutes per file.
//
//   npx -y deno@2.9.6 task mutate                   # TARGETS below, one file after another
//   npx -y deno@2.9.6 task mutate src/timeout.ts    # one file
//   npx -y deno@2.9.6 task mutate src/timeout.ts:40-90   # lines 40 to 90 of it
//
// Score = (killed + timed out) / (all − compile and runtime errors), Stryker's
// definition. The runs type-check nothing (`--no-check`): a mutant is judged by
// what the tests observe.

const ROOT = new URL("../", import.meta.url).pathname;
const OUT = `${ROOT}.ci/out/mutate`;
const STRYKER = "@stryker-mutator/core@9.6.1";

/** The source files `deno task mutate` covers when given none. */
export const TARGETS = [
  "src/retry.ts",
  // The breaker's files (src/circuit_breaker/), each against every breaker test.
  ...["state", "strategy", "events", "registry", "breaker"].map((f) =>
    `src/circuit_breaker/${f}.ts`
  ),
  "src/timeout.ts",
  "src/fallback.ts",
  "src/bulkhead.ts",
  "src/hedge.ts",
  "src/retry_budget.ts",
];

/**
 * The tests of a shared circuit (issue #17): the one machine runs in a local
 * breaker and, restored from a snapshot, in every store. The property tests
 * among them take `FC_RUNS` runs (run with `FC_RUNS=100` for speed).
 */
const SHARED_CIRCUIT = [
  "tests/shared_state_test.ts",
  "tests/shared_equals_local_test.ts",
  "tests/shared_differential_test.ts",
  "tests/shared_rate_test.ts",
];

/** Test files of another name that exercise a source file too. */
const EXTRA: Record<string, string[]> = {
  ...Object.fromEntries(
    ["machine", "reducer", "shared_data", "events", "breaker"].map((f) => [
      `src/circuit_breaker/${f}.ts`,
      SHARED_CIRCUIT,
    ]),
  ),
  "src/memory_store.ts": [
    "tests/store_listener_test.ts",
    "tests/rate_limit_shared_test.ts",
    ...SHARED_CIRCUIT,
  ],
  "src/deno_kv/store.ts": ["tests/shared_differential_test.ts", "tests/rate_limit_shared_test.ts"],
  "src/bulkhead.ts": ["tests/hono_bulkhead_test.ts", "tests/mutation_bulkhead_test.ts"],
  // The waiting queue of bulkhead and adaptiveConcurrency.
  "src/wait_queue.ts": [
    "tests/bulkhead_test.ts",
    "tests/mutation_bulkhead_test.ts",
    "tests/adaptive_test.ts",
    "tests/adaptive_property_test.ts",
  ],
  // The windows' saved form is exercised by the shared-rate tests (store round trips).
  "src/circuit_breaker/count_window.ts": ["tests/shared_rate_test.ts"],
  "src/circuit_breaker/time_window.ts": ["tests/shared_rate_test.ts"],
};

/**
 * The test files of a source file whose `testsFor` set is too slow to run per
 * mutant (every `hono_*` test, workerd ones included): the ones that reach it.
 * Its `tests/mutation_*` file is added when present.
 */
const ONLY: Record<string, string[]> = {
  // The link's transport, advisory broadcast, startup gate, permits (mutation tests by part),
  // the breaker tests that give a breaker a store, and the shared-circuit tests; not the
  // circuit_breaker_* tests of local breakers, which never load the link.
  "src/circuit_breaker/link.ts": [
    ...["advisory", "permits", "startup", "sync"].map((p) =>
      `tests/mutation_circuit_breaker_link_${p}_test.ts`
    ),
    "tests/circuit_breaker_test.ts",
    "tests/circuit_breaker_rules_test.ts",
    ...SHARED_CIRCUIT,
  ],
  // A store's rate rules and window (reached through shared_data.ts): the store-side tests,
  // not every circuit_breaker_* test (a local breaker never loads it).
  "src/circuit_breaker/shared_rules.ts": [
    "tests/mutation_circuit_breaker_shared_data_test.ts",
    "tests/mutation_circuit_breaker_reducer_test.ts",
    "tests/shared_rate_test.ts",
    "tests/shared_state_test.ts",
    "tests/shared_differential_test.ts",
  ],
  // The store port: keys (the link's `cb:` keys, the Cloudflare stores' prefixes), applyOp
  // (every store), sharedStore() (the link): their mutation tests and the fast store tests.
  "src/shared/keys.ts": [
    "tests/shared_state_test.ts",
    "tests/mutation_cloudflare_kv_store_test.ts",
    "tests/mutation_cloudflare_durable_object_store_test.ts",
  ],
  "src/shared/port.ts": ["tests/shared_state_test.ts", "tests/rate_limit_store_test.ts"],
  "src/shared/link_store.ts": ["tests/shared_state_test.ts", "tests/shared_rate_test.ts"],
  // The Cloudflare stores: every cloudflare_*_test.ts starts workerd (miniflare), seconds per
  // mutant; their mutation tests drive them through fakes (binding, namespace, KV, storage).
  "src/cloudflare/durable_object.ts": [],
  "src/cloudflare/durable_object_store.ts": ["tests/shared_state_test.ts"],
  "src/cloudflare/kv_store.ts": ["tests/shared_state_test.ts", "tests/rate_limit_store_test.ts"],
  "src/cloudflare/rate_limit_store.ts": ["tests/rate_limit_store_test.ts"],
  "src/hono/route_group.ts": [
    "tests/hono_circuit_breaker_test.ts",
    "tests/hono_route_keys_model_test.ts",
    "tests/route_keys_hash_test.ts",
    "tests/hono_circuit_breaker_rate_test.ts",
    "tests/hono_health_test.ts",
    "tests/status_page_test.ts",
  ],
  "src/hono/bulkhead.ts": ["tests/hono_bulkhead_test.ts", "tests/adapter_options_test.ts"],
  // Problem bodies (bulkhead, breaker, rate limit), waitUntil and the 504 (timeout, fetch).
  "src/hono/problem.ts": [
    "tests/hono_bulkhead_test.ts",
    "tests/hono_timeout_test.ts",
    "tests/hono_fetch_test.ts",
    "tests/hono_circuit_breaker_test.ts",
    "tests/hono_rate_limit_test.ts",
  ],
  "src/hono/timeout.ts": [
    "tests/hono_timeout_test.ts",
    "tests/hono_chaos_test.ts",
    "tests/hono_circuit_breaker_test.ts",
  ],
  // The store-backed circuits of /health and the status page.
  "src/hono/shared_circuits.ts": ["tests/hono_health_test.ts", "tests/status_page_test.ts"],
  "src/hono/circuit_breaker.ts": [
    "tests/hono_circuit_breaker_test.ts",
    "tests/hono_circuit_breaker_rate_test.ts",
    "tests/hono_edge_paths_test.ts",
    "tests/hono_fallback_test.ts",
    "tests/adapter_options_test.ts",
    "tests/telemetry_fixes_test.ts",
  ],
  "src/hono/rate_limit.ts": ["tests/hono_rate_limit_test.ts"],
  "src/hono/fallback.ts": ["tests/hono_fallback_test.ts"],
  "src/hono/health.ts": [
    "tests/hono_health_test.ts",
    "tests/mutation_hono_shared_circuits_test.ts",
  ],
  // resilientFetch: retries, Retry-After, deadlines, signals, budget, hedging, breaker, options.
  "src/hono/fetch.ts": [
    "tests/hono_fetch_test.ts",
    "tests/hono_fetch_capacity_test.ts",
    "tests/hono_fetch_gc_test.ts",
    "tests/hono_edge_paths_test.ts",
    "tests/adapter_options_test.ts",
  ],
  // Which circuits /health and the status page report (breakers, route middlewares, app routes).
  "src/hono/circuit_sources.ts": [
    "tests/hono_health_test.ts",
    "tests/mutation_hono_health_test.ts",
    "tests/mutation_hono_shared_circuits_test.ts",
    "tests/mutation_hono_route_group_test.ts",
    "tests/status_page_test.ts",
    "tests/status_page_ids_test.ts",
    "tests/status_page_review_test.ts",
  ],
  // The route's adaptive concurrency (adaptive_test, 12 s, reaches it only for one option check).
  "src/hono/adaptive_concurrency.ts": [
    "tests/adaptive_hono_test.ts",
    "tests/telemetry_fixes_test.ts",
  ],
  // The route breaker's options: refused, compared when shared, store key prefixes claimed.
  "src/hono/route_options.ts": [
    "tests/mutation_hono_circuit_breaker_test.ts",
    "tests/mutation_hono_route_group_test.ts",
    "tests/hono_circuit_breaker_test.ts",
    "tests/adapter_options_test.ts",
  ],
};

/**
 * The test files of `src/<name>.ts`: `tests/<name>_test.ts` and every
 * `tests/<name>_*_test.ts` (e.g. retry_budget_test.ts), and the tests written
 * to kill its mutants, `tests/mutation_<name>_test.ts`; for a file in a
 * folder, `src/<dir>/<file>.ts`, those of `<dir>_<file>` and of `<dir>` (so
 * src/circuit_breaker/state.ts gets every circuit_breaker*_test.ts). The
 * shared ones below are added.
 */
export function testsFor(file: string): string[] {
  const name = file.replace(/^src\//, "").replace(/\.ts$/, "");
  const mine = `tests/mutation_${name.replaceAll("/", "_")}_test.ts`;
  if (ONLY[file]) {
    const exists = [...Deno.readDirSync(`${ROOT}tests`)].some((e) => `tests/${e.name}` === mine);
    return exists ? [mine, ...ONLY[file]] : ONLY[file];
  }
  const prefixes = [name.replaceAll("/", "_")];
  if (name.includes("/")) prefixes.push(name.slice(0, name.indexOf("/")));
  const own = [...Deno.readDirSync(`${ROOT}tests`)]
    .map((e) => e.name)
    .filter((n) =>
      prefixes.some((p) =>
        n === `${p}_test.ts` || n === `mutation_${p}_test.ts` ||
        (n.startsWith(`${p}_`) && n.endsWith("_test.ts"))
      )
    )
    .sort()
    .map((n) => `tests/${n}`);
  return [...new Set([...own, ...(EXTRA[file] ?? [])])];
}
/** Tests every pattern answers to: composition and option checking. */
const SHARED = ["tests/compose_test.ts", "tests/options_test.ts"];
/** Test files that take seconds (run last). */
const SLOW = ["tests/shared_equals_local_test.ts", "tests/shared_differential_test.ts"];

interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}

/**
 * Stryker's score and the survivors (including mutants no test reached), each
 * with its place, mutator, replacement and the original line.
 */
export function summarize(file: string, mutants: Mutant[], source = "") {
  const lines = source.split("\n");
  const count = (...s: string[]) => mutants.filter((m) => s.includes(m.status)).length;
  const detected = count("Killed", "Timeout");
  const valid = mutants.length - count("CompileError", "RuntimeError", "Ignored");
  const survivors = mutants
    .filter((m) => m.status === "Survived" || m.status === "NoCoverage")
    .sort((a, b) => a.location.start.line - b.location.start.line || +a.id - +b.id);
  return {
    file,
    score: valid ? (100 * detected) / valid : 100,
    killed: count("Killed"),
    timeout: count("Timeout"),
    survived: survivors.length,
    errors: count("CompileError", "RuntimeError"),
    total: mutants.length,
    survivors: survivors.map((m) =>
      `${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName}` +
      ` → ${(m.replacement ?? "").replace(/\s+/g, " ").slice(0, 120)}` +
      `    | ${(lines[m.location.start.line - 1] ?? "").trim().slice(0, 120)}`
    ),
  };
}

async function mutate(file: string, range?: string): Promise<ReturnType<typeof summarize>> {
  // With --fail-fast a killed mutant costs the tests before the first that fails: the
  // mutation tests first, the slow property suites last.
  // Then the tests named in EXTRA (for the store side of a shared circuit, those are the
  // ones that reach it).
  const extra = EXTRA[file] ?? [];
  const rank = (t: string) =>
    t.includes("/mutation_") ? 0 : SLOW.includes(t) ? 3 : extra.includes(t) ? 1 : 2;
  const tests = [...testsFor(file), ...SHARED].sort((a, b) => rank(a) - rank(b));
  const name = file.replace(/^src\//, "").replace(/\.ts$/, "").replaceAll("/", "_");
  const config = {
    mutate: [range ?? file],
    testRunner: "command",
    commandRunner: {
      command: `"${Deno.execPath()}" test -A --unstable-kv --no-check --quiet --fail-fast ${
        tests.join(" ")
      }`,
    },
    concurrency: 1,
    reporters: ["progress", "json", "html"],
    jsonReporter: { fileName: `.ci/out/mutate/${name}.json` },
    htmlReporter: { fileName: `.ci/out/mutate/${name}.html` },
    tempDirName: ".ci/out/stryker-tmp",
    ignorePatterns: ["npm", ".ci/out", ".demo", "bench", "docs"],
    cleanTempDir: true,
    timeoutMS: 10_000,
  };
  const configFile = `${OUT}/${name}.stryker.json`;
  await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2));
  console.log(`\n=== ${file} (tests: ${tests.join(", ")}) ===`);
  const run = await new Deno.Command("npx", {
    args: ["-y", "-p", STRYKER, "stryker", "run", configFile],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!run.success) throw new Error(`stryker failed on ${file}`);
  const report = JSON.parse(await Deno.readTextFile(`${OUT}/${name}.json`));
  const s = summarize(file, report.files[file].mutants, report.files[file].source);
  await Deno.writeTextFile(`${OUT}/${name}.survivors.txt`, s.survivors.join("\n") + "\n");
  return s;
}

/**
 * `deno task mutate --recheck <file>`: runs every mutant that survived the
 * last run of `<file>` (its `.ci/out/mutate/<file>.json`) again against the
 * file's tests as they are now (the tests written since included), one at a
 * time, the source mutated in place and restored after each. Prints which
 * are killed now and which still survive (to list as equivalent, or to test).
 */
async function recheck(file: string): Promise<void> {
  const name = file.replace(/^src\//, "").replace(/\.ts$/, "").replaceAll("/", "_");
  const report = JSON.parse(await Deno.readTextFile(`${OUT}/${name}.json`));
  const path = `${ROOT}${file}`;
  const source = await Deno.readTextFile(path);
  const lines = source.split("\n");
  const offset = (p: { line: number; column: number }) =>
    lines.slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0) + p.column - 1;
  const tests = [...testsFor(file), ...SHARED];
  const mutants = (report.files[file].mutants as (Mutant & {
    location: { end: { line: number; column: number } };
  })[]).filter((m) => m.status === "Survived" || m.status === "NoCoverage");
  const still: Mutant[] = [];
  try {
    for (const m of mutants) {
      // Stryker's replacement is the mutated node's code: parenthesized, so that it keeps
      // its place in the expression around it (a block stays a block).
      const r = m.mutatorName === "BlockStatement" ? m.replacement : `(${m.replacement})`;
      const mutated = source.slice(0, offset(m.location.start)) + r +
        source.slice(offset(m.location.end));
      await Deno.writeTextFile(path, mutated);
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--unstable-kv", "--no-check", "--quiet", "--fail-fast", ...tests],
        cwd: ROOT,
        stdout: "null",
        stderr: "null",
      }).output();
      if (run.success) still.push({ ...m, status: "Survived" });
      console.log(`${run.success ? "survived" : "killed  "} #${m.id}`);
    }
  } finally {
    await Deno.writeTextFile(path, source);
  }
  const s = summarize(file, still, source);
  console.log(
    `\n${file}: ${mutants.length - still.length} of ${mutants.length} survivors killed now`,
  );
  for (const l of s.survivors) console.log(`  ${l}`);
}

if (import.meta.main && Deno.args[0] === "--recheck") {
  for (const f of Deno.args.slice(1)) await recheck(f);
} else if (import.meta.main) {
  const args = Deno.args.length ? Deno.args : TARGETS;
  for (const a of args) {
    const f = a.replace(/:[\d-]+$/, "");
    if (!testsFor(f).length) throw new Error(`no tests/${f.slice(4, -3)}_test.ts for ${f}`);
  }
  await Deno.mkdir(OUT, { recursive: true });
  const results = [];
  for (const a of args) {
    const f = a.replace(/:[\d-]+$/, "");
    results.push(await mutate(f, a === f ? undefined : a));
  }
  console.log("\nmutation score (killed + timed out of valid mutants):");
  for (const r of results) {
    console.log(
      `  ${r.file.padEnd(24)} ${
        r.score.toFixed(1).padStart(5)
      }%  ${r.killed} killed, ${r.timeout} timed out, ${r.survived} survived, ${r.errors} errors, ${r.total} mutants`,
    );
  }
  console.log(`survivors: ${OUT.slice(ROOT.length)}/<file>.survivors.txt`);
}
