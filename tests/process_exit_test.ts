// The shared deadline timer must never keep a finished program alive.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "./_harness.ts";
import { denoPath, ROOT } from "./_runtimes.ts";

test("timeout: a program that used a 60 s timeout exits at once", () => {
  const deno = denoPath()!;
  const started = Date.now();
  execFileSync(deno, [
    "eval",
    `import { timeout } from "${ROOT}mod.ts"; console.log(await timeout(60_000).execute(() => 42));`,
  ], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started}ms`);
}, { runtimes: ["deno"], why: "spawns the Deno binary running the suite" });
