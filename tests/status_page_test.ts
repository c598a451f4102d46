// statusPage through app.request: the HTML (CSP, nonce, escaping), the JSON,
// the event stream (FakeClock), authorization, same-origin actions and their
// scope, with and without a store. Runs inside workerd too (no Node API).
import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  adaptiveConcurrency,
  bulkhead,
  circuitBreaker,
  clearCircuitBreakers,
  HealthCheck,
  MemoryStore,
  rateLimiter,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import {
  routeBulkhead,
  routeCircuitBreaker,
  routeRateLimiter,
  statusPage,
  type StatusPageOptions,
  type StatusSnapshot,
} from "../src/hono/mod.ts";
import { macrotask, RUNTIME, silent, test } from "./_harness.ts";
import { json, mount, post } from "./_status_page.ts";

test("statusPage HTML: strict CSP whose nonce is the one script's and style's, fresh per request, no external asset", async () => {
  // Explicit empty lists: the page itself, not the policies other tests left alive.
  const app = mount({ breakers: [], bulkheads: [], limiters: [] });
  const res = await app.request("/status");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/html/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  const policy = res.headers.get("content-security-policy")!;
  const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(policy)![1];
  assert.ok(nonce.length >= 22);
  assert.match(policy, /default-src 'none'/);
  assert.match(policy, new RegExp(`style-src 'nonce-${nonce.replace(/[+/=]/g, "\\$&")}'`));
  assert.match(policy, /connect-src 'self'/);
  assert.match(policy, /frame-ancestors 'none'/);
  assert.doesNotMatch(policy, /unsafe/);
  const html = await res.text();
  // One executable script and one style, both with the nonce; the data block is inert JSON.
  const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
  assert.deepEqual(scripts, [' id="initial" type="application/json"', ` nonce="${nonce}"`]);
  assert.deepEqual([...html.matchAll(/<style([^>]*)>/g)].map((m) => m[1]), [` nonce="${nonce}"`]);
  // Nothing loaded from elsewhere (the SVG namespace is a name, not a fetch).
  assert.doesNotMatch(
    html.replaceAll("http://www.w3.org/2000/svg", "").replaceAll(nonce, ""),
    /<link|src=|style="|\/\//,
  );
  assert.ok(html.length < 20_000, `page is ${html.length} bytes`);
  const again = (await app.request("/status")).headers.get("content-security-policy")!;
  assert.notEqual(again, policy);
});

test("statusPage HTML: names from breakers cannot break out of the data block or attributes", async () => {
  clearCircuitBreakers();
  const evil = circuitBreaker({ name: "</script><script>alert(1)</script>", logger: silent });
  const app = mount({ breakers: [evil] });
  const html = await (await app.request("/status")).text();
  assert.ok(!html.includes("</script><script>alert"));
  const data = /<script id="initial" type="application\/json">([^<]*)<\/script>/.exec(html)![1];
  assert.equal(JSON.parse(data).breakers[0].name, evil.name);
  // The mount path is reflected as an attribute: escaped.
  const odd = new Hono();
  odd.route('/s"x', statusPage({ breakers: [] }));
  const h2 = await (await odd.request('/s"x')).text();
  assert.match(h2, /data-base="\/s&quot;x"/);
});

