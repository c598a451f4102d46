import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import process from "node:process";
import { test } from "./_harness.ts";
import { denoPath, ROOT } from "./_runtimes.ts";

test("demo: runs the whole story on embedded defaults and exits 0", () => {
  const deno = denoPath();
  assert.ok(deno, "the demo runs on Deno");
  const out = execFileSync(deno, ["task", "demo"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { NO_COLOR: "1", PATH: process.env.PATH ?? "" },
  });
  for (
    const expected of [
      /live quote #1/,
      /Attempt 1\/2 failed .*status 503/,
      /Timeout after 300ms/,
      // One failure each, two in total: both learn of the OPEN from the store, and say so.
      /Circuit breaker 'B:GET \/api\/quote' OPEN after 2 failures \(shared circuit\)/,
      /Circuit breaker 'A:GET \/api\/quote' OPEN after 2 failures \(shared circuit\)/,
      /instance A: GET \/api\/quote → 200 last good quote \(fallback\) in \d+ms {2}\[shared circuit open\]/,
      /instance B: GET \/api\/quote → 200 last good quote \(fallback\) in \d+ms {2}\[shared circuit open\]/,
      /upstream calls while open: 0/,
      /transitioning to HALF_OPEN/,
      /CLOSED - service recovered/,
      /GET \/health → 200 degraded/,
      /GET \/health → 200 healthy/,
    ]
  ) assert.match(out, expected);
  assert.doesNotMatch(out, /legacy behavior/);
}, { runtimes: ["deno"], why: "the demo is `deno task demo`" });
