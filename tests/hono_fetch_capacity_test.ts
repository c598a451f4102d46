// resilientFetch with a retry budget and hedged requests, against an
// in-process fetch (no sockets: this file also runs inside workerd).
import assert from "node:assert/strict";
import { retryBudget } from "../mod.ts";
import { resilientFetch } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

/** A fetch whose answers the test scripts; records each request and its signal. */
function scripted(answer: (n: number, req: Request) => Promise<Response> | Response) {
  const seen: Request[] = [];
  const fetch = (req: Request) => {
    seen.push(req);
    return Promise.resolve(answer(seen.length, req));
  };
  return { seen, fetch };
}

/** A response that never comes, until the request's signal aborts. */
function hang(req: Request): Promise<Response> {
  return new Promise((_, reject) =>
    req.signal.addEventListener("abort", () => reject(req.signal.reason))
  );
}

test("resilientFetch({ budget }): a spent budget stops retrying; first attempts still go out", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 0.1, window: 10_000, clock });
  const up = scripted(() => new Response("busy", { status: 503 }));
  const call = () =>
    resilientFetch("http://upstream.test/x", {
      maxAttempts: 3,
      initialDelay: 0,
      budget,
      fetch: up.fetch,
      logger: silent,
    });
  assert.equal((await call()).status, 503);
  assert.equal(up.seen.length, 2, "one retry from the reserve");
  assert.equal((await call()).status, 503);
  assert.equal(up.seen.length, 3, "budget spent: the first attempt only");
  assert.equal(budget.getStats().refused, 2);
});

test("resilientFetch({ hedge }): a slow GET gets a second request; the first answer wins, the other is aborted", async () => {
  const clock = new FakeClock();
  const up = scripted((n, req) => n === 1 ? hang(req) : new Response("from hedge"));
  const p = resilientFetch("http://upstream.test/item", {
    hedge: { delay: 100 },
    fetch: up.fetch,
    clock,
    logger: silent,
  });
  await clock.tickAsync(99);
  assert.equal(up.seen.length, 1);
  await clock.tickAsync(1);
  const res = await p;
  assert.equal(await res.text(), "from hedge");
  assert.equal(up.seen.length, 2);
  assert.equal(up.seen[0].signal.aborted, true, "the slow request is cancelled");
  assert.equal(clock.pending, 0);
});

test("resilientFetch({ hedge }): a fast answer sends no hedge", async () => {
  const clock = new FakeClock();
  const up = scripted(() => new Response("fast"));
  const res = await resilientFetch("http://upstream.test/item", {
    method: "HEAD",
    hedge: { delay: 100, maxHedges: 2 },
    fetch: up.fetch,
    clock,
    logger: silent,
  });
  assert.equal(res.status, 200);
  await clock.tickAsync(1_000);
  assert.equal(up.seen.length, 1);
});

test("resilientFetch({ hedge }): refused for methods other than GET and HEAD; options checked", async () => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    assert.throws(
      () => resilientFetch("http://upstream.test/x", { method, hedge: { delay: 10 } }),
      /option 'hedge' is for GET and HEAD only/,
      method,
    );
  }
  assert.throws(
    () => resilientFetch("http://upstream.test/x", { hedge: { delay: 0 } }),
    /hedge: option 'delay'/,
  );
  assert.throws(
    () => resilientFetch("http://upstream.test/x", { hedge: { delay: 5, maxhedges: 2 } as never }),
    /unknown option 'maxhedges'/,
  );
});
