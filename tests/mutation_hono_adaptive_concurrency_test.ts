// Tests written to kill the mutants of src/hono/adaptive_concurrency.ts that
// survived its own tests (docs/mutation-testing.md): its options' messages,
// the limiters' names, which requests are congestion samples, what a shed or
// a departed request is answered, which per-key limiter is dropped, and what
// its health check says.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HealthCheck } from "../mod.ts";
import { routeAdaptiveConcurrency } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, macrotask, silent, test } from "./_harness.ts";

type Options = Parameters<typeof routeAdaptiveConcurrency>[0];

/** An app whose /slow requests wait for their gate (by tenant header with a `key`). */
function app(options: Options) {
  const gates: ReturnType<typeof deferred<void>>[] = [];
  const mw = routeAdaptiveConcurrency({ logger: silent, ...options });
  const a = new Hono();
  a.use("*", mw);
  a.get("/slow", async (c) => {
    const g = deferred<void>();
    gates.push(g);
    await g.promise;
    return c.text("done");
  });
  const get = (tenant?: string, init: RequestInit = {}) =>
    a.request("http://x/slow", { ...init, headers: tenant ? { "x-tenant": tenant } : {} });
  return { a, mw, gates, get };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await macrotask();
  assert.ok(cond(), "condition not reached");
}

const byTenant = (c: { req: { header(n: string): string | undefined } }) =>
  c.req.header("x-tenant") ?? "none";

test("routeAdaptiveConcurrency: bad options are refused naming the option", () => {
  const bad: [unknown, RegExp][] = [
    [{ key: byTenant, maxKeys: 0 }, /^RangeError: routeAdaptiveConcurrency: option 'maxKeys'/],
    [
      { key: byTenant, maxKeys: 1.5 },
      /^RangeError: routeAdaptiveConcurrency: option 'maxKeys' must be an integer/,
    ],
    [{ key: byTenant, maxKeys: 2e9 }, /^RangeError: routeAdaptiveConcurrency: option 'maxKeys'/],
    [{ maxKeys: 5 }, /^TypeError: routeAdaptiveConcurrency: option 'maxKeys' needs option 'key'/],
    [{ key: "tenant" }, /^TypeError: routeAdaptiveConcurrency: option 'key' must be a function/],
    [
      { retryAfter: 1.5 },
      /^RangeError: routeAdaptiveConcurrency: option 'retryAfter' must be an integer/,
    ],
    [{ retryAfter: -1 }, /^RangeError: routeAdaptiveConcurrency: option 'retryAfter'/],
    [{ fallback: 1 }, /^TypeError: routeAdaptiveConcurrency: option 'fallback' must be a function/],
    [{ health: 5 }, /^TypeError: routeAdaptiveConcurrency: option 'health' must be an object/],
    [
      { health: { register: 1 } },
      /^TypeError: routeAdaptiveConcurrency: option 'health' must be a HealthCheck$/,
    ],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => routeAdaptiveConcurrency(options as never),
      message,
      JSON.stringify(options),
    );
  }
  // The edges accepted: maxKeys 1 and 1e9, retryAfter 0.
  routeAdaptiveConcurrency({ key: byTenant, maxKeys: 1 });
  routeAdaptiveConcurrency({ key: byTenant, maxKeys: 1e9 });
  routeAdaptiveConcurrency({ retryAfter: 0 });
});

test("routeAdaptiveConcurrency: a keyed middleware validates the limiter options when built", () => {
  assert.throws(
    () => routeAdaptiveConcurrency({ key: byTenant, minLimit: 0 }),
    /^RangeError: adaptiveConcurrency: option 'minLimit'/,
  );
});

test("routeAdaptiveConcurrency: the 503 names the limiter ('route' by default), its limit and why", async () => {
  const { gates, get } = app({ initialLimit: 1 });
  const first = get();
  await until(() => gates.length === 1);
  const res = await get();
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "1");
  const body = await res.json();
  assert.equal(body.title, "Service Unavailable");
  assert.equal(body.limiter, "route");
  assert.equal(body.limit, 1);
  assert.equal(body.reason, "limit");
  assert.equal(body.retryAfter, 1);
  assert.equal(typeof body.detail, "string");
  assert.match(body.detail, /route/);
  gates[0].resolve();
  assert.equal((await first).status, 200);
});

test("routeAdaptiveConcurrency: a keyed limiter is named name:key (route:key by default)", async () => {
  const { gates, get, mw } = app({ initialLimit: 1, key: byTenant });
  const first = get("acme");
  await until(() => gates.length === 1);
  const body = await (await get("acme")).json();
  assert.equal(body.limiter, "route:acme");
  assert.equal(mw.limiter("acme")!.name, "route:acme");
  assert.equal(mw.limiter(), undefined, "no key given: none (one limiter per key)");
  gates[0].resolve();
  await first;
});

