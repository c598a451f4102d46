/**
 * Builds the npm package into `npm/` (what dnt would do, with esbuild for the
 * JavaScript and the TypeScript compiler for the declarations):
 *
 * - `npm/esm/**.js` (ES modules) and `npm/cjs/**.js` (CommonJS, under a
 *   `{ "type": "commonjs" }` package.json), one file per source file;
 *   relative `.ts` specifiers become `.js`;
 * - declarations next to each: `npm/esm/**.d.ts` are read as ES module types,
 *   `npm/cjs/**.d.ts` as CommonJS types, so `import` and `require` both get
 *   types of their own format (node16/nodenext, bundler); `typesVersions`
 *   maps the subpaths for `moduleResolution: node10`;
 * - the TypeScript sources in `npm/ts/` (the repository's layout), and source
 *   maps (`.js.map`, `.d.ts.map`) whose `sources` point there, with
 *   `sourcesContent`: stack traces and "go to definition" name files that
 *   exist in the installed package;
 * - `npm/package.json` with an `exports` map for `.` and every subpath,
 *   `sideEffects: false`, `engines`, and `hono`, `redis` and `ioredis` as optional peers;
 * - README and LICENSE;
 * - checks: no `.ts` specifier and no `Deno` global left in the output, every
 *   map's sources inside the package, and the bundle-size budgets
 *   ({@linkcode BUDGETS}, minified + gzip, measured with esbuild): the build
 *   fails when one is exceeded.
 *
 *   npx -y deno@2.9.6 task build:npm            # build, measure, check budgets
 *   npx -y deno@2.9.6 task build:npm --write    # also write docs/_generated/sizes.{md,json}
 *
 * (`--ignore-budgets` reports an exceeded budget without failing: for tools
 * that need the build, not its size verdict, like bench/report.ts; CI never
 * passes it.)
 *
 * @module
 */
import * as esbuild from "esbuild";
import ts from "typescript";
import { gzipSync } from "node:zlib";

const ROOT = new URL(".", import.meta.url).pathname;
const OUT = ROOT + "npm/";
/** Where `--write` puts the size table the docs include. */
export const SIZES_FILE = "docs/_generated/sizes.md";

/** Public entry points: subpath → source file. */
export const ENTRIES: Record<string, string> = {
  ".": "mod.ts",
  "./testing": "src/testing/mod.ts",
  "./hono": "src/hono/mod.ts",
  "./cloudflare": "src/cloudflare/mod.ts",
  "./cloudflare/object": "src/cloudflare/object.ts",
  "./deno-kv": "src/deno_kv/mod.ts",
  "./otel": "src/otel/mod.ts",
  "./redis": "src/redis/mod.ts",
};

/** What package indexes show (the description is deno.json's). */
const KEYWORDS = [
  "retry",
  "circuit-breaker",
  "timeout",
  "fallback",
  "health-check",
  "resilience",
  "hono",
  "middleware",
  "cloudflare-workers",
  "durable-objects",
  "deno",
  "bun",
  "edge",
];

/** The allowed growth over the measured size: budget = measured × (1 + this). */
export const BUDGET_MARGIN = 0.05;

/** One measured import: what it pulls in, and its size budget. */
export interface Budget {
  /** How the report names it. */
  name: string;
  /** The module whose bundle is measured (resolved from the repository root). */
  code: string;
  /**
   * The gzip size in bytes measured when the budget was last set on purpose;
   * the budget is this plus {@linkcode BUDGET_MARGIN}.
   */
  measured: number;
  /** When `measured` was taken (YYYY-MM-DD), and on what. */
  date: string;
  /** cockatiel's equivalent import, measured the same way for comparison. */
  cockatiel?: string;
}

/**
 * Size budgets: regression guards, not targets. Each entry's budget is its
 * gzip size when last measured on purpose plus 5%. When a change makes an
 * entry grow past it and the growth is deliberate, update `measured` and
 * `date` of that entry in the same commit and say why in the message.
 */
