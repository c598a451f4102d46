// What a fresh-eyes review of the status page found, each pinned: an unnamed breaker keeps its id
// when it later takes its first function's name; a route circuit named like a registered breaker
// gets an ordinal id and keeps it; a breaker listed twice is shown once; past the first 50 found
// bulkheads and limiters the rest are counted; a bad `breakers` option names true and false.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { bulkhead, circuitBreaker, removeCircuitBreaker } from "../mod.ts";
import { routeCircuitBreaker, statusPage } from "../src/hono/mod.ts";
import { silent, test } from "./_harness.ts";
import { json, mount, post } from "./_status_page.ts";

test("statusPage: an unnamed breaker keeps its id when it later takes its first function's name", async () => {
  const b = circuitBreaker({ failureThreshold: 1, logger: silent });
  const page = mount({ breakers: [b], authorize: () => true });
  const [before] = (await json(page)).breakers;
  assert.match(before.id, /^anonymous#\d+$/);
  // (A bundler may rename the function: its name is read, not spelled.)
  const inner = function fetchPrices() {
    return Promise.reject(new Error("down"));
  };
  const fetchPrices = b(inner);
  await assert.rejects(fetchPrices());
  const [after] = (await json(page)).breakers;
  assert.match(inner.name, /^fetchPrices/);
  assert.equal(after.name, inner.name);
  assert.equal(after.id, before.id, "the id shown first still names it");
  const r = await post(page, { breaker: before.id, action: "reset" });
  assert.equal(r.status, 200);
  assert.equal(b.state, "closed");
});

test("statusPage: a route circuit named like a registered breaker takes an ordinal id, and keeps it", async () => {
  const mw = routeCircuitBreaker({ failureThreshold: 1, logger: silent });
  const app = new Hono();
  app.get("/clash", mw, (c) => c.text("x", 503));
  await app.request("/clash");
  const page = mount({ breakers: [mw], authorize: () => true });
  assert.deepEqual((await json(page)).breakers.map((r) => r.id), ["route:GET /clash"]);
  // A registered breaker of the same name appears: it has the name; the route circuit an ordinal.
  const registered = circuitBreaker({ name: "route:GET /clash", logger: silent });
  try {
    const both = mount({ breakers: [registered, mw], authorize: () => true });
    const rows = (await json(both)).breakers;
    assert.deepEqual(rows.map((r) => r.state), ["open", "closed"]); // OPEN first
    const routeId = rows[0].id;
    assert.match(routeId, /^route:GET \/clash#\d+$/);
    assert.equal(rows[1].id, "route:GET /clash");
    assert.equal(new Set(rows.map((r) => r.id)).size, 2);
    // The ordinal id reaches the route circuit, the name the registered breaker.
    assert.equal((await post(both, { breaker: routeId, action: "reset" })).status, 200);
    assert.equal(mw.breakers.get("GET /clash")!.state, "closed");
    assert.equal(
      (await post(both, { breaker: "route:GET /clash", action: "open" })).status,
      200,
    );
    assert.equal(registered.state, "open");
    assert.equal(mw.breakers.get("GET /clash")!.state, "closed");
    // Kept: on the first page too (no namesake listed there), the id does not change back.
    assert.deepEqual((await json(page)).breakers.map((r) => r.id), [routeId]);
  } finally {
    removeCircuitBreaker("route:GET /clash");
  }
});

test("statusPage: a breaker listed twice (or also held by a listed route middleware) is shown once", async () => {
  const n = circuitBreaker({ logger: silent });
  n(function listedTwice() {});
  const page = mount({ breakers: [n, n] });
  const s = await json(page);
  assert.deepEqual(s.breakers.map((r) => r.name), ["listedTwice"]);
  assert.equal(s.circuits.total, 1);
  const mw = routeCircuitBreaker({ logger: silent });
  const app = new Hono();
  app.get("/t", mw, (c) => c.text("ok"));
  await app.request("/t");
  const inner = mw.breakers.get("GET /t")!;
  const rows = (await json(mount({ breakers: [mw, inner, mw] }))).breakers;
  assert.deepEqual(rows.map((r) => r.name), ["route:GET /t"]);
});

test("statusPage: without lists, the first 50 live bulkheads are listed and the rest counted", async () => {
  const held = Array.from(
    { length: 53 },
    (_, i) => bulkhead({ name: `omit-${i}`, maxConcurrent: 1 }),
  );
  const s = await json(mount({ breakers: false }));
  assert.equal(s.bulkheads.length, 50);
  assert.ok(s.omitted.bulkheads >= 3, JSON.stringify(s.omitted));
  assert.equal(s.bulkheads.length + s.omitted.bulkheads >= held.length, true);
  // Given lists are listed whole.
  const given = await json(mount({ breakers: false, bulkheads: held, limiters: [] }));
  assert.equal(given.bulkheads.length, 53);
  assert.deepEqual(given.omitted, { bulkheads: 0, rateLimiters: 0, adaptiveLimiters: 0 });
  // The page's initial data says so (its script renders "N more not listed").
  const html = await (await mount({ breakers: false }).request("/status")).text();
  assert.match(html, /"omitted":\{"bulkheads":([3-9]|\d\d+),/);
});

test("statusPage: a bad `breakers` option says true, false or a list", () => {
  for (const v of ["all", 1, [{}]]) {
    assert.throws(
      () => statusPage({ breakers: v as never }),
      /'breakers' must be true, false, or an array of breakers and route middlewares/,
    );
  }
});
