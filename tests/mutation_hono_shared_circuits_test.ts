// Tests written to kill the mutants of src/hono/shared_circuits.ts that
// survived the health tests (docs/mutation-testing.md): what /health shows of
// circuits held in a store, which it reads, how many at once, and when again.
import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  clearCircuitBreakers,
  HealthCheck,
  MemoryStore,
  type SharedConfig,
  type SharedState,
  type SharedStore,
  sharedStore,
  type StoreOp,
} from "../mod.ts";
import { healthHandler, routeCircuitBreaker } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

type Check = { name: string; details: Record<string, unknown> };

/** Counts reads and how many are in flight at once; each read waits for `release()`. */
class GatedStore implements SharedStore {
  readonly kind = "authoritative" as const;
  reads = 0;
  inFlight = 0;
  maxInFlight = 0;
  #waiting: (() => void)[] = [];
  constructor(readonly inner: SharedStore) {
    sharedStore(this);
  }
  async run(key: string, op: StoreOp): Promise<unknown> {
    if (op.type === "circuit" && op.action === "sync" && op.outcomes.length === 0) {
      this.reads++;
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      await new Promise<void>((r) => this.#waiting.push(r));
      this.inFlight--;
    }
    return this.inner.run!(key, op);
  }
  release(): void {
    for (const r of this.#waiting.splice(0)) r();
  }
}

const middlewares = new Map<Hono, ReturnType<typeof routeCircuitBreaker>>();

/** An app with `n` guarded routes and /health, sharing `store`. */
function build(store: SharedStore, n: number, extra: Record<string, unknown> = {}) {
  const a = new Hono();
  const mw = routeCircuitBreaker({
    store,
    storeKey: "mut-sc",
    failureThreshold: 1,
    resetTimeout: 10_000,
    logger: silent,
    ...extra,
  });
  middlewares.set(a, mw);
  a.use("/api/*", mw);
  for (let i = 0; i < n; i++) a.get(`/api/r${i}`, (c) => c.text("down", 500));
  a.get("/health", healthHandler(new HealthCheck(), { breakers: true, app: a }));
  return a;
}

async function health(a: Hono) {
  return await (await a.request("/health")).json() as {
    status: string;
    circuits: { total: number; unread: number; open: number; closed: number };
    checks: Check[];
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

test("shared circuits: at most 6 store reads at once, however many circuits are due", async () => {
  clearCircuitBreakers();
  const store = new GatedStore(new MemoryStore());
  const a = build(store, 40);
  const pending = a.request("/health");
  for (let i = 0; i < 200 && store.reads < 40; i++) {
    await settle();
    store.release();
  }
  const body = await (await pending).json();
  assert.equal(store.reads, 40);
  assert.equal(store.maxInFlight, 6);
  assert.equal(body.circuits.unread, 0);
  assert.equal(body.circuits.closed, 40);
});

test("shared circuits: circuits never read come before circuits read long ago", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const a = build(store, 60, { clock, storeOptions: { refreshInterval: 1_000 } });
  clock.tick(5); // read at a time other than 0
  let body = await health(a);
  assert.equal(body.circuits.unread, 10); // 50 reads per request
  clock.tick(1_001); // every circuit read is stale now
  body = await health(a);
  assert.equal(body.circuits.unread, 0, "the 10 never read were read first");
  assert.equal(body.circuits.total, 60);
});

test("shared circuits: a circuit is read again only once the refresh interval has passed", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const counted = new GatedStore(new MemoryStore({ clock }));
  const a = build(counted, 3, { clock, storeOptions: { refreshInterval: 1_000 } });
  const read = async () => {
    const p = a.request("/health");
    for (let i = 0; i < 20; i++) await settle(), counted.release();
    return (await p).json();
  };
  await read();
  assert.equal(counted.reads, 3);
  clock.tick(1_000);
  await read();
  assert.equal(counted.reads, 3, "at exactly the interval: still fresh");
  clock.tick(1);
  await read();
  assert.equal(counted.reads, 6);
  assert.equal(clock.pending, 0, "every read's deadline is cleared");
});

test("shared circuits: an OPEN circuit past its reset time reads as half-open, with its failures", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const first = build(store, 1, { clock, failureThreshold: 2 });
  assert.equal((await first.request("/api/r0")).status, 500);
  assert.equal((await first.request("/api/r0")).status, 500);
  await settle();
  const other = build(store, 1, { clock, failureThreshold: 2 });
  let body = await health(other);
  let c = body.checks.find((x) => x.name === "circuit:route:GET /api/r0")!;
  assert.deepEqual(
    [c.details.state, c.details.failureCount, c.details.timeUntilReset, c.details.source],
    ["open", 2, 10_000, "store"],
  );
  assert.equal(c.details.storeAvailable, true);
  clock.tick(10_001);
  body = await health(other);
  c = body.checks.find((x) => x.name === "circuit:route:GET /api/r0")!;
  assert.deepEqual([c.details.state, c.details.timeUntilReset], ["half_open", 0]);
});

test("shared circuits: an advisory store's circuits are read with read(), not run()", async () => {
  clearCircuitBreakers();
  const entries = new Map<string, SharedState>();
  const advisory = sharedStore({
    kind: "advisory",
    read: (key: string, _config: SharedConfig) => Promise.resolve(entries.get(key)),
    publish: (key: string, value: SharedState) => (entries.set(key, value), Promise.resolve()),
  });
  const first = build(advisory, 2);
  assert.equal((await first.request("/api/r1")).status, 500);
  for (let i = 0; i < 20 && entries.size === 0; i++) await settle();
  assert.equal(entries.size, 1, "the OPEN circuit was published");
  const other = build(advisory, 2);
  const body = await health(other);
  assert.equal(body.circuits.unread, 0);
  const open = body.checks.find((x) => x.details.state === "open");
  assert.equal(open?.name, "circuit:route:GET /api/r1");
  assert.equal(open?.details.source, "store");
});

test("shared circuits: without a store, only the routes that have a breaker are listed", async () => {
  clearCircuitBreakers();
  const a = new Hono();
  a.use("/api/*", routeCircuitBreaker({ logger: silent }));
  a.get("/api/served", (c) => c.text("ok"));
  a.get("/api/never", (c) => c.text("ok"));
  a.get("/health", healthHandler(new HealthCheck(), { breakers: true, app: a }));
  assert.equal((await a.request("/api/served")).status, 200);
  const res = await a.request("/health");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(
    body.checks.map((c: Check) => c.name),
    ["circuit:route:GET /api/served"],
  );
});

test("shared circuits: a circuit isolated for the fleet reads as OPEN with no reset time", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const first = build(store, 1, { clock });
  assert.equal((await first.request("/api/r0")).status, 500);
  await settle();
  const other = build(store, 1, { clock });
  let body = await health(other);
  let c = body.checks.find((x) => x.name === "circuit:route:GET /api/r0")!;
  assert.equal(c.details.timeUntilReset, 10_000);
  middlewares.get(first)!.breakers.get("GET /api/r0")!.isolate({ scope: "fleet" });
  await settle();
  clock.tick(1_001);
  body = await health(other);
  c = body.checks.find((x) => x.name === "circuit:route:GET /api/r0")!;
  assert.deepEqual([c.details.state, c.details.timeUntilReset, c.details.source], [
    "open",
    null,
    "store",
  ]);
});