export const BUDGETS: Budget[] = [
  {
    name: "everything in mod.ts",
    code: 'export * from "./mod.ts";',
    measured: 34771,
    date:
      "2026-12-07, the telemetry channel (issue #20): every policy reports to subscribe() behind one flag, call events from createPolicy, policies() held weakly; then (+0.22 KB) the third review of shared circuits (#17): unacknowledged commands applied on top of answers, startup gate after a failed first read, report and command times moved onto the store's clock (sentAt, transit estimate), permits of callers that left",
    cockatiel: 'export * from "cockatiel";',
  },
  {
    name: "retry alone",
    code: 'export { retry } from "./mod.ts";',
    measured: 5931,
    date:
      "2026-12-07, the telemetry channel (issue #20): every policy reports to subscribe() behind one flag, call events from createPolicy, policies() held weakly; then (+0.35 KB: 0.19 KB of later changes on main, 0.16 KB of) the review of issue #20: breakers' isFailureResult failures and route clients gone in call events, frozen events, one name per policy, any thrown value described",
    cockatiel: 'export { retry, handleAll, ExponentialBackoff } from "cockatiel";',
  },
  {
    name: "circuitBreaker alone",
    code: 'export { circuitBreaker } from "./mod.ts";',
    measured: 10288,
    date:
      "2026-12-07, second reviews of #17-#20: a throwing logger never fails a call, printable log values, frozen events, rate-limit fixes",
    cockatiel: 'export { circuitBreaker, handleAll, ConsecutiveBreaker } from "cockatiel";',
  },
  {
    name: "adaptiveConcurrency alone",
    code: 'export { adaptiveConcurrency } from "./mod.ts";',
    measured: 7894,
    date:
      "2026-12-07, second reviews of #17-#20: a throwing logger never fails a call, printable log values, frozen events, rate-limit fixes",
  },
  {
    name: "timeout alone",
    code: 'export { timeout } from "./mod.ts";',
    measured: 5278,
    date:
      "2026-12-07, the telemetry channel (issue #20): every policy reports to subscribe() behind one flag, call events from createPolicy, policies() held weakly; then (+0.3 KB: 0.15 KB of later changes on main, 0.15 KB of) the review of issue #20: breakers' isFailureResult failures and route clients gone in call events, frozen events, one name per policy",
    cockatiel: 'export { timeout, TimeoutStrategy } from "cockatiel";',
  },
  {
    name: "rateLimiter alone",
    code: 'export { rateLimiter } from "./mod.ts";',
    measured: 10317,
    date:
      "2026-12-07, second reviews of #17-#20: a throwing logger never fails a call, printable log values, frozen events, rate-limit fixes",
  },
  {
    name: "edge-resilience/hono",
    code: 'export * from "./src/hono/mod.ts";',
    measured: 46206,
    date:
      "2026-12-07, the status page (issue #20 part 3): statusPage's HTML, its one inline script (3.7 KB gzip) and style (0.6 KB), JSON, SSE and actions; tree-shaken away when statusPage is not imported; then (+0.4 KB) its circuits' ids for actions, unnamed breakers listed, route breakers forgotten when evicted",
  },
  {
    name: "statusPage alone",
    code: 'export { statusPage } from "./src/hono/mod.ts";',
    measured: 15183,
    date:
      "2026-12-07, shared circuits, API consistency (#17), rate limiting (#18), observability: event channel and status page (#20), fault injection and adaptive concurrency (#21); then (+0.36 KB) the review of issue #20: ids stable for a breaker's life, duplicates dropped, found bulkheads and limiters past 50 counted (omitted) and shown",
  },
  {
    name: "edge-resilience/cloudflare",
    code: 'export * from "./src/cloudflare/mod.ts";',
    measured: 8410,
    date:
      "2026-12-07, shared circuits second review (#17: commands kept through outages, abort while waiting), cloudflareRateLimitStore (#18)",
  },
  {
    name: "edge-resilience/cloudflare/object",
    code: 'export * from "./src/cloudflare/object.ts";',
    measured: 6543,
    date:
      "2026-12-07, shared circuits and API consistency (#17), rate limiting (#18), fault injection and adaptive concurrency (#21)",
  },
  {
    name: "edge-resilience/otel",
    code: 'export * from "./src/otel/mod.ts";',
    measured: 3834,
    date:
      "2026-12-07, OpenTelemetry metrics and span events (issue #20); then (+0.3 KB) circuit.state scoped (breakers) and capped (maxBreakers, OPEN first), hooks guarded once; then (+0.28 KB) the review of issue #20: second-scale histogram buckets, namesake gauges summed, transitions scoped and marked circuit.remote, spanEvents",
  },
  {
    name: "edge-resilience/deno-kv",
    code: 'export * from "./src/deno_kv/mod.ts";',
    measured: 12434,
    date:
      "2026-12-07, shared circuits second review (#17: commands kept through outages, abort while waiting, permit order)",
  },
  {
    name: "edge-resilience/redis",
    code: 'export * from "./src/redis/mod.ts";',
    measured: 17405,
    date:
      "2026-12-07, Redis store (issue #19): + the rate limiter's algorithms as one Lua script (one round trip per take; ~3 KB gzip of Lua source, which no minifier shortens) and its argument/answer glue; then (17229 before, +0.18 KB) the third review of shared circuits (#17): the store link's fixes (commands on top of answers, startup gate after a failed read, sentAt with a transit estimate, permits of callers that left)",
  },
];

