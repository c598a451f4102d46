// README's demo on a fresh machine (`npx -y deno@2.9.6 task demo`) must fetch what the demo loads
// and nothing else: not the test tools (Bun, workerd, esbuild, TypeScript… ~440 MB), which only the
// test task installs. `nodeModulesDir: "manual"` keeps `deno task` from installing every package
// of deno.json first; the demo runs without node_modules, from its own lockfile.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "./_harness.ts";
import { denoPath, ROOT } from "./_runtimes.ts";

const config = () => JSON.parse(readFileSync(`${ROOT}deno.json`, "utf8"));

test("demo install: deno task installs nothing by itself; the test task installs the tools", () => {
  const c = config();
  // "auto" makes any `deno task` install every npm package of the import map first.
  assert.equal(c.nodeModulesDir, "manual");
  // Every other task installs them first, as "auto" did.
  for (const [name, command] of Object.entries(c.tasks as Record<string, string>)) {
    if (name === "demo") continue;
    assert.match(command, /^deno install --allow-scripts=npm:bun && /, name);
  }
  assert.match(c.tasks.demo, /--node-modules-dir=none/);
  assert.match(c.tasks.demo, /--lock=examples\/demo\.lock/);
});

test("demo install: the demo's lockfile pins only the npm packages the demo loads", () => {
  const lock = JSON.parse(readFileSync(`${ROOT}examples/demo.lock`, "utf8"));
  const pinned = Object.keys(lock.npm ?? {}).sort();
  // What the demo's module graph really uses, resolved as the task resolves it.
  const info = JSON.parse(
    execFileSync(denoPath()!, [
      "info",
      "--json",
      "--lock=examples/demo.lock",
      "--node-modules-dir=none",
      "examples/demo.ts",
    ], { cwd: ROOT, encoding: "utf8", timeout: 60_000 }),
  );
  const used = Object.keys(info.npmPackages ?? {}).sort();
  assert.deepEqual(used.map((p) => p.replace(/@[^@]+$/, "")), ["hono"]);
  assert.deepEqual(pinned, used, "examples/demo.lock pins exactly the demo's packages");
  // The same Hono as the suite tests.
  const root = JSON.parse(readFileSync(`${ROOT}deno.lock`, "utf8"));
  assert.ok(root.npm[used[0]], `${used[0]} is the version deno.lock pins`);
}, { runtimes: ["deno"], why: "runs `deno info` on the demo" });
