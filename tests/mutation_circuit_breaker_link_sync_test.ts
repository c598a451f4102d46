// What mutation testing of src/circuit_breaker/link.ts found untested in the
// link's transport: an answer loaded with this instance's unsent outcomes on
// top, the per-operation timeout, how an outage and a recovery are said
// (log, onStoreStatus, telemetry), the probe while down, and what a store
// answering nothing means.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  MemoryStore,
  sharedStore,
  type StateChangeEvent,
  type StoreOp,
  type StoreStatusEvent,
  subscribe,
  type TelemetryEvent,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, recordingLogger, silent, test } from "./_harness.ts";
import { FaultyStore } from "./_stores.ts";
import { built } from "../src/telemetry.ts";

const boom = () => Promise.reject(new Error("boom"));

/** A MemoryStore whose answers can be held back (`hold()`), counting operations. */
function gated(clock: FakeClock) {
  const inner = new MemoryStore({ clock });
  const g = { ops: [] as StoreOp[], gate: undefined as Promise<void> | undefined };
  const store = sharedStore({
    kind: "authoritative" as const,
    async run(key: string, op: StoreOp) {
      g.ops.push(op);
      const answer = await inner.run(key, op); // applied now, answered when the gate opens
      if (g.gate) await g.gate;
      return answer;
    },
  });
  const hold = () => {
    const d = deferred();
    g.gate = d.promise;
    return () => {
      g.gate = undefined;
      d.resolve();
    };
  };
  return { g, store, hold };
}

test("link: outcomes recorded while a sync is under way are loaded on top of its answer (no flicker)", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { g, store, hold } = gated(clock);
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "flicker",
    store,
    clock,
    logger: silent,
    failureThreshold: 2,
    onStateChange: (e) => void events.push(e),
  });
  await b.execute(() => 1);
  await b.flush();
  const release = hold();
  await assert.rejects(b.execute(boom)); // sent at once: its sync is held
  await assert.rejects(b.execute(boom)); // pending, behind it
  assert.equal(b.state, "open");
  const syncs = g.ops.length;
  release();
  // The first answer (one failure, CLOSED in the store) is loaded, then the second failure.
  await b.flush();
  assert.ok(g.ops.length > syncs, "the second failure was sent after");
  assert.equal(b.state, "open");
  assert.deepEqual(events.map((e) => [e.from, e.to]), [["closed", "open"]], "never back to CLOSED");
  assert.equal(b.getStats().lateResults, 0, "replaying its own outcomes counts nothing late");
});

test("link: a trial success recorded while a sync is under way closes the circuit on top of its answer", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { store, hold } = gated(clock);
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "trial-replay",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    slowCallDuration: 50,
    slowCallRateThreshold: 1,
    onStateChange: (e) => void events.push(e),
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  const work = deferred<string>();
  const trial = b.execute(() => work.promise); // granted by the store
  await b.flush();
  // A refresh is held; the trial succeeds meanwhile.
  const release = hold();
  const refresh = b.flush();
  work.resolve("ok");
  assert.equal(await trial, "ok");
  assert.equal(b.state, "closed");
  release();
  await refresh;
  await b.flush();
  assert.equal(b.state, "closed");
  assert.deepEqual(
    events.map((e) => e.to),
    ["open", "half_open", "closed"],
    "the held answer (HALF_OPEN, the trial's permit taken) did not undo the close",
  );
});

test("link: an isolated instance does not follow the store until released", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const opts = { store, storeKey: "iso", clock, logger: silent, failureThreshold: 1 };
  const a = circuitBreaker({ name: "iso-a", ...opts });
  const b = circuitBreaker({ name: "iso-b", ...opts });
  await a.execute(() => 1);
  await b.execute(() => 1);
  const release = a.isolate();
  await assert.rejects(b.execute(boom)); // the fleet opens, then is reset
  await b.flush();
  await a.flush();
  b.reset();
  await b.flush();
  await a.flush();
  assert.equal(a.state, "open", "held by hand");
  assert.ok((await a.execute(() => "no").catch((e) => e)) instanceof CircuitOpenError);
  release();
  await a.flush();
  assert.equal(a.state, "closed", "follows the store again");
});

