// The test runner behind `deno task test`: runs the suite with `deno test`
// and ends with one line `tests: N passed, M failed`.
const out = new URL("./out/", import.meta.url);
await Deno.mkdir(out, { recursive: true });
const junit = new URL("junit-deno.xml", out).pathname;
await Deno.remove(junit).catch(() => {});

// Static checks (fmt, lint, type check with doc examples, doc lint) count as one test.
const check = await new Deno.Command(Deno.execPath(), {
  args: ["task", "check"],
  stdout: "inherit",
  stderr: "inherit",
}).output();
console.log(`static checks (deno task check) ... ${check.code === 0 ? "ok" : "FAILED"}`);

const cmd = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--unstable-kv", `--junit-path=${junit}`, ...Deno.args],
  stdout: "inherit",
  stderr: "inherit",
});
const { code } = await cmd.output();

let passed = 0;
let failed = 0;
try {
  const xml = await Deno.readTextFile(junit);
  const m = xml.match(/<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"/);
  const e = xml.match(/<testsuites[^>]*\berrors="(\d+)"/);
  if (m) {
    const total = Number(m[1]);
    failed = Number(m[2]) + Number(e?.[1] ?? 0);
    passed = total - failed;
  }
} catch {
  // No report: the run itself failed.
}
if (code !== 0 && failed === 0) failed = 1;
if (check.code === 0) passed++;
else failed++;
console.log(`tests: ${passed} passed, ${failed} failed`);
Deno.exit(failed > 0 ? 1 : 0);
