// Lists the tests that test files register, without running them: `deno run -A --unstable-kv
// .ci/list_tests.ts tests/a_test.ts …` prints `{ "tests/a_test.ts": ["name", …], … }`. Used by
// .ci/test.ts to report, one by one, the tests that a runtime cannot run (workerd) as skipped.
//
// `Deno.test` is replaced by a recorder before the files load: tests/_harness.ts registers with it
// on Deno, and node:test's `test` (a test skipped here by its `runtimes`) calls it too.
const registered: string[] = [];
const deno = Deno as unknown as { test: (a: unknown, b?: unknown, c?: unknown) => void };
deno.test = (a: unknown, b?: unknown) => {
  const name = typeof a === "string"
    ? a
    : typeof a === "function"
    ? a.name
    : (a as { name?: string }).name ?? (b as { name?: string } | undefined)?.name ?? "";
  registered.push(name);
};

const root = new URL("../", import.meta.url);
const out: Record<string, string[]> = {};
for (const file of Deno.args) {
  const before = registered.length;
  await import(new URL(file, root).href);
  // The harness's note for a test skipped on Deno (`[deno: skipped, …]`) is not part of its name.
  out[file] = registered.slice(before).map((n) => n.replace(/ \[deno: skipped, .*\]$/, ""));
}
console.log(JSON.stringify(out));
// A test file may leave handles open at load (servers are only started by tests, but be sure).
Deno.exit(0);
