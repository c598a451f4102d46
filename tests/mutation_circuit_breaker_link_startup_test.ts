// What mutation testing of src/circuit_breaker/link.ts found untested in a
// shared breaker's startup and refreshes: the calls that waited for the first
// store read are released in arrival order (each at most the read's duration
// after it arrived, or when the call before it settles), an idle instance's
// copy is refreshed before it decides, a busy one's in the background once.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  MemoryStore,
  sharedStore,
  type StoreOp,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, silent, test } from "./_harness.ts";

/** A MemoryStore whose first answer takes `latency` ms (the clock's), counting syncs. */
function slowFirst(clock: FakeClock, latency = 100, later = 0) {
  const inner = new MemoryStore({ clock });
  const s = { syncs: 0, ops: 0, fail: false };
  const store = sharedStore({
    kind: "authoritative" as const,
    async run(key: string, op: StoreOp) {
      const wait = s.ops++ === 0 ? latency : later;
      if (op.type === "circuit" && op.action === "sync") s.syncs++;
      if (wait > 0) await new Promise<void>((r) => clock.setTimeout(() => r(), wait));
      if (s.fail) throw new Error("store down");
      return inner.run(key, op);
    },
  });
  return { s, store, inner };
}

/** A call whose work starts (recording when) and settles by hand. */
function call(clock: FakeClock, b: { execute(fn: () => Promise<string>): Promise<string> }) {
  const work = deferred<string>();
  const c = {
    startedAt: undefined as number | undefined,
    settledAt: undefined as number | undefined,
    result: undefined as unknown,
  };
  const p = b.execute(() => {
    c.startedAt = clock.now();
    return work.promise;
  });
  const done = (v: unknown) => {
    c.result = v;
    c.settledAt = clock.now();
  };
  const settled = p.then(done, done);
  return {
    work,
    settled,
    get started() {
      return c.startedAt;
    },
    get settledAt() {
      return c.settledAt;
    },
    get result() {
      return c.result;
    },
  };
}

function breaker(clock: FakeClock, store: ReturnType<typeof slowFirst>["store"], extra = {}) {
  clearCircuitBreakers();
  return circuitBreaker({
    name: "startup",
    store,
    clock,
    logger: silent,
    failureThreshold: 3,
    resetTimeout: 1_000,
    storeOptions: { refreshInterval: 60_000, timeout: 10_000 },
    ...extra,
  });
}

test("startup: the calls that waited for the first read start in arrival order, each at most the read's duration after it arrived", async () => {
  const clock = new FakeClock();
  const { store } = slowFirst(clock, 100);
  const b = breaker(clock, store);
  clock.tick(10);
  const c1 = call(clock, b); // t=10; the read answers at t=110 (it took 100 ms)
  await clock.tickAsync(40);
  const c2 = call(clock, b); // t=50: released by t=150 at the latest
  await clock.tickAsync(60);
  assert.equal(c1.started, 110, "the first at once");
  assert.equal(c2.started, undefined, "the second waits: the first is in flight");
  await clock.tickAsync(39);
  assert.equal(c2.started, undefined);
  await clock.tickAsync(1);
  assert.equal(c2.started, 150, "arrival + the read's duration");
  c1.work.resolve("1");
  c2.work.resolve("2");
  await Promise.all([c1.settled, c2.settled]);
  assert.deepEqual([c1.result, c2.result], ["1", "2"]);
  assert.equal(clock.pending, 0);
});

test("startup: a failure that opens the circuit refuses the next call (as a local breaker would), at once", async () => {
  const clock = new FakeClock();
  const { store } = slowFirst(clock, 100);
  const b = breaker(clock, store, { failureThreshold: 1 });
  clock.tick(10);
  const c1 = call(clock, b);
  await clock.tickAsync(50);
  const c2 = call(clock, b); // t=60: would start at t=160
  await clock.tickAsync(50);
  assert.equal(c1.started, 110);
  await clock.tickAsync(10);
  c1.work.reject(new Error("boom")); // t=120: OPEN
  await c1.settled;
  await c2.settled;
  assert.equal(c2.started, undefined, "never ran");
  assert.ok(c2.result instanceof CircuitOpenError);
  assert.equal(clock.now(), 120, "refused when the first failed, not later");
  assert.equal(clock.pending, 0, "the wait's timer is cancelled");
});

