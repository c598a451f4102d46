// resilientFetch with a retry budget and hedged requests, against an
// in-process fetch (no sockets: this file also runs inside workerd).
import assert from "node:assert/strict";
import { Hono } from "hono";
import { circuitBreaker, CircuitOpenError, retryBudget } from "../mod.ts";
import { resilientFetch, UpstreamCircuitOpenError } from "../src/hono/mod.ts";
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
    await assert.rejects(
      resilientFetch("http://upstream.test/x", { method, hedge: { delay: 10 } }),
      /option 'hedge' is for GET and HEAD only/,
      method,
    );
  }
  await assert.rejects(
    resilientFetch("http://upstream.test/x", { hedge: { delay: 0 } }),
    /^RangeError: resilientFetch: option 'hedge\.delay'/,
  );
  await assert.rejects(
    resilientFetch("http://upstream.test/x", { hedge: { delay: 5, maxhedges: 2 } as never }),
    /^TypeError: resilientFetch: unknown option 'hedge\.maxhedges' \(did you mean 'hedge\.maxHedges'\?\)/,
  );
});

test("resilientFetch({ breaker }): each attempt is a breaker call; open → UpstreamCircuitOpenError, 503 in a route", async () => {
  const clock = new FakeClock();
  const breaker = circuitBreaker({
    failureThreshold: 2,
    resetTimeout: 60_000,
    halfOpenMaxCalls: 1,
    isFailureResult: (r) => r instanceof Response && r.status >= 500,
    clock,
    logger: silent,
  });
  const up = scripted(() => new Response("down", { status: 503 }));
  const options = {
    maxAttempts: 3,
    initialDelay: 0,
    maxDelay: 1_000,
    breaker,
    fetch: up.fetch,
    clock,
    logger: silent,
  };
  const e = await resilientFetch("http://upstream.test/q", options).catch((e) => e);
  assert.ok(e instanceof UpstreamCircuitOpenError);
  assert.ok(e instanceof CircuitOpenError);
  assert.equal(e.breakerName, breaker.name);
  assert.equal(up.seen.length, 2, "the third attempt met the open circuit: not sent");
  // In a Hono route, the thrown error answers 503 with Retry-After by itself.
  const app = new Hono();
  app.get("/q", async () => await resilientFetch("http://upstream.test/q", options));
  const res = await app.request("/q");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "60");
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.equal(up.seen.length, 2);
});

test("resilientFetch({ breaker }): a recovering upstream gets at most halfOpenMaxCalls trial requests, retries or not", async () => {
  const clock = new FakeClock();
  const breaker = circuitBreaker({
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 2,
    isFailureResult: (r) => r instanceof Response && r.status >= 500,
    clock,
    logger: silent,
  });
  breaker.open();
  await clock.tickAsync(1_000); // due to half-open
  const gates: ((r: Response) => void)[] = [];
  const up = scripted(() => new Promise<Response>((resolve) => gates.push(resolve)));
  const calls = Array.from({ length: 10 }, () =>
    resilientFetch("http://upstream.test/q", {
      maxAttempts: 3,
      initialDelay: 0,
      maxDelay: 0,
      breaker,
      fetch: up.fetch,
      clock,
      logger: silent,
    }).then((r) => r.status, (e) => e instanceof UpstreamCircuitOpenError ? "open" : String(e)));
  await clock.tickAsync(0);
  assert.equal(up.seen.length, 2, "two trial requests in flight, the rest refused");
  gates.forEach((g) => g(new Response("ok")));
  const outcomes = await Promise.all(calls);
  assert.equal(outcomes.filter((o) => o === 200).length, 2);
  assert.equal(up.seen.length, 2);
  assert.ok(outcomes.every((o) => o === 200 || o === "open"), String(outcomes));
});

test("resilientFetch({ breaker }): refused unless it is a breaker (a rejected promise, like fetch)", async () => {
  await assert.rejects(
    resilientFetch("http://upstream.test/x", { breaker: {} as never }),
    /option 'breaker' must be a circuit breaker/,
  );
});

test("resilientFetch({ breaker, hedge }): a half-open breaker bounds hedged requests to its trial limit", async () => {
  const clock = new FakeClock();
  const breaker = circuitBreaker({
    failureThreshold: 1,
    resetTimeout: 50,
    halfOpenMaxCalls: 1,
    clock,
    logger: silent,
  });
  breaker.open();
  await clock.tickAsync(50);
  let inflight = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const up = scripted(() => {
    most = Math.max(most, ++inflight);
    return new Promise<Response>((r) => gates.push(() => (inflight--, r(new Response("ok")))));
  });
  const p = resilientFetch("http://upstream.test/x", {
    fetch: up.fetch,
    breaker,
    hedge: { delay: 10, maxHedges: 3 },
    maxAttempts: 1,
    clock,
    logger: silent,
  });
  await clock.tickAsync(100);
  assert.equal(most, 1, "one trial allowed: one request at a time");
  gates.forEach((g) => g());
  assert.equal((await p).status, 200);
});
