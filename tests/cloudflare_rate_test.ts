// Shared failure rates in real workerd (miniflare): three Workers — three
// isolates, each with its own breaker — share one Durable Object. A 30% error
// rate spread evenly over them opens the shared circuit once the combined
// window reaches minimumThroughput, though no isolate has that many calls.
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { test } from "./_harness.ts";
import { bundle } from "./_runtimes.ts";

test("Durable Object in workerd, 3 isolates: 30% errors spread evenly open the shared rate circuit; no isolate has minimumThroughput", async () => {
  const script = await bundle("tests/_cloudflare_rate_fixture.ts", "neutral");
  const names = ["a", "b", "c"];
  const mf = new Miniflare({
    workers: names.map((name) => ({
      name,
      modules: true,
      script,
      compatibilityDate: "2025-01-01",
      durableObjects: {
        CIRCUITS: name === "a"
          ? { className: "CircuitBreakerObject", useSQLite: true }
          : { className: "CircuitBreakerObject", scriptName: "a", useSQLite: true },
      },
    })),
  });
  try {
    type Fetcher = { fetch(url: string): Promise<{ json(): Promise<unknown> }> };
    const workers = await Promise.all(
      names.map(async (n) => (await mf.getWorker(n)) as unknown as Fetcher),
    );
    const get = async (w: Fetcher, path: string) =>
      await (await w.fetch(`http://localhost${path}`)).json() as Record<string, unknown>;
    let rejected = 0;
    for (let i = 0; i < 29; i++) {
      const fail = i % 10 === 1 || i % 10 === 4 || i % 10 === 7;
      if ((await get(workers[i % 3], `/call?fail=${fail ? 1 : 0}`)).rejected) rejected++;
    }
    assert.equal(rejected, 0);
    // 29 calls in the shared window (9 failed): one short of minimumThroughput.
    for (const w of workers) assert.equal((await get(w, "/stats")).state, "closed");
    await get(workers[2], "/call?fail=0"); // the 30th: 9 of 30 = 30% ≥ 30%
    const after = await Promise.all(workers.map((w) => get(w, "/stats")));
    for (const s of after) {
      assert.equal(s.state, "open", JSON.stringify(after));
      assert.ok((s.totalCalls as number) <= 10); // none had 30 calls of its own
    }
    assert.ok((await get(workers[0], "/call?fail=0")).rejected);
  } finally {
    await mf.dispose();
  }
});