/** The budget in bytes of an entry: its measured size plus {@linkcode BUDGET_MARGIN}. */
export function budgetOf(b: Pick<Budget, "measured">): number {
  return Math.ceil(b.measured * (1 + BUDGET_MARGIN));
}

/** One entry's measurement. */
export interface SizeRow {
  /** The budget entry measured. */
  budget: Budget;
  /** Minified bytes. */
  min: number;
  /** Minified and gzipped bytes. */
  gzip: number;
  /** cockatiel's equivalent, gzip bytes, when measured. */
  cockatiel?: number;
}

/**
 * The budgets `rows` exceed, one message each, naming the figure, the budget
 * and how to raise it on purpose; empty when all hold.
 */
export function budgetProblems(rows: SizeRow[]): string[] {
  return rows.filter((r) => r.gzip > budgetOf(r.budget)).map((r) =>
    `${r.budget.name}: ${r.gzip} B gzip exceeds its budget of ${budgetOf(r.budget)} B ` +
    `(${r.budget.measured} B measured ${r.budget.date}, + ${BUDGET_MARGIN * 100}%). ` +
    `If the growth is deliberate, set this entry in BUDGETS (build_npm.ts) to ` +
    `measured: ${r.gzip}, date: "<today>, <what grew>" in the same commit and say why.`
  );
}

