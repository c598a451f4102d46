// Aborts that survive garbage collection: on Node 20, undici makes a
// Request's signal follow the given one through a WeakRef, so a Request
// nobody holds any more stops forwarding aborts once a GC runs. These tests
// force full collections while requests hang on a loopback upstream, and
// assert that the upstream sees every socket close at the deadline — on every
// runtime that can force one: Node and Deno (V8's gc, exposed at run time if
// not by --expose-gc) and Bun (Bun.gc(true)). workerd cannot (not run there).
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { resilientFetch } from "../src/hono/mod.ts";
import { macrotask, silent, test } from "./_harness.ts";
import { startUpstream, until } from "./_upstream.ts";

const N = 40;

/** A full, synchronous garbage collection on this runtime. */
function collector(): () => void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) return () => g.Bun!.gc(true);
  if (typeof g.gc === "function") return g.gc;
  // V8 (Deno; Node without --expose-gc): the flag set at run time, `gc` taken from a new context.
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc");
}
const gc = collector();

/** Proves that `gc` really collects (else these tests could not fail), then collects. */
async function forceGc(): Promise<void> {
  let canary: WeakRef<object> | undefined;
  (() => {
    canary = new WeakRef({ payload: new Array(1000).fill(0) });
  })();
  await macrotask(); // a WeakRef keeps its target alive until the end of the current job
  gc();
  gc();
  assert.equal(canary!.deref(), undefined, "gc() did not collect an unreachable object");
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
    await forceGc(); // every request is in flight, and nothing of ours holds its Request
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
);
