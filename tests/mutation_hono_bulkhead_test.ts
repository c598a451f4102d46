// Tests written to kill the mutants of src/hono/bulkhead.ts that survived its
// own tests (docs/mutation-testing.md): what a client and a health endpoint
// see, through `app.request`.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HealthCheck } from "../mod.ts";
import { routeBulkhead } from "../src/hono/mod.ts";
import { deferred, test } from "./_harness.ts";

async function until(cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cond(), "condition not reached");
}

test("routeBulkhead: the default refusal is titled 'Service Unavailable' with Retry-After 1", async () => {
  const mw = routeBulkhead({ maxConcurrent: 1 });
  const a = new Hono();
  const gate = deferred<void>();
  a.get("/slow", mw, async (c) => (await gate.promise, c.text("ok")));
  const first = a.request("/slow");
  await until(() => mw.bulkhead.getStats().running === 1);
  const res = await a.request("/slow");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "1");
  const body = await res.json();
  assert.equal(body.type, "about:blank");
  assert.equal(body.title, "Service Unavailable");
  assert.equal(body.status, 503);
  assert.equal(body.bulkhead, "route");
  assert.equal(body.retryAfter, 1);
  assert.match(body.detail, /route/);
  gate.resolve();
  assert.equal((await first).status, 200);
});

test("routeBulkhead: retryAfter must be a whole number of seconds; health must be an object", () => {
  assert.throws(
    () => routeBulkhead({ maxConcurrent: 1, retryAfter: 1.5 }),
    /routeBulkhead: option 'retryAfter' must be an integer/,
  );
  assert.throws(
    () => routeBulkhead({ maxConcurrent: 1, health: 5 as never }),
    /routeBulkhead: option 'health' must be an object, got 5/,
  );
});

test("routeBulkhead: its health check is non-critical, 'ok' with the bulkhead's counts when idle", async () => {
  const health = new HealthCheck();
  routeBulkhead({ name: "api", maxConcurrent: 3, health });
  const { checks } = await health.runAll();
  assert.equal(checks.length, 1);
  const [check] = checks;
  assert.equal(check.name, "bulkhead:api");
  assert.equal(check.critical, false);
  assert.equal(check.message, "ok");
  assert.equal(check.details?.maxConcurrent, 3);
  assert.equal(check.details?.rejected, 0);
});

test("routeBulkhead: a non-Error thrown by the handler after the client left reaches the caller, not a 499 or a 503", async () => {
  // Hono hands thrown Errors to onError inside `next()`; any other thrown value comes out of
  // `next()` and through the bulkhead, which must pass it on unchanged.
  for (const leave of [false, true]) {
    const mw = routeBulkhead({ maxConcurrent: 1, fallback: (c) => c.text("busy", 429) });
    const a = new Hono();
    const ctl = new AbortController();
    a.get("/odd", mw, () => {
      if (leave) ctl.abort(new Error("client went away"));
      throw "not an Error";
    });
    const got = await Promise.resolve(
      a.request(new Request("http://x/odd", { signal: ctl.signal })),
    ).then((r) => r.status, (e: unknown) => e);
    assert.equal(got, "not an Error", `client left: ${leave}`);
    assert.equal(mw.bulkhead.getStats().running, 0);
  }
});

test("routeBulkhead: `throw undefined` from the handler is not taken for a client that left", async () => {
  const mw = routeBulkhead({ maxConcurrent: 1 });
  const a = new Hono();
  a.get("/odd", mw, () => {
    throw undefined;
  });
  const got = await Promise.resolve(a.request("/odd")).then(
    (r) => ({ status: r.status }),
    (e: unknown) => ({ thrown: e }),
  );
  assert.deepEqual(got, { thrown: undefined });
});