const LICENSE = `MIT License

Copyright (c) 2026 the edge-resilience authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

/** Every source file the entry points reach (src/ and mod.ts). */
async function sources(): Promise<string[]> {
  const out = ["mod.ts"];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(ROOT + dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (p.endsWith(".ts")) out.push(p);
    }
  };
  await walk("src");
  return out.sort();
}

/** Marks every import external; relative `.ts` specifiers are rewritten to `.js`. */
const rewriteImports: esbuild.Plugin = {
  name: "rewrite-ts-imports",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      if (args.path.startsWith(".")) {
        return { path: args.path.replace(/\.ts$/, ".js"), external: true };
      }
      return { path: args.path, external: true };
    });
  },
};

async function transpile(files: string[], format: "esm" | "cjs"): Promise<void> {
  await esbuild.build({
    entryPoints: files.map((f) => ROOT + f),
    outbase: ROOT,
    outdir: `${OUT}${format}`,
    bundle: true,
    format,
    platform: "neutral",
    target: "es2022",
    sourcemap: true,
    sourcesContent: true,
    plugins: [rewriteImports],
    logLevel: "warning",
  });
}

/** Emits the declarations (and their maps) into `npm/esm/`. */
function declarations(files: string[]): void {
  const options: ts.CompilerOptions = {
    declaration: true,
    declarationMap: true,
    emitDeclarationOnly: true,
    outDir: OUT + "esm",
    rootDir: ROOT,
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
    strict: true,
    skipLibCheck: true,
    types: [],
    // Type-check against our stand-in; the emitted .d.ts keeps "cloudflare:workers".
    paths: { "cloudflare:workers": [ROOT + "src/cloudflare/workers_types.ts"] },
  };
  const program = ts.createProgram(files.map((f) => ROOT + f), options);
  const result = program.emit();
  const diagnostics = ts.getPreEmitDiagnostics(program).concat(result.diagnostics);
  if (diagnostics.length) {
    throw new Error(ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => "\n",
    }));
  }
}

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walkFiles(p);
    else yield p;
  }
}

const dirOf = (f: string) => f.slice(0, f.lastIndexOf("/") + 1);

/** `to` relative to the directory `fromDir` (both absolute, `fromDir` ending in `/`). */
function relative(fromDir: string, to: string): string {
  const a = fromDir.split("/").filter(Boolean);
  const b = to.split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length - 1 && a[i] === b[i]) i++;
  return "../".repeat(a.length - i) + b.slice(i).join("/");
}

/**
 * Copies the TypeScript sources to `npm/ts/` and points every map there: a
 * map's `sources` resolve inside the package, and keep their content.
 */
async function relocateMaps(files: string[]): Promise<void> {
  const shipped = new Set(files);
  for (const f of files) {
    await Deno.mkdir(dirOf(`${OUT}ts/${f}`), { recursive: true });
    await Deno.copyFile(ROOT + f, `${OUT}ts/${f}`);
  }
  for await (const f of walkFiles(OUT.slice(0, -1))) {
    if (!f.endsWith(".map")) continue;
    const map = JSON.parse(await Deno.readTextFile(f));
    const base = new URL(map.sourceRoot || "", `file://${dirOf(f)}`);
    map.sources = map.sources.map((s: string) => {
      const rel = new URL(s, base).pathname.slice(ROOT.length);
      if (!shipped.has(rel)) throw new Error(`${f}: source ${s} is not a shipped source file`);
      return relative(dirOf(f), `${OUT}ts/${rel}`);
    });
    delete map.sourceRoot;
    await Deno.writeTextFile(f, JSON.stringify(map));
  }
}

/** Copies the ES module declarations (and maps) next to the CommonJS files. */
async function commonJsDeclarations(): Promise<void> {
  for await (const f of walkFiles(`${OUT}esm`)) {
    if (!/\.d\.ts(\.map)?$/.test(f)) continue;
    await Deno.copyFile(f, f.replace(`${OUT}esm/`, `${OUT}cjs/`));
  }
}

