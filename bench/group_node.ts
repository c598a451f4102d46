// Runs bench/group.ts on Node against the npm build (built first): one group, one run.
import { bundleTests } from "../.ci/bundle_tests.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const build = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "build_npm.ts", "--ignore-budgets"],
  cwd: ROOT,
  stdout: "null",
}).output();
if (build.code !== 0) throw new Error("build_npm.ts failed");
const [group] = await bundleTests(["bench/group.ts"], `${ROOT}.ci/out/bench-group`);
const out = await new Deno.Command("node", {
  args: ["--expose-gc", group, ...Deno.args],
  cwd: ROOT,
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(out.code);
