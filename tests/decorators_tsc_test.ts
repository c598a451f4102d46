// Decorators, both kinds: TC39 (TypeScript 5+ default) and legacy ones
// (`experimentalDecorators: true`, used by NestJS, Angular and many Node codebases).
// tsc type-checks and compiles tests/_decorated_fixture.ts in each mode, and Node runs it.
// (tests/decorators_test.ts: the same fixture as each runtime compiles it, and legacy calls.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import * as esbuild from "esbuild";
import ts from "typescript";
import { EXPECTED } from "./_decorated_fixture.ts";
import { ROOT } from "./_root.ts";
import { test } from "./_harness.ts";

const FIXTURE = `${ROOT}tests/_decorated_fixture.ts`;

/** tsc's diagnostics for the fixture (and the library it imports), as text. */
function typeErrors(legacy: boolean): string[] {
  const program = ts.createProgram([FIXTURE], {
    experimentalDecorators: legacy,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) =>
    `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`
  );
}

/** Compiles the fixture with tsc in the given mode, bundles the result and runs it on Node. */
async function runOnNode(legacy: boolean): Promise<unknown> {
  const js = ts.transpileModule(readFileSync(FIXTURE, "utf8"), {
    compilerOptions: {
      experimentalDecorators: legacy,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
    },
  }).outputText;
  // tsc's own decorator code, not esbuild's: the bundler only resolves the imports.
  assert.ok(legacy ? js.includes("__decorate(") : js.includes("__esDecorate("), "tsc lowered it");
  let text: string;
  try {
    const r = await esbuild.build({
      stdin: {
        contents: `${js}\nrun().then((r) => console.log(JSON.stringify(r)));`,
        resolveDir: `${ROOT}tests`,
        loader: "js",
      },
      bundle: true,
      format: "esm",
      platform: "node",
      target: "es2022",
      write: false,
      logLevel: "silent",
    });
    text = r.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-decorators-"));
  try {
    const file = join(dir, "decorated.mjs");
    writeFileSync(file, text);
    const out = spawnSync(process.env.NODE_BINARY ?? "node", [file], { encoding: "utf8" });
    assert.equal(out.status, 0, out.stderr);
    return JSON.parse(out.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TSC = { runtimes: ["deno" as const], why: "drives tsc and esbuild from the source tree" };

test(
  "decorators: legacy ones (experimentalDecorators) type-check with tsc and work on Node",
  async () => {
    assert.deepEqual(typeErrors(true), []);
    assert.deepEqual(await runOnNode(true), EXPECTED);
  },
  TSC,
);

test("decorators: TC39 ones type-check with tsc and work on Node", async () => {
  assert.deepEqual(typeErrors(false), []);
  assert.deepEqual(await runOnNode(false), EXPECTED);
}, TSC);
