// `deno task bench:load`: behaviour under load, on Deno (from source) and on
// Node 20 (against the npm build), stderr discarded (the default logger
// writes there): calls/s while a breaker is open and a fallback answers, with
// the default logger against a silent one (bench/log_storm.ts), and the
// lateness of a burst of deadlines against one setTimeout per call
// (bench/deadlines.ts). Prints one JSON object per runtime and workload.
import { bundleTests } from "../.ci/bundle_tests.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const WORKLOADS = ["bench/log_storm.ts", "bench/deadlines.ts"];

async function run(cmd: string, args: string[]): Promise<unknown> {
  const out = await new Deno.Command(cmd, { args, cwd: ROOT, stdout: "piped", stderr: "null" })
    .output();
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const results: Record<string, Record<string, unknown>> = { deno: {}, node: {} };
for (const w of WORKLOADS) results.deno[w] = await run(Deno.execPath(), ["run", "-A", w]);
await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "build_npm.ts", "--ignore-budgets"],
  cwd: ROOT,
  stdout: "null",
  stderr: "inherit",
}).output();
const bundled = await bundleTests(WORKLOADS, `${ROOT}.ci/out/bench-load`);
for (let i = 0; i < WORKLOADS.length; i++) {
  results.node[WORKLOADS[i]] = await run("node", [bundled[i]]);
}
console.log(JSON.stringify(results, null, 2));