test("link: a store that does not answer within storeOptions.timeout is unavailable, said with the timeout", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const logger = recordingLogger();
  const hung = deferred<unknown>();
  const store = sharedStore({ kind: "authoritative" as const, run: () => hung.promise });
  const b = circuitBreaker({
    name: "slow-store",
    store,
    clock,
    logger,
    storeOptions: { timeout: 300, whenUnavailable: "reject", retryInterval: 10_000 },
  });
  const call = b.execute(() => "no").catch((e) => e);
  await clock.tickAsync(299);
  assert.equal(b.getStats().storeAvailable, true, "not before the timeout");
  await clock.tickAsync(1);
  const e = await call;
  assert.ok(e instanceof CircuitOpenError, "'reject' mode");
  assert.equal(e.timeUntilReset, 10_000, "until the next probe");
  assert.ok(
    logger.lines.some((l) =>
      l.includes(
        "'slow-store': state store unavailable (Error: store did not answer within 300ms); using 'reject' mode",
      )
    ),
    logger.lines.join("\n"),
  );
  assert.equal(clock.pending, 0, "no timer left");
  hung.resolve(undefined);
});

test("link: a store answer cancels the operation's timeout timer", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const b = circuitBreaker({
    name: "timer",
    store: new MemoryStore({ clock }),
    clock,
    logger: silent,
    storeOptions: { timeout: 300 },
  });
  assert.equal(await b.execute(() => 1), 1);
  await b.flush();
  assert.equal(clock.pending, 0);
  await clock.tickAsync(10_000);
  assert.equal(b.getStats().storeAvailable, true);
});

test("link: an outage is said once (log, onStoreStatus, telemetry), its recovery once; a listener that throws is logged", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const faulty = new FaultyStore(new MemoryStore({ clock }));
  const logger = recordingLogger();
  const status: StoreStatusEvent[] = [];
  const seen: TelemetryEvent[] = [];
  const unsubscribe = subscribe((e) => {
    if (e.type === "store.status") seen.push(e);
  });
  try {
    const b = circuitBreaker({
      name: "outage",
      store: faulty,
      clock,
      logger,
      failureThreshold: 100,
      storeOptions: { retryInterval: 1_000, batchSize: 1 },
      onStoreStatus: (e) => {
        status.push(e);
        throw new Error("listener bug");
      },
    });
    await b.execute(() => 1);
    await b.flush();
    faulty.fault = "throw";
    for (let i = 0; i < 3; i++) assert.equal(await b.execute(() => i), i);
    await b.flush();
    assert.deepEqual(status.map((e) => [e.name, e.available]), [["outage", false]]);
    assert.equal((status[0]!.error as Error).message, "store is down");
    const warns = logger.lines.filter((l) => l.includes("state store unavailable"));
    assert.equal(warns.length, 1);
    assert.ok(warns[0]!.includes("(Error: store is down); using local state"), warns[0]);
    assert.ok(
      logger.lines.some((l) =>
        l.includes("Circuit breaker 'outage' store listener threw: Error: listener bug")
      ),
      logger.lines.join("\n"),
    );
    faulty.heal();
    clock.tick(1_000);
    assert.equal(await b.execute(() => "probe"), "probe");
    await b.flush();
    assert.deepEqual(status.map((e) => e.available), [false, true]);
    assert.equal(status[1]!.name, "outage");
    assert.equal(status[1]!.error, undefined);
    assert.ok(
      logger.lines.some((l) => l.includes("'outage': state store available again")),
      logger.lines.join("\n"),
    );
    const mine = seen.filter((e) => e.type === "store.status" && e.name === "outage");
    assert.deepEqual(
      mine.map((e) => e.type === "store.status" && [e.kind, e.event.available]),
      [["circuitBreaker", false], ["circuitBreaker", true]],
    );
  } finally {
    unsubscribe();
  }
});

test("link: while the store is down, one probe per retryInterval (not one per call), and flush() sends nothing", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  let ops = 0;
  let fail = true;
  const inner = new MemoryStore({ clock });
  const store = sharedStore({
    kind: "authoritative" as const,
    run(key: string, op: StoreOp) {
      ops++;
      return fail ? Promise.reject(new Error("down")) : inner.run(key, op);
    },
  });
  const b = circuitBreaker({
    name: "probe",
    store,
    clock,
    logger: silent,
    storeOptions: { retryInterval: 1_000 },
  });
  assert.equal(await b.execute(() => 1), 1); // the first read fails: down
  await b.flush();
  assert.equal(ops, 1);
  await b.flush();
  assert.equal(ops, 1, "flush() while down sends nothing");
  clock.tick(999);
  for (let i = 0; i < 5; i++) await b.execute(() => i);
  await b.flush();
  assert.equal(ops, 1, "no probe before retryInterval");
  clock.tick(1);
  for (let i = 0; i < 5; i++) await b.execute(() => i);
  await b.flush();
  assert.equal(ops, 2, "one probe at retryInterval, for five calls");
  // The probe failed: the next one is retryInterval after it.
  clock.tick(999);
  await b.execute(() => 1);
  await b.flush();
  assert.equal(ops, 2);
  fail = false;
  clock.tick(1);
  await b.execute(() => 1);
  await b.flush();
  assert.equal(ops, 3);
  assert.equal(b.getStats().storeAvailable, true);
});

