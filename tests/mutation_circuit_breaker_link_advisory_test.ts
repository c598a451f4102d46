// What mutation testing of src/circuit_breaker/link.ts found untested on an
// advisory store (Workers KV: `read` and `publish`, no permits): what a
// breaker broadcasts at its transitions, and which broadcasts it adopts.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  initialSharedState,
  type SharedState,
  sharedStore,
  type StateChangeEvent,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

/** An advisory store: `read` answers `stored`, `publish` records (and stores) what it got. */
function advisory() {
  const s = {
    stored: undefined as unknown,
    published: [] as SharedState[],
    keys: [] as string[],
    reads: 0,
    fail: false,
  };
  const store = sharedStore({
    kind: "advisory" as const,
    read: () => {
      s.reads++;
      if (s.fail) return Promise.reject(new Error("kv down"));
      return Promise.resolve(s.stored as SharedState | undefined);
    },
    publish: (key: string, state: SharedState) => {
      s.keys.push(key);
      s.published.push(structuredClone(state));
      return Promise.resolve();
    },
  });
  return { s, store };
}

const boom = () => Promise.reject(new Error("boom"));

test("link (advisory): OPEN and CLOSED are broadcast with generation, openedAt and a grown openFor; HALF_OPEN is not", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { s, store } = advisory();
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "adv-pub",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    maxResetTimeout: 4_000,
    halfOpenMaxCalls: 1,
    storeOptions: { refreshInterval: 60_000 },
    onStateChange: (e) => void events.push(e),
  });
  assert.equal(await b.execute(() => 1), 1);
  const t0 = clock.wallNow();
  await assert.rejects(b.execute(boom));
  await b.flush();
  assert.equal(s.published.length, 1);
  assert.deepEqual(s.keys, ["cb:adv-pub"]);
  const open = s.published[0]!;
  assert.equal(open.state, "open");
  assert.equal(open.openedAt, t0);
  assert.equal(open.openFor, undefined, "resetTimeout is not sent");
  assert.equal(open.generation, events.at(-1)!.generation);
  assert.ok(open.generation > 0);
  // The trial fails: HALF_OPEN (not broadcast), then OPEN for twice as long.
  clock.tick(1_000);
  await assert.rejects(b.execute(boom));
  await b.flush();
  assert.deepEqual(s.published.map((p) => p.state), ["open", "open"]);
  const reopened = s.published[1]!;
  assert.equal(reopened.openFor, 2_000);
  assert.equal(reopened.openedAt, clock.wallNow());
  assert.equal(reopened.generation, events.at(-1)!.generation);
  assert.ok(reopened.generation > open.generation + 1, "HALF_OPEN came between");
  // The trial succeeds: CLOSED is broadcast, with no openedAt and no openFor.
  clock.tick(2_000);
  assert.equal(await b.execute(() => "ok"), "ok");
  await b.flush();
  assert.deepEqual(s.published.map((p) => p.state), ["open", "open", "closed"]);
  const closed = s.published[2]!;
  assert.equal(closed.openedAt, 0);
  assert.equal(closed.openFor, undefined);
  assert.equal(closed.generation, events.at(-1)!.generation);
  assert.deepEqual(events.map((e) => e.to), ["open", "half_open", "open", "half_open", "closed"]);
});

test("link (advisory): an adopted broadcast is not broadcast again; nothing is published while the store is down", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { s, store } = advisory();
  const state = initialSharedState();
  state.state = "open";
  state.generation = 4;
  state.openedAt = clock.wallNow();
  s.stored = state;
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "adv-adopt",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    onStateChange: (e) => void events.push(e),
  });
  await assert.rejects(b.execute(() => "no"), CircuitOpenError);
  await b.flush();
  assert.deepEqual(events.map((e) => [e.to, e.reason]), [["open", "shared"]]);
  assert.equal(s.published.length, 0, "what it learned is not broadcast back");
  // Down (the read fails): its own transitions are not published.
  clearCircuitBreakers();
  const down = advisory();
  down.s.fail = true;
  const c = circuitBreaker({
    name: "adv-down",
    store: down.store,
    clock,
    logger: silent,
    failureThreshold: 1,
    storeOptions: { retryInterval: 60_000 },
  });
  await assert.rejects(c.execute(boom));
  await c.flush();
  assert.equal(c.state, "open");
  assert.equal(c.getStats().storeAvailable, false);
  assert.equal(down.s.published.length, 0);
});