test("routeAdaptiveConcurrency: an async fallback's answer is awaited", async () => {
  const { gates, get } = app({
    initialLimit: 1,
    fallback: async (c, e) => {
      await macrotask();
      return c.text(`later ${e.reason}`, 429);
    },
  });
  const first = get();
  await until(() => gates.length === 1);
  const res = await get();
  assert.deepEqual([res.status, await res.text()], [429, "later limit"]);
  gates[0].resolve();
  await first;
});

test("routeAdaptiveConcurrency: a handler's own error reaches onError unchanged", async () => {
  const bad = new RangeError("handler bug");
  const seen: unknown[] = [];
  const a = new Hono();
  a.onError((e, c) => {
    seen.push(e);
    return c.text("onError", 500);
  });
  a.get("/", routeAdaptiveConcurrency({ logger: silent }), () => {
    throw bad;
  });
  const res = await a.request("/");
  assert.equal(res.status, 500);
  assert.deepEqual(seen, [bad]);
});

test("routeAdaptiveConcurrency: a running request whose client leaves is not answered 499", async () => {
  const mw = routeAdaptiveConcurrency({ logger: silent, initialLimit: 5 });
  const a = new Hono();
  a.get("/", mw, (c) => {
    const signal = c.req.raw.signal;
    return new Promise<Response>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason), { once: true })
    );
  });
  a.onError((_e, c) => c.text("gone", 500));
  const ctl = new AbortController();
  const p = a.request(new Request("http://x/", { signal: ctl.signal }));
  await macrotask();
  ctl.abort(new Error("client gone"));
  const res = await p;
  // The handler's own failure goes through onError; only a queued request's departure is 499.
  assert.equal(res.status, 500);
});

test("routeAdaptiveConcurrency: a TimeoutError (AbortSignal.timeout's) and a { timeout, operation } error are congestion samples", async () => {
  const errors = [
    new DOMException("timed out", "TimeoutError"),
    Object.assign(new Error("deadline"), { timeout: 10, operation: "db" }),
  ];
  for (const error of errors) {
    const clock = new FakeClock();
    const mw = routeAdaptiveConcurrency({
      initialLimit: 40,
      sampleWindow: 1,
      minSamples: 1,
      probeInterval: 0,
      clock,
      logger: silent,
    });
    const a = new Hono();
    a.get("/", mw, () => {
      throw error;
    });
    a.onError((_e, c) => c.text("handled", 500));
    clock.tick(5);
    const res = await a.request("/");
    assert.deepEqual([res.status, await res.text()], [500, "handled"], error.name);
    assert.ok(
      mw.limiter()!.getStats().limit < 40,
      `${error.name}: ${mw.limiter()!.getStats().limit}`,
    );
  }
  // Other errors are not: a timeout with no operation, an operation with no timeout, others.
  for (
    const error of [
      Object.assign(new Error("x"), { timeout: 10 }),
      Object.assign(new Error("y"), { operation: "db" }),
      Object.assign(new Error("z"), { timeout: "10", operation: "db" }),
      new Error("plain"),
    ]
  ) {
    const clock = new FakeClock();
    const mw = routeAdaptiveConcurrency({
      initialLimit: 40,
      sampleWindow: 1,
      minSamples: 1,
      probeInterval: 0,
      clock,
      logger: silent,
    });
    const a = new Hono();
    a.get("/", mw, () => {
      throw error;
    });
    a.onError((_e, c) => c.text("handled", 500));
    clock.tick(5);
    assert.equal((await a.request("/")).status, 500);
    assert.equal(mw.limiter()!.getStats().limit, 40, error.message);
  }
});

test("routeAdaptiveConcurrency: with every limiter busy, the least recently used is dropped; a use makes one recent", async () => {
  const { gates, get, mw } = app({ initialLimit: 1, key: byTenant, maxKeys: 2 });
  const a = get("a");
  await until(() => gates.length === 1);
  const b = get("b");
  await until(() => gates.length === 2);
  assert.deepEqual(mw.keys(), ["a", "b"]);
  assert.equal((await get("a")).status, 503, "a used again (refused): now the most recent");
  assert.deepEqual(mw.keys(), ["b", "a"]);
  const c = get("c");
  await until(() => gates.length === 3);
  assert.deepEqual(mw.keys(), ["a", "c"], "b, the least recently used, dropped though busy");
  gates.forEach((g) => g.resolve());
  assert.deepEqual(
    [(await a).status, (await b).status, (await c).status],
    [200, 200, 200],
    "b's running request still ends normally",
  );
});

test("routeAdaptiveConcurrency: limiter(key) finds a key as given or as keys() lists it", async () => {
  const { gates, get, mw } = app({ initialLimit: 1, key: byTenant });
  const long = "t".repeat(300);
  const p = get(long);
  await until(() => gates.length === 1);
  const listed = mw.keys()[0];
  assert.notEqual(listed, long);
  assert.equal(mw.limiter(long), mw.limiter(listed));
  assert.ok(mw.limiter(long));
  assert.equal(mw.limiter("other"), undefined);
  gates[0].resolve();
  await p;
});

