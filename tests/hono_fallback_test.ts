import assert from "node:assert/strict";
import { Hono } from "hono";
import { routeFallback } from "../src/hono/mod.ts";
import { macrotask, test } from "./_harness.ts";

test("routeFallback: serves the last good response for the URL when the route fails", async () => {
  let fail = false;
  const a = new Hono();
  a.get("/prices", routeFallback({ lastGood: true }), (c) => {
    if (fail) throw new Error("upstream down");
    return c.json({ price: 42 }, 200, { "x-origin": "live" });
  });
  const first = await a.request("/prices");
  assert.deepEqual(await first.json(), { price: 42 });
  await macrotask(); // the copy is stored in the background
  fail = true;
  const res = await a.request("/prices");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-resilience-fallback"), "last-good");
  assert.equal(res.headers.get("x-origin"), "live");
  assert.deepEqual(await res.json(), { price: 42 });
  // A URL never seen before has no last good answer: the failure passes.
  assert.equal((await a.request("/prices?x=1")).status, 500);
});

test("routeFallback: configured response on 5xx, with the cause", async () => {
  const a = new Hono();
  const seen: number[] = [];
  a.get(
    "/x",
    routeFallback({
      response: (c, cause) => {
        seen.push(cause.response.status);
        return c.json({ stale: true }, 200);
      },
    }),
    (c) => c.text("bad gateway", 502),
  );
  const res = await a.request("/x");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { stale: true });
  assert.deepEqual(seen, [502]);
});

test("routeFallback: successes pass through; `when` decides; maxEntries bounds the store", async () => {
  const a = new Hono();
  let status = 200;
  a.get(
    "/k/:n",
    routeFallback({
      lastGood: { maxEntries: 1 },
      when: (res) => res.status === 404,
      response: (c) => c.text("fallback"),
    }),
    (c) => c.text(`v${c.req.param("n")}`, status as 200),
  );
  assert.equal(await (await a.request("/k/1")).text(), "v1");
  await macrotask();
  assert.equal(await (await a.request("/k/2")).text(), "v2");
  await macrotask();
  status = 404;
  assert.equal(await (await a.request("/k/2")).text(), "v2"); // last good of /k/2
  assert.equal(await (await a.request("/k/1")).text(), "fallback"); // evicted
  status = 500;
  assert.equal((await a.request("/k/1")).status, 500); // not a fallback case per `when`
});

test("routeFallback: bad options fail at setup", () => {
  assert.throws(() => routeFallback({}), /'response' or 'lastGood'/);
  assert.throws(() => routeFallback({ lastGood: { maxEntries: 0 } }), RangeError);
  assert.throws(() => routeFallback({ lastGood: { maxBytes: 0 } }), /maxBytes/);
  assert.throws(() => routeFallback({ response: "x" as never }), TypeError);
  assert.throws(() => routeFallback(undefined as never), TypeError);
});

test("routeFallback: bodies over lastGood.maxBytes and event streams are not kept", async () => {
  const a = new Hono();
  let fail = false;
  const big = "x".repeat(2048);
  a.get("/big", routeFallback({ lastGood: { maxBytes: 1024 } }), (c) => {
    if (fail) return c.text("down", 500);
    // A streamed body (no content-length): the copy is abandoned past maxBytes.
    return new Response(new Blob([big]).stream());
  });
  a.get("/events", routeFallback({ lastGood: true }), (c) => {
    if (fail) return c.text("down", 500);
    return c.body("data: 1\n\n", 200, { "content-type": "text/event-stream" });
  });
  assert.equal((await (await a.request("/big")).text()).length, 2048); // the client gets it all
  assert.equal(await (await a.request("/events")).text(), "data: 1\n\n");
  await macrotask();
  fail = true;
  assert.equal((await a.request("/big")).status, 500);
  assert.equal((await a.request("/events")).status, 500);
});
