// The shared deadline timer must never keep a finished program alive: on each runtime, a program
// that ran a call under a 60 s timeout exits as soon as its work is done. Deno runs the sources;
// Node and Bun run the built package, as a user's program would.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { RUNTIME, test } from "./_harness.ts";
import { denoPath, ROOT } from "./_runtimes.ts";

const program = (mod: string) =>
  `import { timeout } from ${JSON.stringify(mod)};
console.log(await timeout(60_000).execute(() => 42));
`;

/** Runs `program` on the runtime running this test; its output and how long it took. */
function runProgram(): { out: string; ms: number } {
  const started = Date.now();
  const opts = { cwd: ROOT, encoding: "utf8" as const, timeout: 30_000 };
  if (RUNTIME === "deno") {
    const out = execFileSync(denoPath()!, ["eval", program(`${ROOT}mod.ts`)], opts);
    return { out, ms: Date.now() - started };
  }
  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-exit-"));
  try {
    const file = join(dir, "exit.mjs");
    writeFileSync(file, program(pathToFileURL(`${ROOT}npm/esm/mod.js`).href));
    const out = execFileSync(process.execPath, [file], opts);
    return { out, ms: Date.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("timeout: a program that used a 60 s timeout exits at once", () => {
  const { out, ms } = runProgram();
  assert.equal(out.trim(), "42");
  // Startup included; a pending 60 s timer would hold it for 60 s (or get it killed at 30 s).
  assert.ok(ms < 10_000, `took ${ms}ms`);
});