/** Output hygiene: no `.ts` specifiers, no Deno globals (the sources in ts/ are not code). */
async function verify(): Promise<void> {
  const problems: string[] = [];
  for await (const f of walkFiles(OUT.slice(0, -1))) {
    if (!/\.(js|d\.ts)$/.test(f) || f.startsWith(`${OUT}ts/`)) continue;
    let text = await Deno.readTextFile(f);
    // .d.ts: make sure relative specifiers point at .js files.
    if (f.endsWith(".d.ts")) {
      const fixed = text.replace(/(from\s+["']\.{1,2}\/[^"']+)\.ts(["'])/g, "$1.js$2")
        .replace(/(import\(["']\.{1,2}\/[^"']+)\.ts(["']\))/g, "$1.js$2");
      if (fixed !== text) await Deno.writeTextFile(f, text = fixed);
    }
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    if (/(from\s+|import\(|require\()\s*["'][^"']+\.ts["']/.test(code)) {
      problems.push(`${f}: .ts specifier`);
    }
    if (/\bDeno\./.test(code)) problems.push(`${f}: Deno global`);
  }
  if (problems.length) throw new Error(`npm output problems:\n${problems.join("\n")}`);
}

/** The package.json of the npm package. */
function packageJson(deno: { version: string; description: string; license: string }) {
  const exports: Record<string, unknown> = {};
  const typesVersions: Record<string, string[]> = {};
  for (const [sub, src] of Object.entries(ENTRIES)) {
    const base = src.replace(/\.ts$/, "");
    exports[sub] = {
      import: { types: `./esm/${base}.d.ts`, default: `./esm/${base}.js` },
      require: { types: `./cjs/${base}.d.ts`, default: `./cjs/${base}.js` },
    };
    if (sub !== ".") typesVersions[sub.slice(2)] = [`./cjs/${base}.d.ts`];
  }
  // No repository, homepage or bugs: the project has no public URL yet.
  return {
    name: "edge-resilience",
    version: deno.version,
    description: deno.description,
    keywords: KEYWORDS,
    license: deno.license,
    type: "module",
    main: "./cjs/mod.js",
    module: "./esm/mod.js",
    types: "./cjs/mod.d.ts",
    exports,
    typesVersions: { "*": typesVersions },
    sideEffects: false,
    // What the suite runs (.ci/test.ts): Node 20; Bun and Deno are tested too.
    engines: { node: ">=20" },
    // Optional: /otel needs @opentelemetry/api; /redis types its client by shape and imports none.
    peerDependencies: {
      hono: "^4.6.0",
      "@opentelemetry/api": "^1.3.0",
      redis: ">=4.0.0",
      ioredis: ">=5.0.0",
    },
    peerDependenciesMeta: {
      hono: { optional: true },
      "@opentelemetry/api": { optional: true },
      redis: { optional: true },
      ioredis: { optional: true },
    },
  };
}

/** Minified and gzipped size of what `code` pulls in. */
async function bundleSize(code: string): Promise<{ min: number; gzip: number }> {
  const r = await esbuild.build({
    stdin: { contents: code, resolveDir: ROOT, loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    target: "es2022",
    write: false,
    logLevel: "silent",
    external: ["hono", "hono/*", "cloudflare:*", "@opentelemetry/*"],
  });
  const min = r.outputFiles[0].contents;
  return { min: min.length, gzip: gzipSync(min).length };
}

/**
 * Measures every entry of {@linkcode BUDGETS}, and cockatiel's equivalents
 * when it is installed (as it is after `deno install`).
 */
export async function measureSizes(): Promise<SizeRow[]> {
  const rows: SizeRow[] = [];
  for (const budget of BUDGETS) {
    const row: SizeRow = { budget, ...await bundleSize(budget.code) };
    if (budget.cockatiel) {
      row.cockatiel = await bundleSize(budget.cockatiel).then((r) => r.gzip, () => undefined);
    }
    rows.push(row);
  }
  return rows;
}

const bytes = (n: number) => `${n.toLocaleString("en-US")} B`;

/** The console report, one line per entry. */
function report(rows: SizeRow[]): string[] {
  return rows.map((r) => {
    const budget = budgetOf(r.budget);
    const ref = !r.budget.cockatiel
      ? ""
      : r.cockatiel === undefined
      ? "  (cockatiel not installed: no comparison)"
      : `  (cockatiel's equivalent: ${r.cockatiel} B gzip)`;
    return `${r.budget.name.padEnd(26)} ${String(r.min).padStart(6)} B min  ${
      String(r.gzip).padStart(5)
    } B gzip  (budget ${budget}: ${r.gzip <= budget ? "ok" : "EXCEEDED"})${ref}`;
  });
}

/** The size table the docs include (written by `--write`). */
function sizesMarkdown(rows: SizeRow[], version: string): string {
  const label = (name: string) =>
    name.startsWith("edge-resilience/")
      ? `\`${name}\``
      : name.replace(/^(\w+) alone$/, "`$1` alone").replace("mod.ts", "`mod.ts`");
  const lines = [
    `<!-- Written by \`deno task build:npm --write\` (build_npm.ts); do not edit by hand. -->`,
    "",
    `Bundle sizes of edge-resilience ${version}: esbuild, minified, ES module, then gzip; ` +
    `\`hono\` and \`cloudflare:*\` stay external. cockatiel 4 is measured the same way. ` +
    `Measured ${new Date().toISOString().slice(0, 10)}. Budgets are regression guards: the ` +
    `build fails when an entry grows past its budget (the size measured when the budget was ` +
    `set, + ${BUDGET_MARGIN * 100}%; table \`BUDGETS\` in build_npm.ts).`,
    "",
    "| import | min | gzip | budget (gzip) | cockatiel's equivalent (gzip) |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${label(r.budget.name)} | ${bytes(r.min)} | ${bytes(r.gzip)} | ${
        bytes(budgetOf(r.budget))
      } | ${
        r.budget.cockatiel
          ? r.cockatiel === undefined
            ? "not measured"
            : `${bytes(r.cockatiel)} (\`${
              r.budget.cockatiel.replace(/^export /, "").replace(/;$/, "")
            }\`)`
          : "—"
      } |`
    ),
    "",
  ];
  return lines.join("\n");
}

/** The same figures as data (written by `--write` beside the table). */
function sizesJson(rows: SizeRow[], version: string) {
  return {
    writtenBy: "deno task build:npm --write (build_npm.ts)",
    version,
    measured: new Date().toISOString().slice(0, 10),
    method: "esbuild, minified, ES module, gzip; hono and cloudflare:* external",
    entries: rows.map((r) => ({
      name: r.budget.name,
      min: r.min,
      gzip: r.gzip,
      budget: budgetOf(r.budget),
      ...(r.budget.cockatiel ? { cockatiel: r.cockatiel ?? null } : {}),
    })),
  };
}

async function main(): Promise<void> {
  const deno = JSON.parse(await Deno.readTextFile(ROOT + "deno.json"));
  await Deno.remove(OUT, { recursive: true }).catch(() => {});
  const files = await sources();
  await transpile(files, "esm");
  await transpile(files, "cjs");
  await Deno.writeTextFile(`${OUT}cjs/package.json`, '{ "type": "commonjs" }\n');
  declarations(files);
  await verify();
  await commonJsDeclarations();
  await relocateMaps(files);

  await Deno.writeTextFile(
    `${OUT}package.json`,
    JSON.stringify(packageJson(deno), null, 2) + "\n",
  );
  await Deno.copyFile(ROOT + "README.md", `${OUT}README.md`);
  await Deno.writeTextFile(`${OUT}LICENSE`, LICENSE);

  const rows = await measureSizes();
  await esbuild.stop();
  console.log(`built npm/ (edge-resilience@${deno.version})\nbundle sizes:`);
  for (const l of report(rows)) console.log(`  ${l}`);
  if (Deno.args.includes("--write")) {
    const json = SIZES_FILE.replace(/\.md$/, ".json");
    await Deno.mkdir(dirOf(ROOT + SIZES_FILE), { recursive: true });
    await Deno.writeTextFile(ROOT + SIZES_FILE, sizesMarkdown(rows, deno.version));
    await Deno.writeTextFile(ROOT + json, JSON.stringify(sizesJson(rows, deno.version)));
    // Laid out the way `deno fmt --check` (in CI) expects.
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", ROOT + SIZES_FILE, ROOT + json],
    }).output();
    if (!fmt.success) throw new Error(`deno fmt ${SIZES_FILE} failed`);
    console.log(`wrote ${SIZES_FILE} and ${json}`);
  }
  const problems = budgetProblems(rows);
  if (problems.length) {
    console.error(`bundle-size budget exceeded:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    // Only for tools that need the build and not its size verdict (bench/report.ts); CI never.
    if (!Deno.args.includes("--ignore-budgets")) Deno.exit(1);
  }
}

if (import.meta.main) await main();
