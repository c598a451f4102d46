// Stands in for node:test inside workerd: records tests, runs them on request.
type Fn = () => unknown;
const tests: { name: string; fn: Fn; skip?: string }[] = [];

export function test(name: string, a: Fn | { skip?: string }, b?: Fn): void {
  if (typeof a === "function") tests.push({ name, fn: a });
  else tests.push({ name, fn: b ?? (() => {}), skip: a.skip });
}

export async function run(): Promise<{
  passed: string[];
  failed: { name: string; error: string }[];
  skipped: string[];
}> {
  const out = {
    passed: [] as string[],
    failed: [] as { name: string; error: string }[],
    skipped: [] as string[],
  };
  for (const t of tests) {
    if (t.skip) {
      // The harness names its skipped tests with the reason already.
      out.skipped.push(t.name.includes(t.skip) ? t.name : `${t.name} (${t.skip})`);
      continue;
    }
    try {
      await t.fn();
      out.passed.push(t.name);
    } catch (e) {
      out.failed.push({
        name: t.name,
        error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e),
      });
    }
  }
  return out;
}