test("statusPage JSON: every breaker's state, source, failures, countdown, probes, last transition; OPEN first; no-store", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const a = circuitBreaker({
    name: "a",
    failureThreshold: 2,
    resetTimeout: 5000,
    clock,
    logger: silent,
  });
  const rate = circuitBreaker({
    name: "rate",
    failureRateThreshold: 0.5,
    minimumThroughput: 2,
    windowCalls: 10,
    clock,
    logger: silent,
  });
  await rate.execute(() => "ok");
  const route = routeCircuitBreaker({ name: "r", failureThreshold: 1, clock, logger: silent });
  const app = new Hono();
  app.get("/x", route, (c) => c.text("down", 500));
  mount({ breakers: [a, rate, route], clock }, app);
  for (let i = 0; i < 2; i++) await a.execute(() => Promise.reject(new Error("x"))).catch(() => {});
  await app.request("/x");
  clock.tick(1000);
  const res = await app.request("/status/json");
  assert.equal(res.headers.get("cache-control"), "no-store");
  const s: StatusSnapshot = await res.json();
  assert.deepEqual(s.circuits, {
    total: 3,
    closed: 1,
    open: 2,
    half_open: 0,
    listed: 3,
    omitted: 0,
    unread: 0,
  });
  assert.deepEqual(s.breakers.map((b) => [b.name, b.state]), [
    ["a", "open"],
    ["r:GET /x", "open"],
    ["rate", "closed"],
  ]);
  const [ba, , br] = s.breakers;
  assert.equal(ba.source, "instance");
  assert.equal(ba.shared, false);
  assert.equal(ba.storeAvailable, null);
  assert.equal(ba.timeUntilReset, 4000);
  assert.equal(ba.failureThreshold, 2);
  assert.equal(ba.halfOpenInFlight, 0);
  assert.deepEqual(ba.lastTransition, {
    to: "open",
    reason: "failure_threshold",
    at: clock.wallNow() - 1000,
  });
  assert.equal(s.at, clock.wallNow());
  assert.equal(br.failureRate, 0);
  assert.deepEqual(br.window, { calls: 1, failures: 0, slowCalls: 0, slowCallRate: 0 });
  assert.equal(br.totalCalls, 1);
  assert.equal(s.actions, false);
  assert.ok(s.breakers.every((b) => b.actions === undefined));
  assert.equal(s.health, null);
  // Isolated: no reset due (null), said as such.
  const release = a.isolate();
  const iso = (await json(app)).breakers.find((b) => b.name === "a")!;
  assert.equal(iso.isolated, true);
  assert.equal(iso.timeUntilReset, null);
  release();
});

test("statusPage JSON: maxBreakers caps the list (OPEN kept first) and the summary counts all", async () => {
  const clock = new FakeClock();
  const list = Array.from(
    { length: 6 },
    (_, i) => circuitBreaker({ name: `cap-${i}`, failureThreshold: 1, clock, logger: silent }),
  );
  list[4].open();
  const s = await json(mount({ breakers: list, maxBreakers: 2, clock }));
  assert.deepEqual(s.breakers.map((b) => b.name), ["cap-4", "cap-0"]);
  assert.deepEqual([s.circuits.total, s.circuits.listed, s.circuits.omitted], [6, 2, 4]);
  const none = await json(mount({ breakers: false }));
  assert.deepEqual([none.breakers, none.circuits.total], [[], 0]);
});

test("statusPage JSON: bulkheads, rate limiter totals (never keys), adaptive limiters, health without error text unless exposeErrors", async () => {
  const clock = new FakeClock();
  const bh = bulkhead({ name: "search", maxConcurrent: 2 });
  await bh.execute(() => "ok");
  const routeBh = routeBulkhead({ name: "uploads", maxConcurrent: 1 });
  const rl = rateLimiter({ name: "per-user", limit: 1, interval: 1000, clock });
  await rl.take("user-secret-42");
  await rl.take("user-secret-42");
  const routeRl = routeRateLimiter({
    name: "edge",
    limit: 10,
    interval: 1000,
    clock,
    key: () => "k",
  });
  const ad = adaptiveConcurrency({ name: "db", clock, logger: silent });
  const health = new HealthCheck({ version: "9.9.9", clock });
  health.register("db", () => {
    throw new Error("postgres://admin:hunter2@db.internal");
  });
  health.register("cache", () => ({ healthy: true, hits: 3 }));
  const opts = {
    breakers: [],
    bulkheads: [bh, routeBh],
    limiters: [rl, routeRl, ad],
    health,
    clock,
  } satisfies StatusPageOptions;
  const res = await mount(opts).request("/status/json");
  const text = await res.text();
  assert.doesNotMatch(text, /hunter2|user-secret/);
  const s: StatusSnapshot = JSON.parse(text);
  assert.deepEqual(s.bulkheads.map((b) => [b.name, b.executed]), [["search", 1], ["uploads", 0]]);
  assert.deepEqual(s.rateLimiters.map((l) => [l.name, l.admitted, l.limited, l.keys]), [
    ["per-user", 1, 1, 1],
    ["edge", 0, 0, 0],
  ]);
  assert.deepEqual(s.adaptiveLimiters.map((l) => l.name), ["db"]);
  assert.equal(s.health!.status, "unhealthy");
  const db = s.health!.checks.find((c) => c.name === "db")!;
  assert.equal(db.message, "check failed");
  assert.equal(db.details, undefined);
  // With exposeErrors: the text and the details.
  const exposed = await json(mount({ ...opts, exposeErrors: true, health }));
  const db2 = exposed.health!.checks.find((c) => c.name === "db")!;
  assert.match(db2.message!, /hunter2/);
  assert.deepEqual(exposed.health!.checks.find((c) => c.name === "cache")!.details, { hits: 3 });
});