test("startup: while every settled call failed the calls stay in line; the first success ends the startup", async () => {
  const clock = new FakeClock();
  const { store } = slowFirst(clock, 100);
  const b = breaker(clock, store);
  clock.tick(10);
  const c1 = call(clock, b);
  await clock.tickAsync(50);
  const c2 = call(clock, b); // t=60
  await clock.tickAsync(60); // t=120
  c1.work.reject(new Error("boom")); // a failure, still CLOSED
  await c1.settled;
  await clock.tickAsync(0);
  assert.equal(c2.started, 120, "released when the call before it settled");
  await clock.tickAsync(10);
  const c3 = call(clock, b); // t=130, after the read: still in line (c2 in flight)
  await clock.tickAsync(99);
  assert.equal(c3.started, undefined);
  await clock.tickAsync(1);
  assert.equal(c3.started, 230, "arrival + the read's duration");
  await clock.tickAsync(10);
  c2.work.resolve("ok"); // t=240: a success ends the startup
  await c2.settled;
  await clock.tickAsync(5);
  const c4 = call(clock, b); // t=245, c3 in flight: runs at once now
  await clock.tickAsync(0);
  assert.equal(c4.started, 245);
  c3.work.resolve("3");
  c4.work.resolve("4");
  await Promise.all([c3.settled, c4.settled]);
  assert.equal(clock.pending, 0);
});

test("startup: the first read failing answers the calls that waited for it as the store being down says", async () => {
  const clock = new FakeClock();
  const { s, store } = slowFirst(clock, 100);
  s.fail = true;
  const b = breaker(clock, store, {
    storeOptions: { whenUnavailable: "reject", retryInterval: 5_000 },
  });
  const c1 = call(clock, b);
  await clock.tickAsync(100);
  await c1.settled;
  assert.ok(c1.result instanceof CircuitOpenError, "'reject' mode");
  assert.equal(c1.started, undefined);
});

test("refresh: an idle instance reads the store before deciding (past twice the refresh interval and the timeout)", async () => {
  const clock = new FakeClock();
  const { store } = slowFirst(clock, 0);
  clearCircuitBreakers();
  const make = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "idle",
      store,
      clock,
      logger: silent,
      failureThreshold: 1,
      resetTimeout: 60_000,
      storeOptions: { refreshInterval: 1_000, timeout: 500 },
    });
  const [a, b1, b2] = [make("a"), make("b1"), make("b2")];
  for (const x of [a, b1, b2]) assert.equal(await x.execute(() => "first"), "first");
  await assert.rejects(a.execute(() => Promise.reject(new Error("boom")))); // the fleet opens
  await a.flush();
  clock.tick(2_000); // b1 and b2: their copies are 2,000 ms old (2 × refreshInterval)
  assert.equal(await b1.execute(() => "stale"), "stale", "not idle yet: decided on its copy");
  await b1.flush();
  assert.equal(b1.state, "open", "refreshed in the background");
  clock.tick(1);
  assert.ok(
    (await b2.execute(() => "no").catch((e) => e)) instanceof CircuitOpenError,
    "idle: refused on the fresh copy",
  );
});

test("refresh: an idle instance whose store fails decides as the store being down says", async () => {
  const clock = new FakeClock();
  const { s, store } = slowFirst(clock, 0);
  const b = breaker(clock, store, {
    storeOptions: { refreshInterval: 1_000, whenUnavailable: "reject" },
  });
  assert.equal(await b.execute(async () => "first"), "first");
  await b.flush();
  s.fail = true;
  clock.tick(20_001); // idle past 2 × the timeout (10,000 ms)
  assert.ok((await b.execute(async () => "no").catch((e) => e)) instanceof CircuitOpenError);
});

test("refresh: past refreshInterval one background refresh serves every call until it answers", async () => {
  const clock = new FakeClock();
  const { s, store } = slowFirst(clock, 0, 50);
  const b = breaker(clock, store, { storeOptions: { refreshInterval: 1_000 } });
  assert.equal(await b.execute(async () => "first"), "first");
  const syncs = s.syncs;
  clock.tick(1_000);
  assert.equal(await b.execute(async () => "x"), "x");
  assert.equal(s.syncs, syncs, "not past refreshInterval yet");
  clock.tick(1);
  for (let i = 0; i < 3; i++) {
    assert.equal(await b.execute(async () => i), i, "never waits for the refresh");
    await clock.tickAsync(10);
  }
  await clock.tickAsync(50);
  assert.equal(s.syncs, syncs + 1, "one refresh for the three calls");
});