test("link: a store answering nothing to a sync means a fresh CLOSED circuit (not an unreadable one)", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const logger = recordingLogger();
  const store = sharedStore({
    kind: "authoritative" as const,
    run: () => Promise.resolve(undefined),
  });
  const b = circuitBreaker({ name: "empty", store, clock, logger, failureThreshold: 2 });
  assert.equal(await b.execute(() => 1), 1);
  await b.flush();
  assert.equal(b.state, "closed");
  assert.deepEqual(logger.lines, []);
  assert.equal(b.getStats().storeAvailable, true);
});

test("link: a neutral trial recorded while a sync is under way gives its permit back on top of the answer (never a success)", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { store, hold } = gated(clock);
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "neutral-replay",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    isFailure: (e: unknown) => (e as Error).message !== "excluded",
    onStateChange: (e) => void events.push(e),
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  const work = deferred<string>();
  const trial = b.execute(() => work.promise);
  await b.flush();
  const release = hold();
  const refresh = b.flush();
  work.reject(new Error("excluded"));
  await assert.rejects(trial, { message: "excluded" });
  release();
  await refresh;
  await b.flush();
  assert.equal(b.state, "half_open");
  assert.deepEqual(events.map((e) => e.to), ["open", "half_open"], "never CLOSED");
  assert.equal(await b.execute(() => "next trial"), "next trial", "the permit is free");
});

test("link: slow successes recorded while a sync is under way count as slow on top of the answer", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { store, hold } = gated(clock);
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "slow-replay",
    store,
    clock,
    logger: silent,
    slowCallDuration: 50,
    slowCallRateThreshold: 0.5,
    windowCalls: 10,
    minimumThroughput: 4,
    onStateChange: (e) => void events.push(e),
  });
  await b.execute(() => 1);
  await b.flush(); // the store's window: one fast call
  const release = hold();
  const refresh = b.flush(); // its answer (that window) is held
  for (let i = 0; i < 3; i++) {
    const slow = b.execute(() => new Promise<string>((r) => clock.setTimeout(() => r("s"), 60)));
    await clock.tickAsync(60);
    assert.equal(await slow, "s");
  }
  assert.equal(b.state, "open", "3 slow of 4: over the 50% slow-call rate");
  release();
  await refresh;
  await b.flush();
  assert.equal(b.state, "open");
  assert.deepEqual(events.map((e) => e.to), ["open"], "never back to CLOSED");
});

test("link: a transition learned from a store state that gives no reason is said as 'shared'", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  let open = false;
  const store = sharedStore({
    kind: "authoritative" as const,
    run: () =>
      Promise.resolve({
        state: open ? "open" : "closed",
        generation: open ? 1 : 0,
        failures: 0,
        successes: 0,
        openedAt: open ? clock.wallNow() : 0,
        permits: [],
      }),
  });
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "no-reason",
    store,
    clock,
    logger: silent,
    onStateChange: (e) => void events.push(e),
  });
  await b.execute(() => 1);
  open = true;
  await b.flush();
  assert.deepEqual(events.map((e) => [e.to, e.reason, e.remote]), [["open", "shared", true]]);
});

/** A logger that keeps each line's data. */
function dataLogger() {
  const lines: [string, string, Record<string, unknown> | undefined][] = [];
  return {
    lines,
    info: (m: string, d?: Record<string, unknown>) => void lines.push(["info", m, d]),
    warn: (m: string, d?: Record<string, unknown>) => void lines.push(["warn", m, d]),
    error: (m: string, d?: Record<string, unknown>) => void lines.push(["error", m, d]),
  };
}

