/**
 * Builds the npm package into `npm/` (what dnt would do, with esbuild for the
 * JavaScript and the TypeScript compiler for the declarations):
 *
 * - `npm/esm/**.js` (ES modules) and `npm/cjs/**.js` (CommonJS), one file per
 *   source file, with source maps; relative `.ts` specifiers become `.js`;
 * - `npm/types/**.d.ts` for every entry point;
 * - `npm/package.json` with an `exports` map for `.` and every subpath,
 *   `sideEffects: false`, `engines`, and `hono` as an optional peer;
 * - README and LICENSE;
 * - checks: no `.ts` specifier and no `Deno` global left in the output, and
 *   the bundle-size budgets (minified + gzip, measured with esbuild) — the
 *   build fails when one is exceeded.
 *
 *   npx -y deno@2.9.6 task build:npm
 *
 * @module
 */
import * as esbuild from "esbuild";
import ts from "typescript";
import { gzipSync } from "node:zlib";

const ROOT = new URL(".", import.meta.url).pathname;
const OUT = ROOT + "npm/";

/** Public entry points: subpath → source file. */
export const ENTRIES: Record<string, string> = {
  ".": "mod.ts",
  "./testing": "src/testing/mod.ts",
  "./hono": "src/hono/mod.ts",
  "./cloudflare": "src/cloudflare/mod.ts",
  "./deno-kv": "src/deno_kv/mod.ts",
};

/**
 * gzip budgets in bytes (minified + gzip), for what each snippet pulls in, and
 * cockatiel's equivalent import, measured the same way for comparison.
 */
export const BUDGETS: { name: string; code: string; max?: number; cockatiel?: string }[] = [
  {
    name: "everything in mod.ts",
    code: 'export * from "./mod.ts";',
    max: 3500,
    cockatiel: 'export * from "cockatiel";',
  },
  {
    name: "retry alone",
    code: 'export { retry } from "./mod.ts";',
    max: 1000,
    cockatiel: 'export { retry, handleAll, ExponentialBackoff } from "cockatiel";',
  },
  {
    name: "circuitBreaker alone",
    code: 'export { circuitBreaker } from "./mod.ts";',
    max: 1500,
    cockatiel: 'export { circuitBreaker, handleAll, ConsecutiveBreaker } from "cockatiel";',
  },
  {
    name: "timeout alone",
    code: 'export { timeout } from "./mod.ts";',
    cockatiel: 'export { timeout, TimeoutStrategy } from "cockatiel";',
  },
  { name: "edge-resilience/hono", code: 'export * from "./src/hono/mod.ts";' },
  { name: "edge-resilience/cloudflare", code: 'export * from "./src/cloudflare/mod.ts";' },
  { name: "edge-resilience/deno-kv", code: 'export * from "./src/deno_kv/mod.ts";' },
];

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
    plugins: [rewriteImports],
    logLevel: "warning",
  });
}

function declarations(files: string[]): void {
  const options: ts.CompilerOptions = {
    declaration: true,
    emitDeclarationOnly: true,
    outDir: OUT + "types",
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

/** Output hygiene: no `.ts` specifiers, no Deno globals. */
async function verify(): Promise<void> {
  const problems: string[] = [];
  for await (const f of walkFiles(OUT.slice(0, -1))) {
    if (!/\.(js|d\.ts)$/.test(f)) continue;
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
    external: ["hono", "hono/*", "cloudflare:*"],
  });
  const min = r.outputFiles[0].contents;
  return { min: min.length, gzip: gzipSync(min).length };
}

/**
 * Measures the budgets (and cockatiel's equivalents, when it is installed, as
 * it is after `deno install`); returns the report lines and whether all held.
 */
export async function measureSizes(): Promise<{ lines: string[]; ok: boolean }> {
  const lines: string[] = [];
  let ok = true;
  for (const b of BUDGETS) {
    const { min, gzip } = await bundleSize(b.code);
    const within = b.max === undefined || gzip <= b.max;
    ok &&= within;
    let ref = "";
    if (b.cockatiel) {
      ref = await bundleSize(b.cockatiel).then(
        (r) => `  (cockatiel's equivalent: ${r.gzip} B gzip)`,
        () => "  (cockatiel not installed: no comparison)",
      );
    }
    lines.push(
      `${b.name.padEnd(26)} ${String(min).padStart(6)} B min  ${String(gzip).padStart(5)} B gzip${
        b.max ? `  (budget ${b.max}: ${within ? "ok" : "EXCEEDED"})` : ""
      }${ref}`,
    );
  }
  return { lines, ok };
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

  const exports: Record<string, unknown> = {};
  for (const [sub, src] of Object.entries(ENTRIES)) {
    const base = src.replace(/\.ts$/, "");
    exports[sub] = {
      types: `./types/${base}.d.ts`,
      import: `./esm/${base}.js`,
      require: `./cjs/${base}.js`,
    };
  }
  const pkg = {
    name: "edge-resilience",
    version: deno.version,
    description:
      "Retry, circuit breaker, timeout, fallback and health checks for Deno, Cloudflare Workers, Node and Bun — with Hono middleware.",
    license: deno.license,
    type: "module",
    main: "./cjs/mod.js",
    module: "./esm/mod.js",
    types: "./types/mod.d.ts",
    exports,
    sideEffects: false,
    engines: { node: ">=18" },
    peerDependencies: { hono: "^4.6.0" },
    peerDependenciesMeta: { hono: { optional: true } },
    keywords: ["retry", "circuit-breaker", "timeout", "fallback", "health-check", "hono", "edge"],
  };
  await Deno.writeTextFile(`${OUT}package.json`, JSON.stringify(pkg, null, 2) + "\n");
  await Deno.copyFile(ROOT + "README.md", `${OUT}README.md`);
  await Deno.writeTextFile(`${OUT}LICENSE`, LICENSE);

  const { lines, ok } = await measureSizes();
  console.log(`built npm/ (edge-resilience@${deno.version})\nbundle sizes:`);
  for (const l of lines) console.log(`  ${l}`);
  await esbuild.stop();
  if (!ok && !Deno.args.includes("--ignore-budgets")) {
    console.error("a bundle-size budget is exceeded");
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