test("startup: once the circuit has left CLOSED, a caller waiting in line is answered at once", async () => {
  const clock = new FakeClock();
  const { store, inner } = slowFirst(clock, 100);
  const b = breaker(clock, store, {
    name: "line",
    storeKey: "line",
    storeOptions: { refreshInterval: 5, timeout: 10_000 },
  });
  const other = circuitBreaker({
    name: "other",
    storeKey: "line",
    store: inner,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
  });
  clock.tick(10);
  const c1 = call(clock, b); // released at t=110 (the read took 100 ms), hangs
  await clock.tickAsync(100);
  assert.equal(c1.started, 110);
  await assert.rejects(other.execute(() => Promise.reject(new Error("boom")))); // the fleet opens
  await other.flush();
  await clock.tickAsync(10);
  const c2 = call(clock, b); // t=120: in line until t=220; its refresh learns OPEN
  await clock.tickAsync(10);
  const c3 = call(clock, b); // t=130: behind c2 (would wait until t=230)
  await clock.tickAsync(90);
  await clock.tickAsync(0);
  assert.equal(c2.settledAt, 220);
  assert.ok(c2.result instanceof CircuitOpenError);
  assert.equal(c3.settledAt, 220, "the startup is over: no more waiting");
  assert.ok(c3.result instanceof CircuitOpenError);
  c1.work.resolve("1");
  await c1.settled;
  assert.equal(clock.pending, 0);
});

test("startup: a caller that arrived during the first read is refused at once when the first caller takes the fleet's only trial", async () => {
  const clock = new FakeClock();
  const { store, inner } = slowFirst(clock, 100);
  clearCircuitBreakers();
  const other = circuitBreaker({
    name: "other",
    storeKey: "trial",
    store: inner,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
  });
  await assert.rejects(other.execute(() => Promise.reject(new Error("boom"))));
  await other.flush();
  clock.tick(1_000); // the fleet's circuit is due for a trial
  const b = breaker(clock, store, { name: "trial", storeKey: "trial", halfOpenMaxCalls: 1 });
  const t0 = clock.now();
  const c1 = call(clock, b);
  await clock.tickAsync(50);
  const c2 = call(clock, b);
  await clock.tickAsync(50);
  await clock.tickAsync(0);
  assert.equal(c1.started, t0 + 100, "the trial");
  assert.ok(c2.result instanceof CircuitOpenError);
  assert.equal(c2.settledAt, t0 + 100, "refused when the trial started, as a local breaker would");
  c1.work.resolve("ok");
  await c1.settled;
  assert.equal(b.state, "closed");
});

test("startup: a call that fails while a later one is in flight does not release the next caller", async () => {
  const clock = new FakeClock();
  const { store } = slowFirst(clock, 100);
  const b = breaker(clock, store);
  clock.tick(10);
  const c1 = call(clock, b); // released at t=110
  await clock.tickAsync(40);
  const c2 = call(clock, b); // t=50: released at t=150 (c1 still in flight)
  await clock.tickAsync(100);
  assert.equal(c2.started, 150);
  await clock.tickAsync(10);
  c1.work.reject(new Error("boom")); // t=160: a failure, still CLOSED; c2 is the one in flight
  await c1.settled;
  await clock.tickAsync(10);
  const c3 = call(clock, b); // t=170: waits for c2, or until t=270
  await clock.tickAsync(99);
  assert.equal(c3.started, undefined);
  await clock.tickAsync(1);
  assert.equal(c3.started, 270);
  c2.work.resolve("2");
  c3.work.resolve("3");
  await Promise.all([c2.settled, c3.settled]);
});

test("startup: ended by the failure that opened the circuit, it does not start again after a reset", async () => {
  const clock = new FakeClock();
  const { store } = slowFirst(clock, 100);
  const b = breaker(clock, store, { failureThreshold: 1 });
  clock.tick(10);
  const c1 = call(clock, b);
  await clock.tickAsync(100);
  c1.work.reject(new Error("boom")); // t=110: OPEN
  await c1.settled;
  assert.equal(b.state, "open");
  b.reset();
  await b.flush();
  await clock.tickAsync(10);
  const c2 = call(clock, b); // t=120, hangs
  await clock.tickAsync(10);
  const c3 = call(clock, b); // t=130: runs at once
  await clock.tickAsync(0);
  assert.equal(c2.started, 120);
  assert.equal(c3.started, 130);
  c2.work.resolve("2");
  c3.work.resolve("3");
  await Promise.all([c2.settled, c3.settled]);
});