test("link: the outage, recovery and repair lines carry the breaker's name and the error or reason as data; no listener, no listener error, no event built", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const faulty = new FaultyStore(new MemoryStore({ clock }));
  const sent: unknown[] = [];
  let repaired = false;
  const spy = sharedStore({
    kind: "authoritative" as const,
    async run(key: string, op: StoreOp) {
      if (op.type === "circuit" && op.action === "sync") sent.push(...op.outcomes);
      const r = await faulty.run(key, op);
      return repaired ? { ...(r as object), repaired: "bad bytes" } : r;
    },
  });
  const logger = dataLogger();
  const events = built.count; // no subscriber: no telemetry event is even built
  const b = circuitBreaker({
    name: "fields",
    store: spy,
    clock,
    logger,
    failureThreshold: 100,
    storeOptions: { retryInterval: 1_000, batchSize: 1 },
  });
  await b.execute(() => 1);
  await b.flush();
  faulty.fault = "throw";
  await b.execute(() => 1);
  await b.execute(() => 2); // recorded while down: dropped
  await b.flush();
  const down = logger.lines.find(([, m]) => m.includes("unavailable"))!;
  assert.equal(down[0], "warn");
  assert.equal(down[2]?.name, "fields");
  assert.equal((down[2]?.error as Error).message, "store is down");
  faulty.heal();
  clock.tick(1_000);
  repaired = true;
  await b.execute(() => 3);
  await b.flush();
  const up = logger.lines.find(([, m]) => m.includes("available again"))!;
  assert.deepEqual([up[0], up[2]], ["info", { name: "fields" }]);
  const fix = logger.lines.find(([, m]) => m.includes("unreadable"))!;
  assert.equal(fix[0], "warn");
  assert.deepEqual(fix[2], { name: "fields", reason: "bad bytes" });
  assert.deepEqual(logger.lines.filter(([l]) => l === "error"), [], "no listener to fail");
  for (const o of sent) {
    assert.equal(typeof (o as { ok?: unknown }).ok, "boolean", `a well-formed outcome: ${o}`);
  }
  assert.equal(built.count, events, "store status events built without a subscriber");
});

test("link: operator commands go to an authoritative store that is up, and only there; a reset drops the outcomes counted before it", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  // Advisory: a command is not sent (no outage from it).
  let reads = 0;
  const advisory = sharedStore({
    kind: "advisory" as const,
    read: () => (reads++, Promise.resolve(undefined)),
    publish: () => Promise.resolve(),
  });
  const status: boolean[] = [];
  const adv = circuitBreaker({
    name: "cmd-adv",
    store: advisory,
    clock,
    logger: silent,
    onStoreStatus: (e) => void status.push(e.available),
  });
  await adv.execute(() => 1);
  adv.open();
  adv.reset();
  await adv.flush();
  assert.deepEqual(status, []);
  assert.equal(adv.getStats().storeAvailable, true);
  // Authoritative: a reset drops the successes not yet sent; other commands keep them.
  const inner = new MemoryStore({ clock });
  const faulty = new FaultyStore(inner);
  const ops: StoreOp[] = [];
  const store = sharedStore({
    kind: "authoritative" as const,
    run: (k: string, op: StoreOp) => (ops.push(op), faulty.run(k, op)),
  });
  const b = circuitBreaker({
    name: "cmd",
    store,
    clock,
    logger: silent,
    failureThreshold: 5,
    storeOptions: { batchSize: 10, retryInterval: 60_000 },
  });
  await b.execute(() => 1);
  await b.flush();
  const sent = () =>
    ops.flatMap((o) => o.type === "circuit" && o.action === "sync" ? o.outcomes : []).length;
  const before = sent();
  for (let i = 0; i < 3; i++) await b.execute(() => i);
  b.reset();
  await b.flush();
  assert.equal(sent(), before, "counted before the reset: not sent after it");
  for (let i = 0; i < 2; i++) await b.execute(() => i);
  b.open();
  await b.flush();
  assert.equal(sent(), before + 2, "an open keeps them");
  const commands = () => ops.filter((o) => o.type === "circuit" && o.action === "command").length;
  assert.equal(commands(), 2);
  // A command the store fails on: the outage is said, nothing adopted (no crash), the copy holds.
  faulty.fault = "throw";
  b.reset();
  await b.flush();
  assert.equal(b.getStats().storeAvailable, false);
  assert.equal(b.state, "closed");
  const n = ops.length;
  b.open(); // down: kept, and tried at once (the failed reset first, in order): fails again
  await b.flush();
  assert.equal(ops.length, n + 1);
  assert.equal(b.state, "open");
  // The store is back: the next probe sends the kept commands first, in order, then the sync.
  faulty.heal();
  await clock.tickAsync(60_000);
  await b.execute(() => 1).catch(() => {});
  await b.flush();
  const last = ops.slice(n + 1).map((o) =>
    o.type === "circuit" ? (o.action === "command" ? o.command : o.action) : o.type
  );
  assert.deepEqual(last.slice(0, 2), ["reset", "open"], String(last));
  assert.equal(b.getStats().storeAvailable, true);
  assert.equal(b.state, "open", "the operator's last word holds");
});