test("statusPage: health checks run at most once per 5 s, whoever asks", async () => {
  const clock = new FakeClock();
  let runs = 0;
  const health = new HealthCheck({ clock });
  health.register("count", () => (runs++, true));
  const app = mount({ breakers: [], health, clock });
  await json(app);
  await json(app);
  await app.request("/status");
  assert.equal(runs, 1);
  clock.tick(5000);
  await json(app);
  assert.equal(runs, 2);
});

test("statusPage events: a snapshot per interval as SSE (retry, no-store), the pause on the clock, cleared when the client leaves", async () => {
  const clock = new FakeClock();
  const b = circuitBreaker({ name: "sse", failureThreshold: 1, clock, logger: silent });
  const app = mount({ breakers: [b], interval: 500, clock });
  const res = await app.request("/status/events");
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  assert.equal(res.headers.get("cache-control"), "no-store");
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const next = async () => {
    let text = "";
    while (!text.endsWith("\n\n")) text += decoder.decode((await reader.read()).value);
    return text;
  };
  const first = await next();
  assert.match(first, /^event: status\ndata: \{.*\}\nid: 0\nretry: 500\n\n$/s);
  assert.equal(JSON.parse(/data: (.*)/.exec(first)![1]).breakers[0].state, "closed");
  b.open();
  const pending = next();
  for (let i = 0; i < 50 && clock.pending === 0; i++) await macrotask();
  assert.equal(clock.pending, 1); // waiting on the injected clock, not a real timer
  clock.tick(500);
  const second = await pending;
  assert.match(second, /\nid: 1\n\n$/);
  assert.equal(JSON.parse(/data: (.*)/.exec(second)![1]).breakers[0].state, "open");
  await reader.cancel();
  for (let i = 0; i < 50 && clock.pending; i++) await macrotask();
  assert.equal(clock.pending, 0); // the pause ended with the stream
});

test("statusPage events: the stream ends after 5 minutes (the browser reconnects by itself)", async () => {
  const clock = new FakeClock();
  const app = mount({ breakers: [], interval: 60_000, clock });
  const reader = (await app.request("/status/events")).body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (let i = 0; i < 20; i++) {
    const r = await reader.read();
    if (r.done) break;
    text += decoder.decode(r.value);
    for (let j = 0; j < 50 && clock.pending === 0; j++) await macrotask();
    clock.tick(60_000);
  }
  assert.deepEqual([...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]), ["0", "1", "2", "3", "4"]);
  assert.equal(clock.pending, 0);
});

test("statusPage: read-only by default — no actions rendered, none accepted", async () => {
  const b = circuitBreaker({ name: "ro", logger: silent });
  const app = mount({ breakers: [b] });
  const html = await (await app.request("/status")).text();
  assert.doesNotMatch(html, /<th>Actions<\/th>/);
  const s = await json(app);
  assert.equal(s.actions, false);
  assert.equal(s.breakers[0].actions, undefined);
  assert.equal((await post(app, { breaker: "ro", action: "open" })).status, 404);
  assert.equal(b.state, "closed");
});

test("statusPage: authorize(c) decides per request; false or a throw means read-only (403)", async () => {
  const b = circuitBreaker({ name: "auth", logger: silent });
  const app = mount({
    breakers: [b],
    authorize: (c) => {
      if (c.req.header("x-token") === "boom") throw new Error("auth backend down");
      return c.req.header("x-token") === "ok";
    },
  });
  assert.equal((await json(app, { headers: { "x-token": "no" } })).actions, false);
  assert.equal((await json(app, { headers: { "x-token": "boom" } })).actions, false);
  const yes = await json(app, { headers: { "x-token": "ok" } });
  assert.equal(yes.actions, true);
  assert.deepEqual(yes.breakers[0].actions, [
    { action: "open", scope: "instance" },
    { action: "reset", scope: "instance" },
    { action: "isolate", scope: "instance" },
  ]);
  const html = await (await app.request("/status", { headers: { "x-token": "ok" } })).text();
  assert.match(html, /<th>Actions<\/th>/);
  for (const token of ["no", "boom"]) {
    const r = await post(app, { breaker: "auth", action: "open" }, { "x-token": token });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get("content-type"), "application/problem+json");
  }
  assert.equal(b.state, "closed");
  assert.equal(
    (await post(app, { breaker: "auth", action: "open" }, { "x-token": "ok" })).status,
    200,
  );
  assert.equal(b.state, "open");
});

