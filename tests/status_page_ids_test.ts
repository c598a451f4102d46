// The status page finds breakers built without a name, and acts on the one an operator chose when
// several share a name: every circuit has an `id` (its name when the name finds it — a registered
// breaker, a route circuit —, else its name and an instance ordinal). Runs inside workerd too.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { circuitBreaker } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { type BreakerStatus, routeCircuitBreaker } from "../src/hono/mod.ts";
import { silent, test } from "./_harness.ts";
import { json, mount, post } from "./_status_page.ts";

test("statusPage: breakers built without a name are shown (by default), each with its own id", async () => {
  const clock = new FakeClock();
  // Not registered: named after the first function each wraps (unique in this process).
  const a = circuitBreaker({ failureThreshold: 1, clock, logger: silent });
  const b = circuitBreaker({ failureThreshold: 1, clock, logger: silent });
  const first = a(function idsFirstUnnamed() {
    return Promise.reject(new Error("down"));
  });
  b(function idsSecondUnnamed() {});
  await assert.rejects(first());
  const app = mount({ authorize: () => true, clock, maxBreakers: 1_000_000 });
  const s = await json(app);
  const row = (name: string) => s.breakers.filter((r) => r.name === name);
  assert.deepEqual(row("idsFirstUnnamed").map((r) => r.state), ["open"]);
  assert.deepEqual(row("idsSecondUnnamed").map((r) => r.state), ["closed"]);
  const id = row("idsFirstUnnamed")[0].id;
  assert.match(id, /^idsFirstUnnamed#\d+$/);
  assert.match(row("idsSecondUnnamed")[0].id, /^idsSecondUnnamed#\d+$/);
  assert.equal(new Set(s.breakers.map((r) => r.id)).size, s.breakers.length, "unique ids");
  // Stable: the same ids on the next snapshot.
  assert.deepEqual((await json(app)).breakers.map((r) => r.id), s.breakers.map((r) => r.id));
  // The action reaches that breaker by its id.
  const r = await post(app, { breaker: id, action: "reset" });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).breaker, id);
  assert.equal(a.state, "closed");
  assert.equal(b.state, "closed"); // the other one, untouched
});

test("statusPage: two breakers sharing a name are told apart; an action acts on the chosen one only", async () => {
  const clock = new FakeClock();
  // Unnamed breakers take the name of the first function they wrap: both are "fetchPrices".
  const x = circuitBreaker({ failureThreshold: 1, clock, logger: silent });
  const y = circuitBreaker({ failureThreshold: 1, clock, logger: silent });
  const fetchPrices = () => Promise.resolve(1);
  x(fetchPrices);
  y(fetchPrices);
  assert.equal(x.name, "fetchPrices");
  assert.equal(y.name, "fetchPrices");
  const app = mount({ breakers: [x, y], authorize: () => true, clock });
  const rows = (await json(app)).breakers;
  assert.deepEqual(rows.map((r) => r.name), ["fetchPrices", "fetchPrices"]);
  const [first, second] = rows as BreakerStatus[];
  assert.notEqual(first.id, second.id);
  // Same state, same name: listed by ordinal (drawn when first seen), x first.
  assert.ok(Number(first.id.split("#")[1]) < Number(second.id.split("#")[1]));

  // Isolate y only; x keeps running.
  let r = await post(app, { breaker: second.id, action: "isolate" });
  assert.equal(r.status, 200);
  assert.deepEqual([x.getStats().isolated, y.getStats().isolated], [false, true]);
  // The hold is y's: releasing x's id finds no hold, isolating x works on its own.
  assert.equal((await post(app, { breaker: first.id, action: "release" })).status, 409);
  r = await post(app, { breaker: first.id, action: "open" });
  assert.equal(r.status, 200);
  assert.deepEqual([x.state, y.state], ["open", "open"]);
  r = await post(app, { breaker: second.id, action: "release" });
  assert.equal(r.status, 200);
  assert.deepEqual([x.getStats().isolated, y.getStats().isolated], [false, false]);
  r = await post(app, { breaker: first.id, action: "reset" });
  assert.deepEqual([x.state, y.getStats().isolated], ["closed", false]);
  // The bare name is ambiguous: it addresses neither.
  assert.equal((await post(app, { breaker: "fetchPrices", action: "open" })).status, 404);
  assert.equal(x.state, "closed");
});

test("statusPage: a registered breaker's id is its name", async () => {
  const b = circuitBreaker({ name: "ids-registered", logger: silent });
  const app = mount({ breakers: [b] });
  assert.deepEqual((await json(app)).breakers.map((r) => [r.id, r.name]), [[
    "ids-registered",
    "ids-registered",
  ]]);
});

test("statusPage: route circuits of two unnamed route middlewares (both 'route') get distinct ids; actions reach each", async () => {
  const app = (status: number) => {
    const mw = routeCircuitBreaker({ failureThreshold: 1, logger: silent });
    const a = new Hono();
    a.get("/x", mw, (c) => c.text("", status as 200));
    return { a, mw };
  };
  const one = app(200);
  const two = app(200);
  await one.a.request("/x");
  await two.a.request("/x");
  const page = mount({ breakers: [one.mw, two.mw], authorize: () => true });
  const rows = (await json(page)).breakers;
  assert.deepEqual(rows.map((r) => r.name), ["route:GET /x", "route:GET /x"]);
  assert.equal(rows[0].id, "route:GET /x");
  assert.match(rows[1].id, /^route:GET \/x#\d+$/);
  // Open the second one by its id: only its breaker opens.
  assert.equal((await post(page, { breaker: rows[1].id, action: "open" })).status, 200);
  assert.deepEqual(
    [one.mw.breakers.get("GET /x")!.state, two.mw.breakers.get("GET /x")!.state],
    ["closed", "open"],
  );
  // The first by its name.
  assert.equal((await post(page, { breaker: rows[0].id, action: "open" })).status, 200);
  assert.equal(one.mw.breakers.get("GET /x")!.state, "open");
  // Stable: the same ids on the next snapshot.
  assert.deepEqual(
    (await json(page)).breakers.map((r) => r.id).sort(),
    rows.map((r) => r.id).sort(),
  );
});
