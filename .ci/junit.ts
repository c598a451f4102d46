// Reads the counts of a `deno test` run from the JUnit XML it writes (`--junit-path`) and from its
// output. The counts come from the test cases themselves: Deno's JUnit has no `skipped` attribute
// on `<testsuites>`, and marks an ignored test (`ignore: true`, node:test's `skip`) only by a
// `disabled` count on its `<testsuite>` and a `<skipped/>` in its `<testcase>`.
// tests/ci_junit_test.ts checks it against the XML Deno really writes.

/** Passed, failed and skipped tests. */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

const unescape = (s: string) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");

/**
 * Counts the test cases of a Deno JUnit report: a case holding `<failure` or `<error` failed, one
 * holding `<skipped` was skipped (ignored), any other passed. A test's steps (`t.step`, reported
 * as cases named `test > step`) are not counted: like Deno's own summary, tests only.
 */
export function junitCounts(xml: string): Counts {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const suite of xml.matchAll(/<testsuite\b[^>]*>([\s\S]*?)<\/testsuite>/g)) {
    const cases = [
      ...suite[1].matchAll(
        /<testcase\b[^>]*\bname="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g,
      ),
    ].map((m) => ({ name: unescape(m[1]), body: m[2] ?? "" }));
    const names = new Set(cases.map((c) => c.name));
    for (const c of cases) {
      const i = c.name.lastIndexOf(" > ");
      if (i > 0 && names.has(c.name.slice(0, i))) continue; // a step of another case
      if (/<(failure|error)\b/.test(c.body)) counts.failed++;
      else if (/<skipped\b/.test(c.body)) counts.skipped++;
      else counts.passed++;
    }
  }
  return counts;
}

/**
 * The test modules whose uncaught error (at load, or from a dangling promise) made Deno fail them:
 * Deno reports those in its output only, not in the JUnit file.
 */
export function uncaughtErrors(output: string): string[] {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  return [...plain.matchAll(/^Uncaught error from (\S+) FAILED\s*$/gm)].map((m) => m[1]);
}