test("routeAdaptiveConcurrency: the health check counts refusals (dropped limiters' too), plural, for 10 s exactly", async () => {
  const health = new HealthCheck();
  const clock = new FakeClock();
  const { gates, get } = app({
    name: "api",
    initialLimit: 1,
    key: byTenant,
    maxKeys: 1,
    health,
    clock,
  });
  const check = async () => {
    const r = await health.runAll();
    return r.checks.find((c) => c.name === "adaptive:api")!;
  };
  let c = await check();
  assert.equal(c.status, "healthy");
  assert.equal(c.message, "ok");
  assert.equal(c.details.refused, 0);
  assert.equal(c.details.keys, 0);
  const first = get("a");
  await until(() => gates.length === 1);
  assert.equal((await get("a")).status, 503);
  assert.equal((await get("a")).status, 503);
  c = await check();
  assert.equal(c.status, "degraded");
  assert.equal(c.message, "shedding load: 2 requests refused so far");
  assert.equal(c.details.refused, 2);
  assert.equal(c.details.keys, 1);
  assert.equal((c.details.limiters as { name: string }[])[0].name, "api:a");
  gates[0].resolve();
  await first;
  // b replaces a (maxKeys 1): a's refusals still count.
  const second = get("b");
  await until(() => gates.length === 2);
  gates[1].resolve();
  await second;
  clock.tick(9_999);
  c = await check();
  assert.equal(c.status, "degraded", "9,999 ms after the last refusal");
  assert.equal(c.details.refused, 2);
  clock.tick(1);
  c = await check();
  assert.equal(c.status, "healthy", "10 s after");
  assert.equal(c.message, "ok");
  assert.equal(c.details.refused, 2);
});

test("routeAdaptiveConcurrency: one refusal reads '1 request'; a single limiter's figures are the details", async () => {
  const health = new HealthCheck();
  const { gates, get } = app({ name: "one", initialLimit: 1, health });
  const first = get();
  await until(() => gates.length === 1);
  assert.equal((await get()).status, 503);
  const r = await health.runAll();
  const c = r.checks.find((x) => x.name === "adaptive:one")!;
  assert.equal(c.message, "shedding load: 1 request refused so far");
  assert.equal(c.details.limit, 1);
  assert.equal(c.details.inFlight, 1);
  assert.equal(c.details.refused, 1);
  assert.equal(c.details.keys, undefined);
  // Non-critical: degraded, never unhealthy.
  assert.equal(c.critical, false);
  assert.equal(r.status, "degraded");
  gates[0].resolve();
  await first;
});

test("routeAdaptiveConcurrency: the health check lists the 20 most recent limiters", async () => {
  const health = new HealthCheck();
  const mw = routeAdaptiveConcurrency({ name: "many", key: byTenant, health, logger: silent });
  const a = new Hono();
  a.get("/", mw, (c) => c.text("ok"));
  for (let i = 0; i < 25; i++) {
    await a.request("/", { headers: { "x-tenant": `t${i}` } });
  }
  const c = (await health.runAll()).checks.find((x) => x.name === "adaptive:many")!;
  assert.equal(c.details.keys, 25);
  const names = (c.details.limiters as { name: string }[]).map((l) => l.name);
  assert.equal(names.length, 20);
  assert.equal(names[0], "many:t5");
  assert.equal(names[19], "many:t24");
});

test("routeAdaptiveConcurrency: a non-Error thrown below it passes through as is (not a 499, not a 503)", async () => {
  for (const thrown of [undefined, "boom"]) {
    const mw = routeAdaptiveConcurrency({ logger: silent });
    const a = new Hono();
    a.get("/", mw, () => {
      throw thrown;
    });
    // Hono hands only Error instances to onError: anything else leaves app.request as is.
    const outcome = await Promise.resolve(a.request("/")).then(
      (r) => ({ answered: r.status }),
      (e) => ({ thrown: e }),
    );
    assert.deepEqual(outcome, { thrown }, String(thrown));
    assert.equal(mw.limiter()!.getStats().inFlight, 0);
  }
});

test("routeAdaptiveConcurrency: a request whose client already left is answered 499, not refused, even at the limit", async () => {
  const { gates, get, mw } = app({ initialLimit: 1 });
  const first = get();
  await until(() => gates.length === 1);
  const ctl = new AbortController();
  ctl.abort(new Error("client gone"));
  const res = await get(undefined, { signal: ctl.signal });
  assert.equal(res.status, 499);
  assert.equal(mw.limiter()!.getStats().refused, 0);
  gates[0].resolve();
  await first;
});

test("routeAdaptiveConcurrency: a non-Error thrown after the client left passes through too (only the client's reason is a 499)", async () => {
  const mw = routeAdaptiveConcurrency({ logger: silent });
  const a = new Hono();
  a.get("/", mw, async (c) => {
    const signal = c.req.raw.signal;
    await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
    throw "boom";
  });
  const ctl = new AbortController();
  const p = Promise.resolve(a.request(new Request("http://x/", { signal: ctl.signal }))).then(
    (r) => ({ answered: r.status }),
    (e) => ({ thrown: e }),
  );
  await macrotask();
  ctl.abort(new Error("client gone"));
  assert.deepEqual(await p, { thrown: "boom" });
});
