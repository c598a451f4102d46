// What mutation testing of src/hono/route_group.ts found untested: which
// request keys `safeKey` keeps as they are (length and printable bounds), what
// the "runs without a breaker" lines carry, and when a full group looks for a
// breaker to let go again.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { type Logger, MemoryStore, sharedStore, type StoreOp } from "../mod.ts";
import {
  liveRouteGroups,
  ROUTE_GROUP,
  routeCircuitBreaker,
  type RouteGroup,
  safeKey,
} from "../src/hono/circuit_breaker.ts";
import { circuitSources } from "../src/hono/circuit_sources.ts";
import { groupEntries } from "../src/hono/shared_circuits.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, silent, test } from "./_harness.ts";

test("safeKey: up to 200 printable characters are kept; longer or unprintable keys are shortened with a hash", () => {
  const exact = "k".repeat(200);
  assert.equal(safeKey(exact), exact);
  const long = safeKey("k".repeat(201));
  assert.match(long, /^k{64}…#[0-9a-f]{32}$/);
  // Printable edges: kept as they are.
  for (const c of [" ", "~", "\u00a0", "\u2027", "\u202a", "é", "丁"]) {
    assert.equal(safeKey(`a${c}b`), `a${c}b`, JSON.stringify(c));
  }
  // Unprintable: C0, DEL, C1, line and paragraph separators: replaced by "?" in what is shown.
  for (const c of ["\u0000", "\u001f", "\u007f", "\u009f", "\u2028", "\u2029", "\n"]) {
    const k = safeKey(`a${c}b`);
    assert.match(k, /^a\?b…#[0-9a-f]{32}$/, JSON.stringify(c));
    assert.equal(safeKey(`a${c}b`), k, "the same key every time");
  }
  // Only the first 64 characters are shown, every unprintable one of them replaced.
  assert.equal(
    safeKey(("\u0001" + "x".repeat(70)).repeat(1)).slice(0, 66),
    "?" + "x".repeat(63) + "…#",
  );
  assert.notEqual(safeKey("a\u0000b"), safeKey("a\u0001b"), "the hash is of the whole key");
});

test("routeCircuitBreaker: the 'runs without a breaker' lines carry the group's name and maxKeys or the error", async () => {
  const clock = new FakeClock();
  const lines: [string, Record<string, unknown> | undefined][] = [];
  const logger: Logger = {
    info() {},
    warn: (m, d) => void lines.push([m, d]),
    error() {},
  };
  const mw = routeCircuitBreaker({
    name: "keys",
    key: (c) => c.req.query("k") ?? "",
    maxKeys: 1,
    failureThreshold: 1,
    resetTimeout: 10_000,
    clock,
    logger,
  });
  const a = new Hono();
  a.get("/k", mw, (c) => c.text("", 500));
  await a.request("/k?k=x"); // OPEN
  await a.request("/k?k=y"); // full: unguarded
  await a.request("/k?k=z");
  const mine = lines.filter(([m]) => m.startsWith("routeCircuitBreaker"));
  assert.equal(mine.length, 1);
  assert.equal(
    mine[0]![0],
    "routeCircuitBreaker 'keys': all 1 breakers (maxKeys) are OPEN; new keys run without a breaker",
  );
  assert.deepEqual(mine[0]![1], { name: "keys", maxKeys: 1 });
  // A key the store refuses: its first 60 characters and the error.
  lines.length = 0;
  const inner = new MemoryStore({ clock });
  const refusing = new Error("no such key here");
  const store = sharedStore({
    kind: "authoritative" as const,
    run: (k: string, op: StoreOp) => inner.run(k, op),
    checkKey(k: string) {
      if (k.includes("bad")) throw refusing;
    },
  });
  const mw2 = routeCircuitBreaker({
    name: "stored",
    key: (c) => c.req.query("k") ?? "",
    store,
    clock,
    logger,
  });
  const b = new Hono();
  b.get("/k", mw2, (c) => c.text("ok"));
  const key = "bad" + "k".repeat(100);
  assert.equal((await b.request(`/k?k=${key}`)).status, 200);
  assert.equal((await b.request(`/k?k=${key}2`)).status, 200);
  assert.equal(lines.length, 1);
  assert.equal(
    lines[0]![0],
    `routeCircuitBreaker 'stored': key '${
      key.slice(0, 60)
    }' runs without a breaker (TypeError: circuitBreaker: option 'storeKey' cannot be a key of this store: Error: no such key here)`,
  );
  assert.equal(lines[0]![1]?.name, "stored");
  assert.equal((lines[0]![1]?.error as Error).cause, refusing);
});

test("routeCircuitBreaker: a full group of OPEN breakers looks again when the soonest is due, and at least every second", async () => {
  const clock = new FakeClock();
  const mw = routeCircuitBreaker({
    key: (c) => c.req.query("k") ?? "",
    maxKeys: 2,
    failureThreshold: 1,
    resetTimeout: 500,
    maxResetTimeout: 5_000,
    clock,
    logger: silent,
  });
  const a = new Hono();
  a.get("/k", mw, (c) => c.text("", c.req.query("ok") ? 200 : 500));
  await a.request("/k?k=x");
  clock.tick(100);
  await a.request("/k?k=y"); // both OPEN: x due at 500, y at 600
  await a.request("/k?k=new&ok=1");
  assert.equal(mw.breakers.get("new"), undefined, "unguarded");
  clock.tick(399); // 499: x not due yet
  await a.request("/k?k=new&ok=1");
  assert.equal(mw.breakers.get("new"), undefined);
  clock.tick(1); // 500: x due, its breaker goes
  await a.request("/k?k=new&ok=1");
  assert.ok(mw.breakers.get("new"), "x let go when due");
  assert.deepEqual([...mw.breakers.keys()].sort(), ["new", "y"]);
});

test("routeCircuitBreaker: a group full of breakers in a trial looks again within a second (the trial has settled)", async () => {
  const clock = new FakeClock();
  const mw = routeCircuitBreaker({
    key: (c) => c.req.query("k") ?? "",
    maxKeys: 1,
    failureThreshold: 1,
    resetTimeout: 500,
    halfOpenMaxCalls: 1,
    clock,
    logger: silent,
  });
  const hang = deferred<void>();
  const a = new Hono();
  a.get("/k", mw, async (c) => {
    if (c.req.query("hang")) await hang.promise;
    return c.text("", c.req.query("ok") ? 200 : 500);
  });
  await a.request("/k?k=x"); // OPEN
  clock.tick(500);
  const trial = a.request("/k?k=x&hang=1&ok=1"); // x's trial, in flight
  await Promise.resolve();
  await a.request("/k?k=new&ok=1"); // full, nothing to let go: unguarded
  assert.equal(mw.breakers.get("new"), undefined);
  hang.resolve();
  assert.equal((await trial).status, 200);
  assert.equal(mw.breakers.get("x")!.state, "closed");
  clock.tick(999);
  await a.request("/k?k=new&ok=1");
  assert.equal(mw.breakers.get("new"), undefined, "not looked at again yet");
  clock.tick(1);
  await a.request("/k?k=new&ok=1");
  assert.ok(mw.breakers.get("new"), "a second later: x (CLOSED now) let go");
});

test("safeKey: the hash is stable across versions (shared stores keep entries under the shortened keys)", () => {
  assert.equal(
    safeKey("k".repeat(201)),
    "k".repeat(64) + "…#5ac3dcdf12e3814fa10818a0635b694c",
  );
  assert.equal(safeKey("tenant-é\u0000x"), "tenant-é?x…#98926216c57e1f8c02c601e07187a3c0");
});

test("routeCircuitBreaker: with a store and no storeKey, its breakers' keys start with 'route:'", async () => {
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const keys = new Set<string>();
  const store = sharedStore({
    kind: "authoritative" as const,
    run: (k: string, op: StoreOp) => (keys.add(k), inner.run(k, op)),
  });
  const mw = routeCircuitBreaker({ store, clock, logger: silent });
  const a = new Hono();
  a.get("/x", mw, (c) => c.text("ok"));
  assert.equal((await a.request("/x")).status, 200);
  await mw.breakers.get("GET /x")!.flush();
  assert.deepEqual([...keys], ["cb:" + encodeURIComponent("route:GET /x")]);
});

const groupOf = (mw: unknown) => (mw as { [ROUTE_GROUP]: RouteGroup })[ROUTE_GROUP];

test("liveRouteGroups: every route middleware made is found (status pages list them), with or without WeakRef", () => {
  const made = routeCircuitBreaker({ logger: silent });
  assert.ok(liveRouteGroups().includes(groupOf(made)));
  const g = globalThis as { WeakRef?: unknown };
  const saved = g.WeakRef;
  delete g.WeakRef;
  let old;
  try {
    old = routeCircuitBreaker({ logger: silent });
  } finally {
    g.WeakRef = saved;
  }
  assert.ok(liveRouteGroups().includes(groupOf(old)));
  assert.ok(liveRouteGroups().includes(groupOf(made)));
});

test("circuitSources: an app's routes name the breakers of a middleware keyed by route, not of one keyed by the caller", () => {
  const byRoute = routeCircuitBreaker({ logger: silent });
  const byUser = routeCircuitBreaker({ key: (c) => c.req.query("u") ?? "", logger: silent });
  const a = new Hono();
  a.use("/api/*", byRoute);
  a.use("/user/*", byUser);
  a.get("/api/a", (c) => c.text("a"));
  a.get("/user/b", (c) => c.text("b"));
  const { groups } = circuitSources({ breakers: true, app: a });
  assert.deepEqual([...groups.get(groupOf(byRoute))!], ["GET /api/a"]);
  assert.deepEqual([...groups.get(groupOf(byUser))!], []);
});

test("routeCircuitBreaker: with a store and no storeKey, another instance reads a route's circuit where its breaker keeps it", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const opts = { store, clock, logger: silent, failureThreshold: 1, resetTimeout: 60_000 };
  const mwA = routeCircuitBreaker(opts);
  const a = new Hono();
  a.get("/x", mwA, (c) => c.text("", 500));
  assert.equal((await a.request("/x")).status, 500);
  await mwA.breakers.get("GET /x")!.flush();
  const mwB = routeCircuitBreaker(opts); // another instance: no breaker of its own for GET /x
  const { entries } = await groupEntries(groupOf(mwB), ["GET /x"], () => {
    throw new Error("unused: B has no breaker for it");
  });
  assert.deepEqual(entries.map((e) => e.state), ["open"]);
});
