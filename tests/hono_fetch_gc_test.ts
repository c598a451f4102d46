// Aborts that survive garbage collection: on Node 20, undici makes a
// Request's signal follow the given one through a WeakRef, so a Request
// nobody holds any more stops forwarding aborts once a GC runs. These tests
// force gc() while requests hang on a loopback upstream, and assert that the
// upstream sees every socket close at the deadline. CI runs Node with
// --expose-gc (.ci/test.ts).
import assert from "node:assert/strict";
import { resilientFetch } from "../src/hono/mod.ts";
import { silent, test } from "./_harness.ts";
import { startUpstream, until } from "./_upstream.ts";

const N = 40;
const WHY = "forces gc() (Node runs with --expose-gc in CI) to attack undici's weakly held signals";

function forceGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") throw new Error("run node with --expose-gc");
  gc();
  gc();
}

async function hungRequests(
  start: (url: string, i: number) => Promise<unknown>,
  { attempts = 1, afterGc = () => {} } = {},
): Promise<void> {
  const up = await startUpstream(() => {/* never answers */});
  try {
    const calls = Array.from({ length: N }, (_, i) => start(`${up.url}/r${i}`, i));
    const settled = Promise.allSettled(calls);
    await until(() => up.requests.length === N, 5000);
    forceGc(); // every request is in flight, and nothing of ours holds its Request
    afterGc();
    const results = await settled;
    assert.ok(results.every((r) => r.status === "rejected"));
    // The deadline aborted every fetch: the upstream sees every socket close.
    await until(() => up.disconnects === N * attempts, 3000).catch(() => {
      throw new Error(`only ${up.disconnects} of ${N * attempts} upstream requests were closed`);
    });
    assert.equal(up.requests.length, N * attempts);
  } finally {
    await up.close();
  }
}

test(
  "resilientFetch after gc(): the total deadline closes every upstream request",
  () =>
    hungRequests((url) =>
      resilientFetch(url, { totalTimeout: 300, maxAttempts: 1, logger: silent })
    ),
  { runtimes: ["node"], why: WHY },
);

test(
  "resilientFetch after gc(): per-attempt deadlines close every attempt (Request input, retries)",
  () =>
    hungRequests((url) =>
      resilientFetch(new Request(url), {
        attemptTimeout: 150,
        maxAttempts: 2,
        initialDelay: 0,
        logger: silent,
      }), { attempts: 2 }),
  { runtimes: ["node"], why: WHY },
);

test(
  "resilientFetch after gc(): the caller's signal closes every upstream request (custom fetch too)",
  async () => {
    const controllers: AbortController[] = [];
    await hungRequests((url, i) => {
      const ctl = new AbortController();
      controllers.push(ctl);
      return resilientFetch(url, {
        signal: ctl.signal,
        logger: silent,
        // Half the calls go through a user `fetch` that is handed a Request.
        ...(i % 2 ? { fetch: (r: Request) => fetch(r) } : {}),
      });
    }, { afterGc: () => controllers.forEach((c) => c.abort(new Error("caller gone"))) });
  },
  { runtimes: ["node"], why: WHY },
);