test("shared circuits: a breaker this instance holds refreshes its view from the store each interval", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const ok = new Hono();
  const okMw = routeCircuitBreaker({
    store,
    storeKey: "mut-sc-own",
    failureThreshold: 1,
    clock,
    logger: silent,
  });
  ok.use("/api/*", okMw);
  ok.get("/api/r0", (c) => c.text("ok"));
  ok.get("/health", healthHandler(new HealthCheck(), { breakers: true, app: ok }));
  assert.equal((await ok.request("/api/r0")).status, 200); // this instance holds the breaker
  await settle();
  let body = await health(ok);
  assert.equal(body.circuits.closed, 1);
  // Another instance opens the circuit in the store.
  const down = new Hono();
  down.use(
    "/api/*",
    routeCircuitBreaker({
      store,
      storeKey: "mut-sc-own",
      failureThreshold: 1,
      clock,
      logger: silent,
    }),
  );
  down.get("/api/r0", (c) => c.text("down", 500));
  assert.equal((await down.request("/api/r0")).status, 500);
  await settle();
  for (const ms of [1_001, 1_001]) {
    clock.tick(ms);
    body = await health(ok);
    await settle();
  }
  body = await health(ok);
  const c = body.checks.find((x) => x.name === "circuit:route:GET /api/r0")!;
  assert.equal(c.details.state, "open", JSON.stringify(c));
});

test("shared circuits: a circuit reset after opening reads as CLOSED with no time left", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const first = build(store, 1, { clock });
  assert.equal((await first.request("/api/r0")).status, 500);
  await settle();
  await middlewares.get(first)!.breakers.get("GET /api/r0")!.reset();
  await settle();
  const other = build(store, 1, { clock });
  const body = await health(other);
  const c = body.checks.find((x) => x.name === "circuit:route:GET /api/r0")!;
  assert.deepEqual([c.details.state, c.details.timeUntilReset, c.details.source], [
    "closed",
    0,
    "store",
  ]);
});