test("statusPage actions: same-origin only, JSON only, validated", async () => {
  const b = circuitBreaker({ name: "so", logger: silent });
  const app = mount({ breakers: [b], authorize: () => true });
  const ok = { breaker: "so", action: "open" };
  assert.equal((await post(app, ok, { origin: "http://evil.example" })).status, 403);
  assert.equal((await post(app, ok, { origin: "null" })).status, 403);
  const noOrigin = await app.request("http://ops.example/status/action", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(ok),
  });
  assert.equal(noOrigin.status, 403);
  assert.equal((await post(app, ok, { "content-type": "text/plain" })).status, 415);
  assert.equal((await post(app, "{not json")).status, 400);
  assert.equal((await post(app, { breaker: "so", action: "explode" })).status, 400);
  assert.equal((await post(app, { breaker: "nope", action: "open" })).status, 404);
  assert.equal(b.state, "closed");
  // No Origin but the browser's own Sec-Fetch-Site: same-origin.
  const site = await app.request("http://ops.example/status/action", {
    method: "POST",
    headers: { "content-type": "application/json", "sec-fetch-site": "same-origin" },
    body: JSON.stringify(ok),
  });
  assert.equal(site.status, 200);
  assert.equal(b.state, "open");
});

test("statusPage actions without a store: open, reset, isolate and release act on this instance", async () => {
  const clock = new FakeClock();
  const b = circuitBreaker({ name: "local", clock, logger: silent });
  const app = mount({ breakers: [b], authorize: () => true, clock });
  let r = await post(app, { breaker: "local", action: "isolate" });
  assert.deepEqual(await r.json(), {
    breaker: "local",
    action: "isolate",
    scope: "instance",
    message: "held OPEN on this instance only until released or reset",
    state: "open",
  });
  assert.equal(b.getStats().isolated, true);
  assert.deepEqual((await json(app)).breakers[0].actions, [
    { action: "reset", scope: "instance" },
    { action: "release", scope: "instance" },
  ]);
  assert.equal((await post(app, { breaker: "local", action: "isolate" })).status, 409);
  assert.equal((await post(app, { breaker: "local", action: "isolate_fleet" })).status, 409);
  r = await post(app, { breaker: "local", action: "release" });
  assert.equal((await r.json()).scope, "instance");
  assert.equal(b.getStats().isolated, false);
  assert.equal((await post(app, { breaker: "local", action: "release" })).status, 409);
  await post(app, { breaker: "local", action: "open" });
  assert.equal(b.state, "open");
  await post(app, { breaker: "local", action: "reset" });
  assert.equal(b.state, "closed");
});

