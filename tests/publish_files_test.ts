// What `deno publish` would upload to JSR: the library and its documentation only (deno.json's
// `publish.include`), not the tests, benchmarks, examples, CI scripts or lockfiles.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { test } from "./_harness.ts";
import { denoPath, ROOT } from "./_runtimes.ts";

test("publish: the dry run lists mod.ts, src/, README, CHANGELOG, LICENSE, docs/ and deno.json only", () => {
  const r = spawnSync(denoPath()!, ["publish", "--dry-run", "--allow-dirty"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 120_000,
  });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  const files = [...out.matchAll(/^\s+file:\/\/(\S+)/gm)].map((m) => m[1].slice(ROOT.length));
  assert.ok(files.length > 0, out);
  const outside = files.filter((f) =>
    !/^(mod\.ts|deno\.json|LICENSE|README\.md|CHANGELOG\.md|src\/.+\.ts|docs\/.+\.(md|json))$/.test(f)
  );
  assert.deepEqual(outside, []);
  assert.ok(files.every((f) => !f.endsWith("_test.ts")));
  // Every subpath export is there.
  for (const f of ["mod.ts", "src/hono/mod.ts", "src/testing/mod.ts", "src/deno_kv/mod.ts"]) {
    assert.ok(files.includes(f), f);
  }
  assert.ok(files.includes("src/cloudflare/mod.ts"));
}, { runtimes: ["deno"], why: "runs `deno publish --dry-run`" });
