import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  clearCircuitBreakers,
  listCircuitBreakers,
  type Logger,
  MemoryStore,
  sharedStore,
  type StoreOp,
} from "../mod.ts";
import {
  type ResilienceEnv,
  routeBulkhead,
  type RouteCircuitBreaker,
  routeCircuitBreaker,
  routeTimeout,
} from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, test } from "./_harness.ts";

function app(clock: FakeClock, opts: Parameters<typeof routeCircuitBreaker>[0] = {}) {
  clearCircuitBreakers();
  const state = { fail: true, calls: 0 };
  const a = new Hono();
  const mw = routeCircuitBreaker({
    failureThreshold: 2,
    resetTimeout: 2500,
    halfOpenMaxCalls: 2,
    clock,
    ...opts,
  });
  a.use("/api/*", mw);
  a.get("/api/items/:id", (c) => {
    state.calls++;
    return state.fail ? c.text("upstream broke", 502) : c.json({ id: c.req.param("id") });
  });
  a.get("/api/throws", () => {
    state.calls++;
    throw new Error("handler bug");
  });
  return { a, state, mw };
}

test("routeCircuitBreaker: 5xx responses open it; 503 + Retry-After + problem+json while open", async () => {
  const clock = new FakeClock();
  const { a, state, mw } = app(clock);
  assert.equal((await a.request("/api/items/1")).status, 502);
  assert.equal((await a.request("/api/items/2")).status, 502);
  assert.equal(state.calls, 2);
  clock.tick(1000);
  const res = await a.request("/api/items/3");
  assert.equal(res.status, 503);
  assert.equal(state.calls, 2); // the handler did not run
  assert.equal(res.headers.get("retry-after"), "2"); // 1500 ms left → 2 s
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.status, 503);
  assert.equal(body.breaker, "route:GET /api/items/:id");
  assert.equal(body.retryAfter, 2);
  // Per-route breakers: the key is method + route pattern.
  assert.equal(mw.breakers.get("GET /api/items/:id")!.state, "open");
  assert.equal(mw.breakers.get("GET /api/items/:id")!.name, "route:GET /api/items/:id");
  // Recovery through half-open.
  state.fail = false;
  clock.tick(1500);
  assert.equal((await a.request("/api/items/4")).status, 200);
  assert.equal((await a.request("/api/items/5")).status, 200);
  assert.equal(mw.breakers.get("GET /api/items/:id")!.state, "closed");
});

test("routeCircuitBreaker: thrown errors count; routes have separate breakers", async () => {
  const clock = new FakeClock();
  const { a, state } = app(clock);
  assert.equal((await a.request("/api/throws")).status, 500);
  assert.equal((await a.request("/api/throws")).status, 500);
  assert.equal((await a.request("/api/throws")).status, 503);
  state.fail = false;
  assert.equal((await a.request("/api/items/1")).status, 200);
});

test("routeCircuitBreaker: half-open lets at most halfOpenMaxCalls probes through under concurrent requests", async () => {
  const clock = new FakeClock();
  clearCircuitBreakers();
  const a = new Hono();
  let running = 0;
  let maxRunning = 0;
  let fail = true;
  const gate = deferred<void>();
  a.get(
    "/probe",
    routeCircuitBreaker({ failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 3, clock }),
    async (c) => {
      if (fail) return c.text("down", 500);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running--;
      return c.text("ok");
    },
  );
  assert.equal((await a.request("/probe")).status, 500);
  fail = false;
  clock.tick(1000);
  const responses = Array.from({ length: 50 }, () => a.request("/probe"));
  await new Promise((r) => setTimeout(r, 10));
  gate.resolve();
  const statuses = (await Promise.all(responses)).map((r) => r.status);
  assert.equal(maxRunning, 3);
  assert.equal(statuses.filter((s) => s === 200).length, 3);
  assert.equal(statuses.filter((s) => s === 503).length, 47);
});

test("routeCircuitBreaker: custom key, isFailureResult and fallback response", async () => {
  const clock = new FakeClock();
  clearCircuitBreakers();
  const a = new Hono();
  a.use(
    "*",
    routeCircuitBreaker({
      name: "upstream",
      key: () => "prices.example",
      failureThreshold: 1,
      clock,
      isFailureResult: (res) => res.status === 429 || res.status >= 500,
      fallback: (c, e) => c.json({ cached: true, breaker: e.breakerName }, 200),
    }),
  );
  a.get("/a", (c) => c.text("slow down", 429));
  a.get("/b", (c) => c.text("fine"));
  assert.equal((await a.request("/a")).status, 429);
  const res = await a.request("/b"); // same upstream key → same open breaker
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { cached: true, breaker: "upstream:prices.example" });
});

