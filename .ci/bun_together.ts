// Runs a few test files in ONE Bun process, as the CI's Bun leg does (bun test, every file in one
// process), against the npm build (run `deno run -A build_npm.ts` first). For bisecting
// cross-file state: `deno run -A .ci/bun_together.ts tests/a_test.ts tests/b_test.ts`.
import { bundleTests } from "./bundle_tests.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const out = `${ROOT}.ci/out/bun_together`;
const files = await bundleTests(Deno.args, out);
const r = await new Deno.Command(`${ROOT}node_modules/bun/bin/bun.exe`, {
  args: ["test", "--timeout=300000", ...files.map((f) => f.replace(ROOT, "./"))],
  cwd: ROOT,
  stdout: "inherit",
  stderr: "inherit",
}).output();
Deno.exit(r.code);