test("statusPage with a store: circuits read from the store are shown as such; reset and isolate_fleet act on the fleet", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const build = () => {
    const a = new Hono();
    a.use(
      "/api/*",
      routeCircuitBreaker({
        store,
        storeKey: "sp",
        failureThreshold: 1,
        resetTimeout: 60_000,
        clock,
        logger: silent,
      }),
    );
    a.get("/api/q", (c) => c.text("down", 500));
    // Every circuit listed: unnamed breakers of other tests (other files, on Bun) are listed too.
    mount({ app: a, authorize: () => true, maxBreakers: 1_000_000 }, a);
    return a;
  };
  const first = build();
  assert.equal((await first.request("/api/q")).status, 500);
  await new Promise((r) => setTimeout(r, 0)); // the report reaches the store
  assert.equal((await first.request("/api/q")).status, 503);
  // Another instance that has served nothing: the circuit comes from the store.
  const second = build();
  const s = await json(second);
  // (Breakers of earlier tests alive in this process — Bun runs every file in one — are listed
  // too, route circuits of other apps included: only this test's route counts.)
  const routes = s.breakers.filter((x: { name: string }) => x.name === "route:GET /api/q");
  assert.equal(routes.length, 1);
  const b = routes[0];
  assert.deepEqual([b.name, b.state, b.source, b.shared], [
    "route:GET /api/q",
    "open",
    "store",
    true,
  ]);
  assert.equal(b.halfOpenInFlight, null);
  assert.deepEqual(b.actions, [
    { action: "reset", scope: "fleet" },
    { action: "isolate", scope: "instance" },
    { action: "isolate_fleet", scope: "fleet" },
  ]);
  // Reset from the second instance: the shared circuit closes, the first follows.
  const r = await post(second, { breaker: "route:GET /api/q", action: "reset" });
  assert.equal(r.status, 200);
  assert.deepEqual((await r.json()).scope, "fleet");
  clock.tick(1001); // the first instance's view refreshes on its refresh interval
  const q = (x: { breakers: { name: string }[] }) =>
    x.breakers.find((b) => b.name === "route:GET /api/q") as typeof b;
  const mine = q(await json(first));
  assert.deepEqual([mine.state, mine.source, mine.storeAvailable], ["closed", "instance", true]);
  assert.equal((await first.request("/api/q")).status, 500); // its calls run again
  // Isolate the fleet from the first: the second sees it held OPEN, no reset due.
  const iso = await post(first, { breaker: "route:GET /api/q", action: "isolate_fleet" });
  assert.equal(iso.status, 200);
  assert.equal((await iso.json()).scope, "fleet");
  clock.tick(1001); // past the second's cached read (the store's refresh interval)
  const held = q(await json(second));
  assert.deepEqual([held.state, held.isolated, held.timeUntilReset], ["open", true, null]);
  const rel = await post(first, { breaker: "route:GET /api/q", action: "release" });
  assert.equal((await rel.json()).scope, "fleet");
});

test("statusPage: the page stays live by events, or by polling on Workers (default)", async () => {
  const html = await (await mount({ breakers: [] }).request("/status")).text();
  assert.match(html, new RegExp(`data-live="${RUNTIME === "workerd" ? "poll" : "sse"}"`));
  const polled =
    await (await mount({ breakers: [], live: "poll", interval: 2500 }).request("/status"))
      .text();
  assert.match(polled, /data-live="poll" data-interval="2500"/);
});

test("statusPage: options validated, unknown ones refused with the nearest name", () => {
  assert.throws(
    () => statusPage({ breaker: true } as never),
    /statusPage: unknown option 'breaker' \(did you mean 'breakers'\?\)/,
  );
  assert.throws(() => statusPage({ maxBreakers: -1 }), /'maxBreakers'/);
  assert.throws(() => statusPage({ interval: 10 }), /'interval'/);
  assert.throws(() => statusPage({ live: "ws" as never }), /'live' must be "sse" or "poll"/);
  assert.throws(() => statusPage({ health: {} as never }), /'health' must be a HealthCheck/);
  assert.throws(
    () => statusPage({ breakers: ["x"] as never }),
    /'breakers' must be true, false, or an array/,
  );
  assert.throws(() => statusPage({ bulkheads: [{}] as never }), /'bulkheads' must be an array/);
  assert.throws(() => statusPage({ limiters: [1] as never }), /'limiters' must be an array/);
  assert.throws(() => statusPage({ authorize: true as never }), /'authorize' must be a function/);
  assert.throws(() => statusPage({ app: {} as never }), /'app'/);
  assert.throws(() => statusPage({ instance: "" }), /'instance'/);
});

test("statusPage: without lists, it shows the bulkheads and limiters the event channel has seen", async () => {
  const { bulkhead, rateLimiter } = await import("../mod.ts");
  const bh = bulkhead({ name: "seen-bulkhead", maxConcurrent: 2 });
  const rl = rateLimiter({ name: "seen-limiter", limit: 5, interval: 1000 });
  const s = await json(mount({}));
  // The page lists the first 50 of each kind it finds. Bun runs every test file in one process,
  // where another file's live bulkheads (50 of them, in the review tests) may fill the list:
  // then this one is counted as not listed.
  const seen = (list: unknown, name: string, kind: "bulkheads" | "rateLimiters") =>
    JSON.stringify(list).includes(name) || (s.omitted?.[kind] ?? 0) > 0;
  assert.ok(seen(s.bulkheads, "seen-bulkhead", "bulkheads"), JSON.stringify(s.bulkheads));
  assert.ok(seen(s.rateLimiters, "seen-limiter", "rateLimiters"), JSON.stringify(s.rateLimiters));
  assert.ok(typeof bh === "function" && typeof rl === "function"); // held until here (weakly)
});
