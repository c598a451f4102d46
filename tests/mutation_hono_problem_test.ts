// Tests written to kill the mutants of src/hono/problem.ts that survived the
// Hono tests (docs/mutation-testing.md): the 504 a route and an upstream
// deadline answer with, and what a Worker's `waitUntil` is handed.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { ResilienceTimeoutError } from "../mod.ts";
import {
  GatewayTimeoutError,
  type ResilienceEnv,
  resilientFetch,
  routeTimeout,
} from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

/** An upstream that never answers, and fails with the signal's reason once aborted. */
const hanging = (req: Request) =>
  new Promise<Response>((_, reject) => {
    if (req.signal.aborted) reject(req.signal.reason);
    req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true });
  });

/** An execution context that records what it is handed. */
function executionCtx() {
  const handed: Promise<unknown>[] = [];
  return {
    handed,
    ctx: {
      waitUntil(p: Promise<unknown>) {
        handed.push(p);
      },
      passThroughOnException() {},
      props: {},
    },
  };
}

test("GatewayTimeoutError: a route deadline answers 504 problem+json naming the deadline", async () => {
  const clock = new FakeClock();
  const app = new Hono<ResilienceEnv>();
  app.get("/slow", routeTimeout(50, { clock }), () => new Promise<Response>(() => {}));
  const pending = app.request("/slow");
  await clock.tickAsync(50);
  const res = await pending;
  assert.equal(res.status, 504);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.deepEqual(await res.json(), {
    type: "about:blank",
    title: "Gateway Timeout",
    status: 504,
    detail: "The request did not complete within 50ms.",
  });
});

test("GatewayTimeoutError: an upstream deadline answers 504 without the route's wording", async () => {
  const clock = new FakeClock();
  const app = new Hono();
  let thrown: unknown;
  app.get("/up", async () => {
    try {
      return await resilientFetch("http://upstream.invalid/x", {
        fetch: hanging,
        totalTimeout: 40,
        maxAttempts: 1,
        clock,
        logger: silent,
      });
    } catch (e) {
      thrown = e;
      throw e;
    }
  });
  const pending = app.request("/up");
  await clock.tickAsync(40);
  const res = await pending;
  assert.ok(thrown instanceof GatewayTimeoutError);
  assert.ok(thrown instanceof ResilienceTimeoutError);
  assert.equal(thrown.status, 504);
  assert.notEqual(thrown.operation, "route");
  assert.equal(res.status, 504);
  assert.deepEqual(await res.json(), {
    type: "about:blank",
    title: "Gateway Timeout",
    status: 504,
    detail: "An upstream request did not complete in time.",
  });
});

test("waitUntil: a Worker is handed the abandoned handler, never a promise that rejects", async () => {
  const clock = new FakeClock();
  const app = new Hono<ResilienceEnv>();
  let fail!: (e: unknown) => void;
  app.onError((_, c) => c.text("the late failure, unseen", 500)); // not logged
  app.get(
    "/slow",
    routeTimeout(50, { clock }),
    // Ignores the abort, and fails later (its cleanup goes wrong).
    () => new Promise<Response>((_, reject) => (fail = reject)),
  );
  const { handed, ctx } = executionCtx();
  const pending = app.request("/slow", undefined, undefined, ctx);
  await clock.tickAsync(50);
  assert.equal((await pending).status, 504);
  assert.equal(handed.length, 1);
  let settled = "pending";
  handed[0].then(() => (settled = "fulfilled"), () => (settled = "rejected"));
  await Promise.resolve();
  assert.equal(settled, "pending", "waits for the abandoned handler");
  fail(new Error("cleanup failed"));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(settled, "fulfilled");
});

test("waitUntil: an execution context without waitUntil is left alone", async () => {
  const clock = new FakeClock();
  const app = new Hono<ResilienceEnv>();
  app.get("/slow", routeTimeout(50, { clock }), () => new Promise<Response>(() => {}));
  const pending = app.request("/slow", undefined, undefined, {} as never);
  await clock.tickAsync(50);
  const res = await pending;
  assert.equal(res.status, 504);
  assert.equal((await res.json()).title, "Gateway Timeout");
});