test("link (advisory): a running OPEN broadcast is adopted with the time it has left, capped by maxResetTimeout", async () => {
  const clock = new FakeClock();
  const at = (fields: Partial<SharedState>) => {
    const st = { ...initialSharedState(), state: "open" as const, generation: 2, ...fields };
    return st;
  };
  const make = (name: string, stored: unknown, extra: Record<string, unknown> = {}) => {
    clearCircuitBreakers();
    const { s, store } = advisory();
    s.stored = stored;
    const b = circuitBreaker({
      name,
      store,
      clock,
      logger: silent,
      failureThreshold: 1,
      resetTimeout: 1_000,
      maxResetTimeout: 3_000,
      storeOptions: { refreshInterval: 60_000 },
      ...extra,
    });
    return { b, s };
  };
  // Opened 400 ms ago for resetTimeout: 600 ms left.
  const { b } = make("adv-left", at({ openedAt: clock.wallNow() - 400 }));
  const e = await b.execute(() => "no").catch((x) => x);
  assert.ok(e instanceof CircuitOpenError);
  assert.equal(e.timeUntilReset, 600);
  // Opened for 5,000 ms elsewhere: this breaker holds it maxResetTimeout at most.
  const { b: capped } = make("adv-cap", at({ openedAt: clock.wallNow() - 400, openFor: 5_000 }));
  const e2 = await capped.execute(() => "no").catch((x) => x);
  assert.equal(e2.timeUntilReset, 2_600);
  // An OPEN that has run its course (left 0), a CLOSED, null: not adopted, the call runs.
  for (
    const v of [at({ openedAt: clock.wallNow() - 1_000 }), initialSharedState(), null, undefined]
  ) {
    const logger = recordingLogger();
    const { b: c } = make("adv-old", v, { logger });
    assert.equal(await c.execute(() => "ran"), "ran", JSON.stringify(v));
    assert.equal(c.state, "closed");
    assert.deepEqual(logger.lines, [], "nothing unreadable to report");
  }
});

test("link (advisory): a broadcast only lengthens the OPEN this instance is in, never shortens it", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { s, store } = advisory();
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "adv-len",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    maxResetTimeout: 10_000,
    halfOpenMaxCalls: 1,
    storeOptions: { refreshInterval: 100 },
    onStateChange: (e) => void events.push(e),
  });
  await assert.rejects(b.execute(boom)); // the first read (nothing stored), then OPEN here
  await b.flush();
  clock.tick(200); // 800 ms left here
  const st = { ...initialSharedState(), state: "open" as const, generation: 9 };
  st.openedAt = clock.wallNow() - 500; // 500 ms left there
  s.stored = st;
  const reads = s.reads;
  const e = await b.execute(() => "no").catch((x) => x); // refreshes in the background
  await b.flush();
  assert.ok(s.reads > reads);
  assert.equal(e.timeUntilReset, 800);
  assert.equal(b.getTimeUntilReset(), 800, "its own, longer OPEN is kept");
  // 900 ms left there, 800 here: the longer one is adopted.
  st.openedAt = clock.wallNow() - 100;
  await b.flush();
  assert.equal(b.getTimeUntilReset(), 900);
  // openFor longer than resetTimeout: adopted too (3,000 − 100).
  st.openFor = 3_000;
  await b.flush();
  assert.equal(b.getTimeUntilReset(), 2_900);
  assert.deepEqual(events.map((e) => e.to), ["open"], "lengthened in place: no new transition");
  clock.tick(2_900);
  assert.equal(await b.execute(() => "trial"), "trial");
  assert.equal(b.state, "closed");
});

test("link (advisory): a broadcast that would leave as long as this instance's own OPEN is not adopted; a CLOSED one never opens", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { s, store } = advisory();
  const b = circuitBreaker({
    name: "adv-tie",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    maxResetTimeout: 10_000,
    halfOpenMaxCalls: 1,
    storeOptions: { refreshInterval: 100 },
  });
  // A CLOSED state with a recent openedAt (another writer's): not an OPEN to follow.
  s.stored = { ...initialSharedState(), generation: 3, openedAt: clock.wallNow() - 10 };
  assert.equal(await b.execute(() => "ran"), "ran");
  assert.equal(b.state, "closed");
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(200); // 800 ms left here, for an open duration of 1,000
  const st = { ...initialSharedState(), state: "open" as const, generation: 9, openFor: 2_000 };
  st.openedAt = clock.wallNow() - 1_200; // 800 ms left there too, for 2,000
  s.stored = st;
  await b.flush();
  assert.equal(b.getTimeUntilReset(), 800);
  clock.tick(800);
  await assert.rejects(b.execute(boom)); // the trial fails: reopened for twice its own 1,000
  await b.flush();
  assert.equal(b.state, "open");
  assert.equal(b.getTimeUntilReset(), 2_000);
});
