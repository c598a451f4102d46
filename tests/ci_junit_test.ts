// The Deno tally of `deno task test` (.ci/test.ts) is read from the JUnit XML Deno writes:
// ignored tests must count as skipped, not passed, and a module failed by an uncaught error
// (absent from the XML) as failed.
import assert from "node:assert/strict";
import { junitCounts, uncaughtErrors } from "../.ci/junit.ts";
import { test } from "./_harness.ts";

// The shape Deno 2.9 writes: no `skipped` on <testsuites>, `disabled` on each <testsuite>.
const XML = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="8" failures="1" errors="0" time="0.609">
    <testsuite name="./a_test.ts" tests="5" disabled="2" errors="0" failures="1">
        <testcase name="p" classname="./a_test.ts" time="0.001" line="1" col="6">
        </testcase>
        <testcase name="i" classname="./a_test.ts" time="0.000" line="2" col="6">
            <skipped/>
        </testcase>
        <testcase name="f &gt; g" classname="./a_test.ts" time="0.002" line="3" col="6">
            <failure message="Uncaught Error: x">Error: x &lt;skipped/&gt;</failure>
        </testcase>
        <testcase name="n [deno: skipped, needs node]" classname="./a_test.ts" time="0.000">
            <skipped/>
        </testcase>
        <testcase name="e" classname="./a_test.ts" time="0.000"><error message="boom"/></testcase>
    </testsuite>
    <testsuite name="./b_test.ts" tests="3" disabled="1" errors="0" failures="0">
        <testcase name="withsteps" classname="./b_test.ts" time="0.002" line="1" col="6">
        </testcase>
        <testcase name="withsteps &gt; s1" classname="./b_test.ts" time="0.000" line="1" col="47">
        </testcase>
        <testcase name="withsteps &gt; s2" classname="./b_test.ts" time="0.000" line="1" col="77">
            <skipped/>
        </testcase>
        <testcase name="solo" classname="./b_test.ts" time="0.000"/>
    </testsuite>
</testsuites>`;

test("ci junit: ignored cases are skipped, failures and errors failed, steps not counted", () => {
  // "f > g" is a test's name, not a step: no case named "f" in its suite.
  assert.deepEqual(junitCounts(XML), { passed: 3, failed: 2, skipped: 2 });
  assert.deepEqual(junitCounts(""), { passed: 0, failed: 0, skipped: 0 });
});

test("ci junit: modules failed by an uncaught error are read from Deno's output", () => {
  const out = "a ... ok\n\x1b[0mUncaught error from ./tests/x_test.ts \x1b[31mFAILED\x1b[0m\n" +
    "./tests/x_test.ts (uncaught error)\nUncaught error from ./tests/y_test.ts FAILED\n";
  assert.deepEqual(uncaughtErrors(out), ["./tests/x_test.ts", "./tests/y_test.ts"]);
  assert.deepEqual(uncaughtErrors("ok | 3 passed | 0 failed\n"), []);
});

test(
  "ci junit: the counts of a real `deno test` run (2 passed, 1 failed, 3 ignored, 1 module uncaught)",
  async () => {
    // Loaded here: only this test needs files and processes.
    const { spawnSync } = await import("node:child_process");
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "edge-resilience-junit-"));
    try {
      writeFileSync(
        join(dir, "a_test.ts"),
        `import { test } from "node:test";
Deno.test("passes", () => {});
Deno.test({ name: "ignored", ignore: true, fn: () => {} });
Deno.test("fails", () => { throw new Error("x"); });
test("node:test skip", { skip: "why" }, () => {});
Deno.test("steps", async (t) => { await t.step({ name: "ignored step", ignore: true, fn() {} }); });
`,
      );
      writeFileSync(join(dir, "b_test.ts"), `Deno.test({ name: "b", ignore: true, fn() {} });`);
      writeFileSync(join(dir, "c_test.ts"), `throw new Error("load fails");`);
      const junit = join(dir, "out.xml");
      const deno = (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath();
      const r = spawnSync(deno, ["test", "--no-config", `--junit-path=${junit}`, dir], {
        cwd: dir,
        encoding: "utf8",
        env: { ...(await import("node:process")).default.env, NO_COLOR: "1" },
        timeout: 60_000,
      });
      assert.equal(r.status, 1, r.stderr);
      const xml = readFileSync(junit, "utf8");
      // What the runner used to read: the report-wide attributes have no skipped count at all.
      assert.doesNotMatch(xml.match(/<testsuites[^>]*>/)![0], /skipped=/);
      // "steps" passed (its ignored step is not a test of its own).
      assert.deepEqual(junitCounts(xml), { passed: 2, failed: 1, skipped: 3 });
      assert.deepEqual(uncaughtErrors(r.stdout + r.stderr), ["./c_test.ts"]);
      // Deno's own summary agrees once the uncaught module is added.
      assert.match(r.stdout + r.stderr, /\| 2 passed.* \| 2 failed \| 3 ignored/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  { runtimes: ["deno"], why: "runs `deno test --junit-path` to read the XML Deno writes" },
);