test("routeCircuitBreaker: bad options fail at setup", () => {
  assert.throws(() => routeCircuitBreaker({ failureThreshold: 0 }), RangeError);
  assert.throws(() => routeCircuitBreaker({ key: "x" as never }), /'key'/);
  assert.throws(() => routeCircuitBreaker({ fallback: 1 as never }), /'fallback'/);
  assert.throws(() => routeCircuitBreaker({ name: "" }), /'name'/);
});

/** An app whose route `/x` answers `status` (or throws `thrown`), behind `mw`. */
function routeApp(mw: RouteCircuitBreaker, answer: { status: number; thrown?: () => Error }) {
  const a = new Hono();
  a.get("/x", mw, (c) => {
    if (answer.thrown) throw answer.thrown();
    return c.text("x", answer.status as 200);
  });
  return a;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

test("routeCircuitBreaker: two apps configuring the same route with other options both serve, each with its own circuit", async () => {
  clearCircuitBreakers();
  const answer = { status: 500 };
  const a = routeApp(routeCircuitBreaker({ failureThreshold: 1, logger: silent }), answer);
  const b = routeApp(routeCircuitBreaker({ failureThreshold: 3, logger: silent }), answer);
  const same = routeApp(routeCircuitBreaker({ failureThreshold: 1, logger: silent }), answer);
  assert.equal((await a.request("/x")).status, 500);
  assert.equal((await a.request("/x")).status, 503); // a's circuit is open...
  for (let i = 0; i < 3; i++) assert.equal((await b.request("/x")).status, 500); // ...not b's
  assert.equal((await b.request("/x")).status, 503);
  // Same options, another middleware: still its own circuit (sharing is asked for by name).
  assert.equal((await same.request("/x")).status, 500);
  // Nothing went to the process-wide registry.
  assert.deepEqual(listCircuitBreakers().map((x) => x.name), []);
});

test("routeCircuitBreaker: an explicit name shares the circuits; other options under it fail at build", async () => {
  const answer = { status: 500 };
  const opts = { name: "hcb-shared-1", failureThreshold: 1, logger: silent };
  const first = routeCircuitBreaker(opts);
  const a = routeApp(first, answer);
  const b = routeApp(routeCircuitBreaker({ ...opts }), answer);
  const joined = routeApp(routeCircuitBreaker({ name: "hcb-shared-1" }), answer);
  assert.equal((await a.request("/x")).status, 500);
  assert.equal((await b.request("/x")).status, 503);
  assert.equal((await joined.request("/x")).status, 503);
  assert.deepEqual([...first.breakers.values()].map((x) => x.name), ["hcb-shared-1:GET /x"]);
  assert.throws(
    () => routeCircuitBreaker({ ...opts, failureThreshold: 2 }),
    (e) =>
      e instanceof TypeError && /name 'hcb-shared-1' is used with other options/.test(e.message) &&
      /failureThreshold: 1 vs 2/.test(e.message) && /pass only \{ name/.test(e.message),
  );
  // Closures that merely look alike are different functions: refused, and said so.
  const withKey = { name: "hcb-shared-2", key: () => "k" };
  routeCircuitBreaker(withKey);
  assert.throws(() => routeCircuitBreaker({ ...withKey, key: () => "k" }), /key: function/);
  routeCircuitBreaker(withKey); // the same function object: fine
});

test("routeCircuitBreaker: every option conflict is reported when the middleware is created", () => {
  const store = new MemoryStore();
  routeCircuitBreaker({ store, failureThreshold: 2, logger: silent });
  routeCircuitBreaker({ store, failureThreshold: 2, logger: silent }); // same circuit config
  assert.throws(
    () => routeCircuitBreaker({ store, failureThreshold: 3, logger: silent }),
    /store key prefix 'route' is used in this store.*failureThreshold: 2 vs 3/,
  );
  routeCircuitBreaker({ store, storeKey: "tenant-b", failureThreshold: 3, logger: silent });
  assert.throws(() => routeCircuitBreaker({ storeKey: "x" }), /'storeKey' needs option 'store'/);
  assert.throws(
    () => routeCircuitBreaker({ storeOptions: { timeout: 5 } }),
    /'storeOptions' needs option 'store'/,
  );
  assert.throws(() => routeCircuitBreaker({ isFailure: 1 as never }), /'isFailure'/);
  assert.throws(
    () => routeCircuitBreaker({ excludedErrors: [TypeError] } as never),
    /'excludedErrors' does not apply to routes/,
  );
  assert.throws(() => routeCircuitBreaker({ maxKeys: 0 }), /'maxKeys'/);
  assert.throws(() => routeCircuitBreaker({ maxKeys: 1.5 }), /'maxKeys'/);
  assert.throws(() => routeCircuitBreaker({ failureTreshold: 2 } as never), /did you mean/);
});

test("routeCircuitBreaker: a thrown 4xx HTTPException is not a failure; 5xx ones and other errors are", async () => {
  const answer: { status: number; thrown?: () => Error } = {
    status: 200,
    thrown: () => new HTTPException(404, { message: "no such item" }),
  };
  const mw = routeCircuitBreaker({ failureThreshold: 2, logger: silent });
  const a = routeApp(mw, answer);
  for (let i = 0; i < 1000; i++) assert.equal((await a.request("/x")).status, 404);
  answer.thrown = () => new HTTPException(422);
  for (let i = 0; i < 10; i++) assert.equal((await a.request("/x")).status, 422);
  assert.equal(mw.breakers.get("GET /x")!.getStats().totalFailures, 0);
  answer.thrown = undefined;
  answer.status = 404; // a returned 4xx: not a failure either
  for (let i = 0; i < 10; i++) assert.equal((await a.request("/x")).status, 404);
  assert.equal(mw.breakers.get("GET /x")!.state, "closed");

  answer.thrown = () => new HTTPException(503);
  assert.equal((await a.request("/x")).status, 503);
  answer.thrown = () => new Error("bug");
  assert.equal((await a.request("/x")).status, 500);
  assert.equal(mw.breakers.get("GET /x")!.state, "open"); // two failures
});

test("routeCircuitBreaker: isFailureResult judges responses, isFailure thrown errors (as circuitBreaker's do)", async () => {
  const seen: unknown[] = [];
  const answer: { status: number; thrown?: () => Error } = { status: 500 };
  const mw = routeCircuitBreaker({
    failureThreshold: 1,
    logger: silent,
    // Only thrown errors count: a returned 500 is then no failure.
    isFailureResult: (res) => {
      seen.push(res.status);
      return false;
    },
    isFailure: (e) => {
      seen.push(e);
      return e instanceof RangeError;
    },
  });
  const a = routeApp(mw, answer);
  for (let i = 0; i < 5; i++) assert.equal((await a.request("/x")).status, 500);
  assert.equal(mw.breakers.get("GET /x")!.state, "closed");
  assert.deepEqual(seen, [500, 500, 500, 500, 500]);
  // A thrown error is judged by isFailure alone (not by the 500 onError made of it).
  const notCounted = new TypeError("not counted");
  answer.thrown = () => notCounted;
  for (let i = 0; i < 5; i++) assert.equal((await a.request("/x")).status, 500);
  assert.equal(mw.breakers.get("GET /x")!.state, "closed");
  assert.equal(seen.length, 10);
  assert.equal(seen[9], notCounted);
  answer.thrown = () => new RangeError("counted");
  assert.equal((await a.request("/x")).status, 500);
  assert.equal(mw.breakers.get("GET /x")!.state, "open");
  // A core breaker's rule works as is: (value: unknown) => boolean fits (response: Response).
  const coreRule = (v: unknown) => v instanceof Response && v.status === 429;
  const b = routeApp(
    routeCircuitBreaker({ failureThreshold: 1, logger: silent, isFailureResult: coreRule }),
    { status: 429 },
  );
  assert.equal((await b.request("/x")).status, 429);
  assert.equal((await b.request("/x")).status, 503);
});

/** A middleware keyed by the `k` query parameter, each key's answer scripted. */
function keyedApp(opts: Parameters<typeof routeCircuitBreaker>[0]) {
  const failing = new Set<string>();
  const mw = routeCircuitBreaker({ key: (c) => c.req.query("k") ?? "", ...opts });
  const a = new Hono();
  a.get("/k", mw, (c) => c.text("", failing.has(c.req.query("k")!) ? 500 : 200));
  return { a, mw, failing };
}

test("routeCircuitBreaker: per-key breakers are bounded by maxKeys (100,000 distinct keys, default 1,000)", async () => {
  const { a, mw } = keyedApp({ logger: silent });
  for (let i = 0; i < 100_000; i++) {
    const res = await a.request(`/k?k=attacker-${i}`);
    if (res.status !== 200) assert.fail(`key ${i}: ${res.status}`);
  }
  assert.equal(mw.breakers.size, 1000);
  // The most recent ones are kept.
  assert.ok(mw.breakers.get("attacker-99999"));
  assert.equal(mw.breakers.get("attacker-98999"), undefined);
});

test("routeCircuitBreaker: LRU eviction keeps recently used and OPEN breakers", async () => {
  const clock = new FakeClock();
  const { a, mw, failing } = keyedApp({
    maxKeys: 3,
    failureThreshold: 1,
    resetTimeout: 10_000,
    clock,
    logger: silent,
  });
  failing.add("bad");
  assert.equal((await a.request("/k?k=bad")).status, 500); // opens
  await a.request("/k?k=a");
  await a.request("/k?k=b");
  await a.request("/k?k=a"); // a is now more recent than b
  await a.request("/k?k=c"); // full: b (least recently used CLOSED) goes, not bad (OPEN)
  assert.deepEqual([...mw.breakers.values()].map((b) => b.name), [
    "route:bad",
    "route:a",
    "route:c",
  ]);
  assert.equal((await a.request("/k?k=bad")).status, 503); // still open, still remembered
  for (let i = 0; i < 1000; i++) await a.request(`/k?k=n${i}`);
  assert.equal(mw.breakers.get("bad")!.state, "open");
  assert.equal(mw.breakers.size, 3);
});

test("routeCircuitBreaker: when every kept breaker is OPEN, a new key runs unguarded (said once), and an OPEN one past its reset goes first", async () => {
  const clock = new FakeClock();
  const warnings: string[] = [];
  const logger: Logger = { info() {}, warn: (m) => void warnings.push(m), error() {} };
  const { a, mw, failing } = keyedApp({
    maxKeys: 2,
    failureThreshold: 1,
    resetTimeout: 10_000,
    clock,
    logger,
  });
  failing.add("x").add("y").add("new");
  await a.request("/k?k=x");
  clock.tick(5_000);
  await a.request("/k?k=y");
  warnings.length = 0;
  // Both OPEN: "new" is served without a breaker — its failures open nothing.
  for (let i = 0; i < 1000; i++) assert.equal((await a.request("/k?k=new")).status, 500);
  assert.equal(mw.breakers.get("new"), undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /all 2 breakers \(maxKeys\) are OPEN/);
  // x's reset timeout passes (no trial running): x goes, "new" gets a breaker.
  clock.tick(5_000);
  assert.equal((await a.request("/k?k=new")).status, 500);
  assert.deepEqual([...mw.breakers.values()].map((b) => b.name), ["route:y", "route:new"]);
  assert.equal((await a.request("/k?k=new")).status, 503);
});

test("routeCircuitBreaker: a key the store cannot hold is served without a breaker, said once", async () => {
  const inner = new MemoryStore();
  const store = sharedStore({
    kind: "authoritative" as const,
    run: (k: string, op: StoreOp) => inner.run(k, op),
    checkKey(k: string) {
      if (k.length > 50) throw new RangeError(`store key is longer than 50 bytes`);
    },
  });
  const warnings: string[] = [];
  const logger: Logger = { info() {}, warn: (m) => void warnings.push(m), error() {} };
  const { a, mw } = keyedApp({ store, storeKey: "hcb-long", failureThreshold: 1, logger });
  for (let i = 0; i < 1000; i++) {
    assert.equal((await a.request(`/k?k=${"x".repeat(200)}${i}`)).status, 200);
  }
  assert.equal(mw.breakers.size, 0);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /runs without a breaker \(RangeError: .*store key is longer than 50/);
  assert.equal((await a.request("/k?k=short")).status, 200);
  assert.equal(mw.breakers.size, 1);
  assert.throws(
    () => routeCircuitBreaker({ store, storeKey: "p".repeat(120), logger }),
    /longer than 50 bytes/,
  );
});

async function until(cond: () => boolean) {
  for (let i = 0; i < 1_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(cond(), "condition not reached");
}

test("routeCircuitBreaker: clients that disconnect are not failures (unless countCallerAborts)", async () => {
  for (const countCallerAborts of [false, true]) {
    const mw = routeCircuitBreaker({
      failureThreshold: 2,
      resetTimeout: 60_000,
      countCallerAborts,
    });
    const a = new Hono<ResilienceEnv>();
    let started = 0;
    a.get("/slow", mw, routeTimeout(5_000), async (c) => {
      started++;
      // An upstream call that ends when the route's signal aborts (the client left).
      await new Promise((_, reject) => {
        const s = c.var.signal;
        s.addEventListener("abort", () => reject(s.reason));
      });
      return c.text("never");
    });
    a.onError((_e, c) => c.text("gone", 500));
    for (let i = 0; i < 2; i++) {
      const ctl = new AbortController();
      const res = a.request(new Request("http://x/slow", { signal: ctl.signal }));
      await until(() => started === i + 1);
      await new Promise((r) => setTimeout(r, 15)); // past routeTimeout's 10 ms follow delay
      ctl.abort(new Error("client went away"));
      await Promise.resolve(res).catch(() => {});
    }
    const state = mw.breakers.get("GET /slow")!.state;
    assert.equal(
      state,
      countCallerAborts ? "open" : "closed",
      `countCallerAborts: ${countCallerAborts}`,
    );
  }
});

test("routeCircuitBreaker: keys from the request cannot forge log lines or grow without bound", async () => {
  const lines: string[] = [];
  const logger = {
    info() {},
    warn: (m: string) => lines.push(m),
    error: (m: string) => lines.push(m),
  };
  const mw = routeCircuitBreaker({
    failureThreshold: 1,
    key: (c) => c.req.query("k") ?? "",
    logger,
  });
  const a = new Hono();
  a.get("/t", mw, (c) => c.text("down", 500));
  await a.request(`/t?k=${encodeURIComponent("a\n[INFO] admin login ok")}`);
  const big1 = "x".repeat(65_536) + "1";
  const big2 = "x".repeat(65_536) + "2";
  await a.request(`/t?k=${big1}`);
  await a.request(`/t?k=${big2}`);
  assert.ok(lines.length >= 3, lines.join("\n"));
  for (const l of lines) {
    assert.ok(!/[\n\r]/.test(l), `a log line was split: ${JSON.stringify(l)}`);
    assert.ok(l.length < 300, `log line of ${l.length} chars`);
  }
  const names = [...mw.breakers.values()].map((b) => b.name);
  assert.equal(names.length, 3, "distinct long keys stay distinct");
  assert.ok(names.every((n) => n.length < 120), names.join(", "));
  assert.equal(mw.breakers.get("plain")?.name, undefined);
  await a.request("/t?k=plain");
  assert.equal(
    mw.breakers.get("plain")?.name,
    "route:plain",
    "short printable keys are kept as they are",
  );
});

test("routeCircuitBreaker: .breakers is a snapshot map by key, least recently used first (as routeBulkhead's .bulkhead, a property named after the policy)", async () => {
  clearCircuitBreakers();
  const mw = routeCircuitBreaker({ key: (c) => c.req.query("k") ?? "", logger: silent });
  const a = new Hono();
  a.get("/k", mw, (c) => c.text("ok"));
  await a.request("/k?k=a");
  await a.request("/k?k=b");
  const before = mw.breakers;
  await a.request("/k?k=a");
  assert.deepEqual([...before.keys()], ["a", "b"], "a snapshot does not change");
  assert.deepEqual([...mw.breakers.keys()], ["b", "a"]);
  assert.equal(mw.breakers.size, 2);
  assert.equal(mw.breakers.get("a")!.name, "route:a");
  assert.equal(mw.breakers.get("nope"), undefined);
  assert.equal("breaker" in mw || "breakerName" in mw, false, "one way to reach the breakers");
  assert.equal(typeof routeBulkhead({ maxConcurrent: 1 }).bulkhead.getStats, "function");
});

test("routeCircuitBreaker: a key that is not a non-empty string is a TypeError naming 'key', no breaker made", async () => {
  for (const bad of [undefined, 42, null, ""]) {
    const mw = routeCircuitBreaker({ key: () => bad as string, logger: silent });
    const a = new Hono();
    let seen: unknown;
    a.onError((e, c) => {
      seen = e;
      return c.text("error", 500);
    });
    a.get("/x", mw, (c) => c.text("ok"));
    const res = await a.request("/x");
    assert.equal(res.status, 500);
    await res.body?.cancel();
    assert.ok(seen instanceof TypeError, `a TypeError for ${String(bad)}, got ${seen}`);
    assert.equal(
      (seen as Error).message,
      `routeCircuitBreaker: option 'key' must give a non-empty string, got ${JSON.stringify(bad)}`,
    );
    assert.equal(mw.breakers.size, 0, "no breaker made for it");
  }
});
