import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  type ResilienceEnv,
  routeChaos,
  type RouteChaosEvent,
  routeCircuitBreaker,
  routeFallback,
  routeTimeout,
} from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { macrotask, silent, test } from "./_harness.ts";

/** A small seeded PRNG (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function app(options: Parameters<typeof routeChaos>[0]) {
  let handled = 0;
  const mw = routeChaos(options);
  const a = new Hono<ResilienceEnv>();
  a.use("/api/*", mw);
  a.get("/api/items", (c) => {
    handled++;
    return c.json({ items: [] });
  });
  return { a, mw, handled: () => handled };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cond(), "condition not reached");
}

test("routeChaos: options are validated at setup; enabled and injectionRate are required", () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /option 'enabled' is required/],
    [
      { injectionRate: 1, fault: 503 },
      /option 'enabled' is required \(a boolean or a function; chaos is never on by default\)/,
    ],
    [{ enabled: true, fault: 503 }, /option 'injectionRate' is required/],
    [{ enabled: true, injectionRate: 2, fault: 503 }, /'injectionRate'/],
    [{ enabled: "on", injectionRate: 1, fault: 503 }, /'enabled' must be a boolean or a function/],
    [
      { enabled: true, injectionRate: 1, fault: 200 },
      /'fault' must be an integer >= 400 and <= 599, got 200/,
    ],
    [{ enabled: true, injectionRate: 1, fault: 600 }, /'fault'/],
    [{ enabled: true, injectionRate: 1, fault: 503.5 }, /'fault'/],
    [{ enabled: true, injectionRate: 1, fault: "503" }, /'fault' must be a number/],
    [
      { enabled: true, injectionRate: 1, fault: 503, abort: true },
      /'fault' and 'abort' exclude each other/,
    ],
    [{ enabled: true, injectionRate: 1, abort: "yes" }, /'abort' must be a boolean/],
    [{ enabled: true, injectionRate: 1 }, /nothing to inject/],
    [{ enabled: true, injectionRate: 1, abort: false }, /nothing to inject/],
    [{ enabled: true, injectionRate: 1, latency: -1 }, /'latency'/],
    [{ enabled: true, injectionRate: 1, fault: 503, statu: 1 }, /unknown option 'statu'/],
    [{ enabled: true, injectonRate: 1, fault: 503 }, /did you mean 'injectionRate'/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => routeChaos(options as never), message, JSON.stringify(options));
  }
  assert.throws(() => routeChaos({ enabled: true, injectionRate: 1, fault: 200 }), RangeError);
  assert.throws(() => routeChaos({ enabled: 1 as never, injectionRate: 1, fault: 503 }), TypeError);
});

test("routeChaos: disabled or not picked, the request runs untouched (no draw when disabled)", async () => {
  let draws = 0;
  const random = () => (draws++, 0.5);
  const off = app({ enabled: false, injectionRate: 1, fault: 503, random });
  assert.equal((await off.a.request("/api/items")).status, 200);
  assert.equal(draws, 0);
  const notPicked = app({ enabled: true, injectionRate: 0.5, fault: 503, random });
  assert.equal((await notPicked.a.request("/api/items")).status, 200);
  assert.equal(draws, 1);
  assert.deepEqual(notPicked.mw.chaos.getStats(), {
    name: "route",
    requests: 1,
    enabled: 1,
    injected: 0,
    faults: 0,
    delays: 0,
    aborts: 0,
  });
});

test("routeChaos: a header gate with a secret; an unset secret keeps chaos off", async () => {
  for (
    const [secret, header, status] of [
      ["s3cret", "s3cret", 503],
      ["s3cret", "wrong", 200],
      ["s3cret", undefined, 200],
      [undefined, undefined, 200], // the footgun the example avoids
    ] as const
  ) {
    const { a } = app({
      enabled: async (c) => {
        const token: string | undefined = secret;
        return token !== undefined && c.req.header("x-chaos-token") === token;
      },
      injectionRate: 1,
      fault: 503,
    });
    const headers: Record<string, string> = header ? { "x-chaos-token": header } : {};
    assert.equal(
      (await a.request("/api/items", { headers })).status,
      status,
      `${secret} ${header}`,
    );
  }
});

test("routeChaos: a fault is a problem+json answer, marked, and the handler does not run", async () => {
  const events: RouteChaosEvent[] = [];
  const { a, mw, handled } = app({
    name: "items",
    enabled: true,
    injectionRate: 1,
    fault: 503,
    onInject: (c, e) => {
      assert.equal(c.req.path, "/api/items");
      events.push(e);
    },
  });
  const res = await a.request("/api/items");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.equal(res.headers.get("x-resilience-chaos"), "fault");
  assert.deepEqual(await res.json(), {
    type: "about:blank",
    title: "Service Unavailable",
    status: 503,
    detail: "Fault injected by routeChaos 'items'.",
    chaos: "items",
  });
  assert.equal(handled(), 0);
  assert.deepEqual(events, [{ name: "items", latency: 0, answer: "fault" }]);
  assert.deepEqual([mw.chaos.name, mw.chaos.getStats().faults], ["items", 1]);
  const odd = app({ enabled: true, injectionRate: 1, fault: 418 });
  const r = await odd.a.request("/api/items");
  assert.equal(r.status, 418);
  assert.equal((await r.json()).title, "Injected Fault");
  // A fault function makes the whole answer.
  const own = app({
    enabled: true,
    injectionRate: 1,
    fault: (c) => c.text("teapot", 500, { "retry-after": "7" }),
  });
  const r2 = await own.a.request("/api/items");
  assert.deepEqual([r2.status, await r2.text(), r2.headers.get("retry-after")], [
    500,
    "teapot",
    "7",
  ]);
});

test("routeChaos: abort cuts the connection: headers go out, the body read fails", async () => {
  const { a, mw, handled } = app({ name: "cut", enabled: true, injectionRate: 1, abort: true });
  const res = await a.request("/api/items");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-resilience-chaos"), "abort");
  const e = await res.text().catch((e) => e);
  assert.ok(e instanceof Error, String(e));
  assert.equal(handled(), 0);
  assert.equal(mw.chaos.getStats().aborts, 1);
});

test("routeChaos: latency delays the handler on the injected clock", async () => {
  const clock = new FakeClock();
  const { a, mw, handled } = app({ enabled: true, injectionRate: 1, latency: 2_000, clock });
  let done = false;
  const p = Promise.resolve(a.request("/api/items")).then((r) => ((done = true), r));
  await clock.tickAsync(1_999);
  assert.deepEqual([done, handled()], [false, 0]);
  await clock.tickAsync(1);
  assert.equal((await p).status, 200);
  assert.deepEqual([handled(), clock.pending, mw.chaos.getStats().delays], [1, 0, 1]);
  // Latency then fault: a slow failure.
  const slowFail = app({ enabled: true, injectionRate: 1, latency: () => 300, fault: 502, clock });
  const q = slowFail.a.request("/api/items");
  await clock.tickAsync(300);
  assert.equal((await q).status, 502);
  assert.equal(clock.pending, 0);
});

test("routeChaos: an enclosing routeTimeout cuts the latency at its deadline (504, timer cleared)", async () => {
  const clock = new FakeClock();
  let handled = 0;
  const a = new Hono<ResilienceEnv>();
  a.get(
    "/slow",
    routeTimeout(500, { clock, logger: silent }),
    routeChaos({ enabled: true, injectionRate: 1, latency: 60_000, clock }),
    (c) => {
      handled++;
      return c.text("late");
    },
  );
  const p = a.request("/slow");
  await clock.tickAsync(500);
  const res = await p;
  assert.equal(res.status, 504);
  assert.equal(clock.pending, 0);
  await clock.tickAsync(60_000);
  assert.equal(handled, 0);
});

test("routeChaos: a client leaving during the latency ends it at once (499, timer cleared)", async () => {
  const clock = new FakeClock();
  const { a, handled } = app({ enabled: true, injectionRate: 1, latency: 60_000, clock });
  const ctl = new AbortController();
  const p = a.request(new Request("http://localhost/api/items", { signal: ctl.signal }));
  await until(() => clock.pending === 1);
  ctl.abort(new Error("client gone"));
  assert.equal((await p).status, 499);
  assert.equal(clock.pending, 0);
  assert.equal(handled(), 0);
  // Already gone before the delay: no timer at all.
  const gone = new AbortController();
  gone.abort(new Error("gone"));
  const q = await a.request(new Request("http://localhost/api/items", { signal: gone.signal }));
  assert.equal(q.status, 499);
  assert.equal(clock.pending, 0);
});

test("routeChaos: over 10,000 seeded requests the injected count is within binomial bounds", async () => {
  const n = 10_000;
  const rate = 0.2;
  const { a, mw, handled } = app({
    enabled: true,
    injectionRate: (c) => (c.req.path === "/api/items" ? rate : 0),
    fault: 503,
    random: seeded(7),
  });
  let faults = 0;
  for (let i = 0; i < n; i++) {
    if ((await a.request("/api/items")).status === 503) faults++;
  }
  const sd = Math.sqrt(n * rate * (1 - rate));
  assert.ok(Math.abs(faults - n * rate) <= 5 * sd, `${faults} of ${n}`);
  assert.equal(handled(), n - faults);
  assert.deepEqual([mw.chaos.getStats().injected, mw.chaos.getStats().enabled], [faults, n]);
});

test("routeChaos: prove the fallback works — the breaker opens on injected 5xx, the fallback answers", async () => {
  let chaosOn = false;
  let handled = 0;
  const breaker = routeCircuitBreaker({ name: "chaos-quote", failureThreshold: 2, logger: silent });
  const chaos = routeChaos({ enabled: () => chaosOn, injectionRate: 1, fault: 503 });
  const a = new Hono<ResilienceEnv>();
  a.get("/quote", routeFallback({ lastGood: true }), breaker, chaos, (c) => {
    handled++;
    return c.json({ quote: "fresh" });
  });
  const good = await a.request("/quote");
  assert.deepEqual(await good.json(), { quote: "fresh" });
  await macrotask(); // the last good copy is stored in the background
  chaosOn = true;
  for (let i = 0; i < 3; i++) {
    const res = await a.request("/quote");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-resilience-fallback"), "last-good");
    assert.deepEqual(await res.json(), { quote: "fresh" });
  }
  // Two injected 503s opened the breaker; the third request was refused before the chaos.
  assert.equal(chaos.chaos.getStats().faults, 2);
  assert.equal([...breaker.breakers.values()][0].state, "open");
  chaosOn = false; // the upstream is "well" again, but the open breaker still answers for it
  const res = await a.request("/quote");
  assert.equal(res.headers.get("x-resilience-fallback"), "last-good");
  assert.equal(handled, 1);
  [...breaker.breakers.values()][0].reset();
});
