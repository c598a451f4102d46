// The status page finds breakers built without a name, and acts on the one an operator chose when
// several share a name: every circuit has an `id` (its name when the name finds it — a registered
// breaker, a route circuit —, else its name and an instance ordinal). Runs inside workerd too.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { circuitBreaker } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import {
  type BreakerStatus,
  statusPage,
  type StatusPageOptions,
  type StatusSnapshot,
} from "../src/hono/mod.ts";
import { silent, test } from "./_harness.ts";

function mount(options: StatusPageOptions): Hono {
  const app = new Hono();
  app.route("/status", statusPage(options));
  return app;
}
const json = async (app: Hono): Promise<StatusSnapshot> =>
  await (await app.request("/status/json")).json();
const post = (app: Hono, body: unknown) =>
  app.request("http://ops.example/status/action", {
    method: "POST",
    headers: { origin: "http://ops.example", "content-type": "application/json" },
    body: JSON.stringify(body),
  });

test("statusPage: breakers built without a name are shown (by default), each with its own id", async () => {
  const clock = new FakeClock();
  const a = circuitBreaker({ failureThreshold: 1, clock, logger: silent });
  const b = circuitBreaker({ failureThreshold: 1, clock, logger: silent });
  await assert.rejects(a.execute(() => Promise.reject(new Error("down"))));
  const app = mount({ authorize: () => true, clock });
  const s = await json(app);
  const rows = s.breakers.filter((r) => r.name === "anonymous");
  assert.ok(rows.length >= 2, JSON.stringify(s.breakers.map((r) => r.id)));
  const ids = new Set(s.breakers.map((r) => r.id));
  assert.equal(ids.size, s.breakers.length, "ids are unique on the page");
  const open = rows.filter((r) => r.state === "open");
  assert.equal(open.length, 1);
  assert.match(open[0].id, /^anonymous#\d+$/);
  // Stable: the same ids on the next snapshot.
  assert.deepEqual((await json(app)).breakers.map((r) => r.id), s.breakers.map((r) => r.id));
  // The action reaches that breaker by its id.
  const r = await post(app, { breaker: open[0].id, action: "reset" });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).breaker, open[0].id);
  assert.equal(a.state, "closed");
  assert.equal(b.state, "closed"); // the other unnamed one, untouched
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
