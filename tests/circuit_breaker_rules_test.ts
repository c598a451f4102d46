// The breaker's rules for cancellation, stuck and cross-period trials,
// isolate(), long durations and the registry (issue #10).
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  compose,
  getCircuitBreaker,
  listCircuitBreakers,
  MemoryStore,
  removeCircuitBreaker,
  ResilienceTimeoutError,
  type StateChangeEvent,
  timeout,
} from "../mod.ts";
import type { ResilienceContext } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, silent, test } from "./_harness.ts";
import { FaultyStore } from "./_stores.ts";

const boom = () => Promise.reject(new Error("boom"));
const ok = () => Promise.resolve("ok");

function setup(extra: Parameters<typeof circuitBreaker>[0] = {}) {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    failureThreshold: 2,
    resetTimeout: 1000,
    halfOpenMaxCalls: 1,
    clock,
    logger: silent,
    onStateChange: (e) => events.push(e),
    ...extra,
  });
  return { b, clock, events };
}

/** Work that ends only when its context signal aborts (rejecting with the reason). */
const untilAborted = ({ signal }: ResilienceContext) =>
  new Promise<string>((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

// --- Cancellation

test("breaker cancellation: an already-aborted caller never starts the work and counts as nothing", async () => {
  const fallbackCalls: unknown[] = [];
  const { b, clock } = setup({ fallback: () => fallbackCalls.push(1) });
  const gone = AbortSignal.abort(new Error("client went away"));
  let ran = 0;
  const work = () => {
    ran++;
    return "x";
  };
  // CLOSED
  await assert.rejects(b.execute(work, gone), /client went away/);
  // OPEN: the caller's reason, not a CircuitOpenError, and no fallback for a caller who left
  b.open();
  const e = await b.execute(work, gone).catch((e) => e);
  assert.equal(e, gone.reason);
  // HALF_OPEN with one permit: the aborted call does not take it
  clock.tick(1000);
  await assert.rejects(b.execute(work, gone), /client went away/);
  assert.equal(ran, 0);
  assert.deepEqual(fallbackCalls, []);
  const s = b.getStats();
  assert.equal(s.totalCalls, 0);
  assert.equal(s.totalFailures, 0);
  assert.equal(s.totalRejections, 0);
  assert.equal(s.halfOpenInFlight, 0);
  assert.equal(s.state, "half_open");
  assert.equal(await b.execute(ok), "ok"); // the permit is still free
  assert.equal(b.state, "closed");
});

test("breaker cancellation: client disconnects do not open the circuit (threshold 2)", async () => {
  const { b } = setup();
  for (let i = 0; i < 1000; i++) {
    const ctl = new AbortController();
    const p = b.execute(untilAborted, ctl.signal);
    ctl.abort(new Error(`disconnect ${i}`));
    await assert.rejects(p, new RegExp(`disconnect ${i}$`));
  }
  const s = b.getStats();
  assert.equal(s.state, "closed");
  assert.equal(s.failureCount, 0);
  assert.equal(s.totalFailures, 0);
  assert.equal(s.totalCalls, 1000);
  // Real failures still count.
  await assert.rejects(b.execute(boom));
  await assert.rejects(b.execute(boom));
  assert.equal(b.state, "open");
});

test("breaker cancellation: a call that fails after its caller aborted is not a failure, whatever the error", async () => {
  const { b } = setup();
  for (let i = 0; i < 3; i++) {
    const ctl = new AbortController();
    const gate = deferred<string>();
    // The work ignores the signal and fails on its own, after the caller left.
    const p = b.execute(() => gate.promise, ctl.signal);
    ctl.abort();
    gate.reject(new Error("socket closed"));
    await assert.rejects(p, /socket closed/);
  }
  assert.equal(b.state, "closed");
  assert.equal(b.getStats().totalFailures, 0);
  // A success after the abort is still a success.
  const ctl = new AbortController();
  const gate = deferred<string>();
  const p = b.execute(() => gate.promise, ctl.signal);
  ctl.abort();
  gate.resolve("done");
  assert.equal(await p, "done");
  assert.equal(b.getStats().totalSuccesses, 1);
  // A synchronous throw of an already-aborting caller: the signal aborts inside the work.
  const ctl2 = new AbortController();
  await assert.rejects(
    b.execute(() => {
      ctl2.abort(new Error("aborted mid-call"));
      throw new Error("sync after abort");
    }, ctl2.signal),
    /sync after abort/,
  );
  assert.equal(b.getStats().totalFailures, 0);
});

test("breaker cancellation: a half-open trial whose caller aborts frees its permit and decides nothing", async () => {
  const { b, clock, events } = setup({ failureThreshold: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const ctl = new AbortController();
  const trial = b.execute(untilAborted, ctl.signal);
  assert.equal(b.getStats().halfOpenInFlight, 1);
  await assert.rejects(b.execute(ok), CircuitOpenError); // the only permit is taken
  ctl.abort();
  await assert.rejects(trial);
  assert.equal(b.state, "half_open"); // not re-opened
  assert.equal(b.getStats().halfOpenInFlight, 0);
  assert.equal(await b.execute(ok), "ok"); // a new trial runs
  assert.equal(b.state, "closed");
  assert.deepEqual(events.map((e) => e.reason), [
    "failure_threshold",
    "reset_timeout",
    "recovered",
  ]);
});

test("breaker cancellation: countCallerAborts: true counts them as before", async () => {
  const { b } = setup({ countCallerAborts: true });
  for (let i = 0; i < 2; i++) {
    const ctl = new AbortController();
    const p = b.execute(untilAborted, ctl.signal);
    ctl.abort();
    await assert.rejects(p);
  }
  assert.equal(b.state, "open");
  // An already-aborted caller still never starts the work.
  let ran = false;
  b.reset();
  await assert.rejects(b.execute(() => (ran = true), AbortSignal.abort()));
  assert.equal(ran, false);
  assert.equal(b.getStats().totalCalls, 0);
});

test("breaker cancellation: a timeout inside the breaker is a failure; one outside is the caller's", async () => {
  const clock = new FakeClock();
  // Inside: breaker → timeout. The deadline is the breaker's business.
  const inner = setup({ clock });
  const innerCall = compose(inner.b, timeout(100, { clock, logger: silent }));
  for (let i = 0; i < 2; i++) {
    const ctl = new AbortController(); // a caller signal that never aborts
    const p = innerCall.execute(untilAborted, ctl.signal);
    clock.tick(100);
    await assert.rejects(p, ResilienceTimeoutError);
  }
  assert.equal(inner.b.state, "open");
  assert.equal(inner.b.getStats().totalFailures, 2);
  // Outside: timeout → breaker. The deadline is the caller giving up.
  const outer = setup({ clock });
  const outerCall = compose(timeout(100, { clock, logger: silent }), outer.b);
  for (let i = 0; i < 3; i++) {
    const p = outerCall.execute(untilAborted);
    clock.tick(100);
    await assert.rejects(p, ResilienceTimeoutError);
  }
  assert.equal(outer.b.state, "closed");
  assert.equal(outer.b.getStats().totalFailures, 0);
});

test("breaker cancellation: shared state (MemoryStore) does not count caller aborts either", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const mk = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "shared-abort",
      store,
      clock,
      logger: silent,
      failureThreshold: 2,
      resetTimeout: 10_000, // the permit's TTL: far beyond the 11 ms below
      halfOpenMaxCalls: 1,
      storeOptions: { refreshInterval: 10 },
    });
  const a = mk("a");
  const b = mk("b");
  for (const br of [a, b, a, b]) {
    const ctl = new AbortController();
    const p = br.execute(untilAborted, ctl.signal);
    await Promise.resolve(); // past the store admission
    await new Promise((r) => setTimeout(r, 0));
    ctl.abort();
    await assert.rejects(p);
    await br.flush();
  }
  assert.equal(a.state, "closed");
  assert.equal(b.state, "closed");
  // A shared trial whose caller aborts returns its permit without deciding anything.
  await assert.rejects(a.execute(boom));
  await assert.rejects(a.execute(boom));
  await a.flush();
  assert.equal(a.state, "open");
  clock.tick(10_000);
  await b.flush(); // b sees the open circuit
  const ctl = new AbortController();
  const trial = a.execute(untilAborted, ctl.signal);
  await new Promise((r) => setTimeout(r, 0));
  await assert.rejects(b.execute(ok), CircuitOpenError); // the only permit is out
  ctl.abort();
  await assert.rejects(trial);
  await a.flush();
  await b.flush();
  clock.tick(11); // past the denial cache
  assert.equal(await b.execute(ok), "ok"); // the permit came back at once, not after permitTtl
  await b.flush();
  assert.equal(b.state, "closed");
  // An already-aborted caller never reaches the store.
  let ran = false;
  await assert.rejects(a.execute(() => (ran = true), AbortSignal.abort()));
  assert.equal(ran, false);
});

// --- Stuck trials

test("breaker trials: a hanging trial gives its permit back after resetTimeout; its late result is ignored", async () => {
  const { b, clock } = setup({ failureThreshold: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const hang = deferred<string>();
  const stuck = b.execute(() => hang.promise);
  assert.equal(b.getStats().halfOpenInFlight, 1);
  clock.tick(999);
  await assert.rejects(b.execute(ok), CircuitOpenError); // still within resetTimeout
  clock.tick(1); // exactly resetTimeout after it started: given back (inclusive, as Polly)
  assert.equal(b.getStats().halfOpenInFlight, 0); // seen lazily, from the clock
  assert.equal(await b.execute(ok), "ok"); // a new trial
  assert.equal(b.state, "closed");
  hang.reject(new Error("very late failure"));
  await assert.rejects(stuck, /very late failure/);
  assert.equal(b.state, "closed"); // ignored
  assert.equal(b.getStats().failureCount, 0);
  assert.equal(b.getStats().lateResults, 1);
});

test("breaker trials: an expired trial's late success does not count towards closing", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 2 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const hang = deferred<string>();
  const stuck = b.execute(() => hang.promise);
  clock.tick(1001);
  const second = deferred<string>();
  const ok1 = b.execute(() => second.promise);
  hang.resolve("late");
  assert.equal(await stuck, "late");
  assert.equal(b.getStats().successCount, 0);
  second.resolve("fresh");
  await ok1;
  assert.equal(b.state, "half_open"); // one success of two
  assert.equal(b.getStats().successCount, 1);
});

test("breaker trials: 1,000 hanging trials never wedge the breaker", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const hangs: ReturnType<typeof deferred<string>>[] = [];
  const calls: Promise<unknown>[] = [];
  let ran = 0;
  for (let i = 0; i < 1000; i++) {
    const d = deferred<string>();
    hangs.push(d);
    calls.push(
      b.execute(() => {
        ran++;
        return d.promise;
      }).catch((e) => e),
    );
    calls.push(b.execute(ok).catch((e) => e)); // rejected: the permit is out
    clock.tick(1001);
  }
  assert.equal(ran, 1000);
  for (const d of hangs) d.resolve("late");
  await Promise.all(calls);
  assert.equal(b.getStats().lateResults, 1000);
  assert.equal(b.state, "half_open");
  assert.equal(await b.execute(ok), "ok");
  assert.equal(b.state, "closed");
});

test("breaker trials: shared permits (MemoryStore) do not wedge either: a hanging trial's permit expires", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const mk = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "shared-stuck",
      store,
      clock,
      logger: silent,
      failureThreshold: 1,
      resetTimeout: 1000,
      halfOpenMaxCalls: 1, // shared permits expire after permitTtl (default and cap: resetTimeout)
    });
  const a = mk("a");
  const b = mk("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  clock.tick(1000);
  const hang = deferred<string>();
  const stuck = a.execute(() => hang.promise);
  await new Promise((r) => setTimeout(r, 0));
  await assert.rejects(b.execute(ok), CircuitOpenError);
  clock.tick(1000);
  assert.equal(await b.execute(ok), "ok");
  await b.flush();
  assert.equal(b.state, "closed");
  hang.resolve("late");
  assert.equal(await stuck, "late");
  await a.flush();
  assert.equal(a.state, "closed");
});

// --- Trials of earlier half-open periods

test("breaker trials: the next half-open period starts with all its permits; the old period's trials are late", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 3 });
  let running = 0;
  let peak = 0;
  const upstream = (d: Promise<string>) => () => {
    running++;
    peak = Math.max(peak, running);
    return d.finally(() => running--);
  };
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const gates = Array.from({ length: 3 }, () => deferred<string>());
  const first = gates.map((g) => b.execute(upstream(g.promise)).catch((e) => e));
  assert.equal(running, 3);
  gates[0].reject(new Error("first trial fails at once"));
  await first[0];
  assert.equal(b.state, "open");
  // A trial holds its permit resetTimeout at most and OPEN lasts at least that long: when
  // the next period starts, the old trials (started before the reopening) gave theirs back.
  clock.tick(999);
  assert.equal(b.getStats().halfOpenInFlight, 2);
  clock.tick(1);
  assert.equal(b.getStats().halfOpenInFlight, 0);
  const more = Array.from({ length: 10 }, () => deferred<string>());
  const second = more.map((g) => b.execute(upstream(g.promise)).catch((e) => e));
  assert.equal(b.getStats().halfOpenInFlight, 3); // three new trials, the rest rejected
  assert.equal(peak, 5); // the two old trials still run (they hold no permit)
  for (const g of [gates[1], gates[2]]) g.resolve("old");
  await Promise.all(first);
  assert.equal(b.getStats().lateResults, 2); // their results are ignored
  assert.equal(b.state, "half_open");
  for (const g of more) g.resolve("ok");
  const results = await Promise.all(second);
  assert.equal(results.filter((r) => r === "ok").length, 3);
  assert.equal(b.state, "closed");
});

test("breaker trials: trials running when isolate() is released still hold their permits", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const hang = deferred<string>();
  const trial = b.execute(() => hang.promise);
  const release = b.isolate();
  release(); // trial calls may start at once...
  await assert.rejects(b.execute(ok), CircuitOpenError); // ...but the old one still runs
  hang.resolve("done");
  await trial;
  assert.equal(await b.execute(ok), "ok");
  assert.equal(b.state, "closed");
});

// --- isolate()

test("breaker isolate: trips a CLOSED breaker; the rejection says it is held open by hand", async () => {
  const { b, clock, events } = setup();
  assert.equal(b.state, "closed");
  const release = b.isolate();
  assert.equal(b.state, "open");
  assert.deepEqual(events.map((e) => `${e.from}>${e.to}:${e.reason}`), ["closed>open:isolated"]);
  clock.tick(10 ** 9);
  let ran = false;
  const e = await b.execute(() => (ran = true)).catch((e) => e);
  assert.equal(ran, false);
  assert.ok(e instanceof CircuitOpenError);
  assert.equal(e.isolated, true);
  assert.equal(e.state, "open");
  assert.equal(e.timeUntilReset, Infinity);
  assert.equal(e.message, "Circuit breaker 'anonymous' is isolated (held open until released)");
  assert.doesNotMatch(e.message, /Infinity/);
  assert.equal(String(e.stack), `CircuitOpenError: ${e.message}`);
  const s = b.getStats();
  assert.equal(s.isolated, true);
  assert.equal(s.timeUntilReset, null);
  assert.equal(b.getTimeUntilReset(), Infinity);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s); // JSON-safe
  for (const v of Object.values(s)) {
    assert.ok(typeof v !== "number" || Number.isFinite(v), `non-finite ${v}`);
  }
  // An ordinary open circuit's error is not isolated.
  release();
  b.open();
  const e2 = (await b.execute(ok).catch((e) => e)) as CircuitOpenError;
  assert.equal(e2.isolated, false);
  assert.equal(new CircuitOpenError("x", 1, "open").isolated, false);
  const built = new CircuitOpenError("x", Infinity, "open", { isolated: true });
  assert.equal(built.isolated, true);
  assert.equal(built.message, "Circuit breaker 'x' is isolated (held open until released)");
});

test("breaker isolate: releasing the last handle allows trial calls at once, not full traffic", async () => {
  const { b, events } = setup({ halfOpenMaxCalls: 2 });
  const r1 = b.isolate();
  const r2 = b.isolate();
  r1();
  r1(); // a double release is harmless: r2 still holds it
  assert.equal(b.getStats().isolated, true);
  await assert.rejects(b.execute(ok), (e: CircuitOpenError) => e.isolated);
  r2();
  const s = b.getStats();
  assert.equal(s.isolated, false);
  assert.equal(s.timeUntilReset, 0);
  assert.equal(s.state, "half_open");
  const gates = [deferred<string>(), deferred<string>()];
  const trials = gates.map((g) => b.execute(() => g.promise));
  await assert.rejects(b.execute(ok), /half-open/); // limited to halfOpenMaxCalls
  gates.forEach((g) => g.resolve("ok"));
  await Promise.all(trials);
  assert.equal(b.state, "closed");
  assert.deepEqual(events.map((e) => e.reason), ["isolated", "reset_timeout", "recovered"]);
});

test("breaker isolate: a handle from before reset() cannot end a later isolation", async () => {
  const { b } = setup();
  const old = b.isolate();
  b.reset();
  assert.equal(b.state, "closed");
  assert.equal(b.getStats().isolated, false);
  const current = b.isolate();
  old();
  assert.equal(b.getStats().isolated, true);
  await assert.rejects(b.execute(ok), CircuitOpenError);
  current();
  assert.equal(b.getStats().isolated, false);
});

test("breaker stats: totals and isolation are counted", async () => {
  const { b, clock } = setup({ failureThreshold: 3, excludedErrors: [RangeError] });
  await b.execute(ok);
  await b.execute(ok);
  await assert.rejects(b.execute(boom));
  await assert.rejects(b.execute(() => Promise.reject(new RangeError("excluded"))));
  let s = b.getStats();
  assert.deepEqual(
    [s.totalCalls, s.totalSuccesses, s.totalFailures, s.totalRejections, s.isolated],
    [4, 2, 1, 0, false],
  );
  const release = b.isolate();
  await assert.rejects(b.execute(ok));
  s = b.getStats();
  assert.deepEqual(
    [s.totalCalls, s.totalSuccesses, s.totalFailures, s.totalRejections, s.isolated],
    [4, 2, 1, 1, true],
  );
  release();
  clock.tick(1);
  await b.execute(ok);
  s = b.getStats();
  assert.deepEqual([s.totalCalls, s.totalSuccesses, s.state], [5, 3, "closed"]);
});

// --- Long durations

test("breaker durations: resetTimeout above 2^31-1 ms (30 days, MAX_SAFE_INTEGER) is accepted", async () => {
  const DAY = 86_400_000;
  const { b, clock } = setup({ failureThreshold: 1, resetTimeout: 30 * DAY });
  assert.equal(b.getStats().resetTimeout, 30 * DAY);
  await assert.rejects(b.execute(boom));
  clock.tick(29 * DAY);
  assert.equal(b.getTimeUntilReset(), DAY);
  await assert.rejects(b.execute(ok), CircuitOpenError);
  clock.tick(DAY);
  assert.equal(await b.execute(ok), "ok");
  assert.equal(b.state, "closed");
  const max = setup({ resetTimeout: Number.MAX_SAFE_INTEGER }).b;
  max.open();
  assert.equal(max.getTimeUntilReset(), Number.MAX_SAFE_INTEGER);
  for (const bad of [-1, NaN, Infinity, Number.MAX_SAFE_INTEGER + 2]) {
    assert.throws(() => setup({ resetTimeout: bad }), /resetTimeout/);
  }
});

// --- Registry

test("breaker registry: same numbers and the same function objects are the same breaker", () => {
  clearCircuitBreakers();
  const isFailure = (e: unknown) => e instanceof Error;
  const store = new MemoryStore();
  const opts = {
    name: "same",
    failureThreshold: 3,
    isFailure,
    logger: silent,
    excludedErrors: [RangeError],
    store,
    storeOptions: { timeout: 100 },
  };
  const a = circuitBreaker(opts);
  // Fresh arrays and objects with the same contents are the same options.
  assert.equal(
    circuitBreaker({ ...opts, excludedErrors: [RangeError], storeOptions: { timeout: 100 } }),
    a,
  );
  // Only a name: "the breaker of this name", whatever its options.
  assert.equal(circuitBreaker({ name: "same" }), a);
});

test("breaker registry: look-alike closures conflict with a message that says how to share", () => {
  clearCircuitBreakers();
  circuitBreaker({ name: "alike", isFailure: () => true, logger: silent });
  const err = (() => {
    try {
      circuitBreaker({ name: "alike", isFailure: () => true, logger: silent });
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(err instanceof TypeError);
  assert.doesNotMatch(err.message, /=>/);
  assert.match(err.message, /isFailure: a different function/);
  assert.match(err.message, /circuitBreaker\(\{ name: 'alike' \}\)/);
  assert.match(err.message, /removeCircuitBreaker\('alike'\)/);
});

test("breaker registry: different storeOptions do not silently merge", () => {
  clearCircuitBreakers();
  const store = new MemoryStore();
  circuitBreaker({ name: "st", store, storeOptions: { timeout: 100 }, logger: silent });
  assert.throws(
    () => circuitBreaker({ name: "st", store, storeOptions: { timeout: 200 }, logger: silent }),
    /storeOptions/,
  );
  assert.throws(
    () => circuitBreaker({ name: "st", store, logger: silent }),
    /storeOptions/,
  );
  assert.throws(
    () => circuitBreaker({ name: "st", store, storeOptions: { timeout: 100 } }),
    /logger: an object vs not set/,
  );
  assert.throws(
    () =>
      circuitBreaker({
        name: "st",
        store,
        storeOptions: { timeout: 100 },
        logger: { info() {}, warn() {}, error() {} },
      }),
    /logger: a different object/,
  );
  assert.throws(
    () =>
      circuitBreaker({
        name: "st",
        store,
        storeOptions: { timeout: 100 },
        logger: silent,
        excludedErrors: [RangeError],
      }),
    /excludedErrors: not set vs \[RangeError\]/,
  );
  assert.throws(
    () =>
      circuitBreaker({
        name: "st",
        store,
        storeOptions: { timeout: 100 },
        logger: silent,
        countCallerAborts: true,
      }),
    /countCallerAborts: not set vs true/,
  );
});

test("breaker registry: removeCircuitBreaker removes one; holders keep working; the name makes a new one", async () => {
  clearCircuitBreakers();
  const a = circuitBreaker({ name: "rm", failureThreshold: 1, logger: silent });
  const keep = circuitBreaker({ name: "keep", logger: silent });
  assert.equal(removeCircuitBreaker("rm"), true);
  assert.equal(removeCircuitBreaker("rm"), false);
  assert.equal(getCircuitBreaker("rm"), undefined);
  assert.deepEqual(listCircuitBreakers(), [keep]);
  await assert.rejects(a.execute(boom));
  assert.equal(a.state, "open"); // still works for whoever holds it
  const b = circuitBreaker({ name: "rm", failureThreshold: 5, logger: silent });
  assert.notEqual(b, a);
  assert.equal(b.state, "closed");
  assert.equal(getCircuitBreaker("rm"), b);
});

// --- Cases found by mutation testing (deno task mutate src/circuit_breaker/state.ts)

test("breaker trials: a trial started exactly resetTimeout ago has given its permit back (Polly, resilience4j)", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const gate = deferred<string>();
  const trial = b.execute(() => gate.promise);
  clock.tick(999); // 1 ms short of resetTimeout: the permit is still held, and it still counts
  await assert.rejects(b.execute(ok), CircuitOpenError);
  gate.resolve("ok");
  await trial;
  assert.equal(b.state, "closed");
  assert.equal(b.getStats().lateResults, 0);
  // The boundary itself: a hung trial's permit goes to the next caller at exactly resetTimeout.
  await assert.rejects(b.execute(boom));
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const hung = deferred<string>();
  const stuck = b.execute(() => hung.promise);
  clock.tick(1000);
  assert.equal(b.getStats().halfOpenInFlight, 0);
  assert.equal(await b.execute(ok), "ok");
  hung.resolve("late");
  await stuck;
  assert.equal(b.getStats().lateResults, 1);
});

test("breaker trials: dropping expired trials keeps the live ones (boundary included)", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 2 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const gates = [deferred<string>(), deferred<string>(), deferred<string>()];
  const first = b.execute(() => gates[0].promise); // at 1000
  clock.tick(1);
  const second = b.execute(() => gates[1].promise); // at 1001
  clock.tick(999); // 2000: the first exactly at resetTimeout (given back), the second 1 ms short
  assert.equal(b.getStats().halfOpenInFlight, 1);
  const third = b.execute(() => gates[2].promise); // takes the first one's permit
  await assert.rejects(b.execute(ok), CircuitOpenError); // the second and third hold both
  gates.forEach((g) => g.resolve("done"));
  await Promise.all([first, second, third]);
  const s = b.getStats();
  assert.equal(s.lateResults, 1);
  assert.equal(s.totalSuccesses, 3); // a late result is still a success of the service
  assert.equal(b.state, "closed");
});

test("breaker trials: an expired trial's failure is counted in totals, not in the state", async () => {
  const { b, clock } = setup({ failureThreshold: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const gate = deferred<string>();
  const trial = b.execute(() => gate.promise);
  clock.tick(1001);
  gate.reject(new Error("late"));
  await assert.rejects(trial, /late/);
  const s = b.getStats();
  assert.deepEqual([s.totalFailures, s.lateResults, s.state], [2, 1, "half_open"]);
});

test("breaker events: reasons of a failed trial and of reset(); reset() of a CLOSED breaker is silent", async () => {
  const { b, clock, events } = setup({ failureThreshold: 1 });
  b.reset();
  assert.equal(events.length, 0);
  assert.equal(b.getStats().generation, 0);
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  await assert.rejects(b.execute(boom));
  b.reset();
  assert.deepEqual(events.map((e) => `${e.from}>${e.to}:${e.reason}:${e.failureCount}`), [
    "closed>open:failure_threshold:1",
    "open>half_open:reset_timeout:1",
    "half_open>open:half_open_failure:1",
    "open>closed:reset:1",
  ]);
});

test("breaker: a fallback that throws rejects the call with its error", async () => {
  const { b } = setup({
    fallback: () => {
      throw new Error("no cached value");
    },
  });
  b.open();
  await assert.rejects(b.execute(ok), /no cached value/);
  assert.equal(b.getStats().totalRejections, 1);
});

test("breaker: a named breaker keeps its name; an unnamed one is not renamed by an anonymous function", () => {
  clearCircuitBreakers();
  const named = circuitBreaker({ name: "orders", logger: silent });
  named(function loadOrders() {});
  assert.equal(named.name, "orders");
  const unnamed = circuitBreaker({ logger: silent });
  unnamed((() => () => 1)()); // a function without a name
  assert.equal(unnamed.name, "anonymous");
  unnamed(function loadUser() {});
  assert.equal(unnamed.name, "loadUser");
  unnamed(function other() {});
  assert.equal(unnamed.name, "loadUser"); // the first named function only
});

test("breaker isolate: a store outage does not end an isolation", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new FaultyStore(new MemoryStore({ clock }));
  const b = circuitBreaker({ name: "iso-store", store, clock, logger: silent });
  assert.equal(await b.execute(ok), "ok"); // the view: CLOSED
  b.isolate();
  store.fault = "throw";
  await b.flush(); // the store fails: the local machine takes over from the last view
  assert.equal(b.getStats().storeAvailable, false);
  assert.equal(b.state, "open");
  await assert.rejects(b.execute(ok), (e: CircuitOpenError) => e.isolated);
});

test("breaker trials: a purged trial that settles late does not free a permit another trial holds", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const old = deferred<string>();
  const first = b.execute(() => old.promise);
  clock.tick(1001);
  const live = deferred<string>();
  const second = b.execute(() => live.promise); // the first one's permit, dropped from the clock
  old.resolve("late");
  await first;
  assert.equal(b.getStats().halfOpenInFlight, 1);
  await assert.rejects(b.execute(ok), CircuitOpenError); // the second still holds it
  live.resolve("ok");
  await second;
  assert.equal(b.state, "closed");
});

test("breaker trials: a late trial cancelled by its caller or excluded is no failure in the totals", async () => {
  class Ignored extends Error {}
  const { b, clock } = setup({ failureThreshold: 1, excludedErrors: [Ignored] });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const gate = deferred<string>();
  const trial = b.execute(() => gate.promise);
  clock.tick(1001);
  gate.reject(new Ignored());
  await assert.rejects(trial, Ignored);
  const s = b.getStats();
  assert.deepEqual([s.totalFailures, s.totalSuccesses, s.lateResults], [1, 0, 1]);
});

test("breaker registry: plain data by content, other objects by identity, null and odd values named", () => {
  clearCircuitBreakers();
  const base = {
    name: "cmp",
    logger: silent,
    store: new MemoryStore(),
    storeOptions: { timeout: 100, batchSize: 5 },
  };
  const a = circuitBreaker(base);
  const conflict = (o: Record<string, unknown>) => {
    try {
      circuitBreaker({ ...base, ...o } as never);
    } catch (e) {
      return (e as Error).message;
    }
    return "same breaker";
  };
  // A null-prototype object with the same content is the same data.
  const bare = Object.assign(Object.create(null), { timeout: 100, batchSize: 5 });
  assert.equal(conflict({ storeOptions: bare }), "same breaker");
  assert.equal(circuitBreaker({ ...base, storeOptions: bare }), a);
  assert.match(conflict({ storeOptions: { timeout: 100 } }), /storeOptions: a different object/);
  assert.match(
    conflict({ storeOptions: { timeout: 100, batchSize: 5, retryInterval: 1 } }),
    /storeOptions/,
  );
  assert.match(conflict({ storeOptions: { timeout: 100, batchSize: 6 } }), /storeOptions/);
  assert.match(conflict({ storeOptions: null }), /storeOptions: an object vs null/);
  // Instances are compared by identity, even with the same (no) own properties.
  class Quiet {
    info() {}
    warn() {}
    error() {}
  }
  const q = new Quiet();
  circuitBreaker({ name: "inst", logger: q });
  assert.equal(circuitBreaker({ name: "inst", logger: q }).name, "inst");
  assert.throws(
    () => circuitBreaker({ name: "inst", logger: new Quiet() }),
    /logger: a different object/,
  );
  // A plain object is not the same as an instance with the same own functions.
  const fns = { info() {}, warn() {}, error() {} };
  circuitBreaker({ name: "plain", logger: { ...fns } });
  const inst = Object.assign(new Quiet(), fns);
  assert.throws(
    () => circuitBreaker({ name: "plain", logger: inst }),
    /logger: a different object/,
  );
  // Values are shown as written: a string is quoted, same-named classes are listed.
  circuitBreaker({ name: "vals", failureThreshold: 5, excludedErrors: [RangeError] });
  assert.throws(
    () =>
      circuitBreaker({
        name: "vals",
        failureThreshold: "5" as never,
        excludedErrors: [RangeError],
      }),
    /failureThreshold: 5 vs "5"/,
  );
  const Other = Object.defineProperty(class extends Error {}, "name", { value: "RangeError" });
  assert.throws(
    () => circuitBreaker({ name: "vals", failureThreshold: 5, excludedErrors: [Other] }),
    /excludedErrors: \[RangeError\] vs \[RangeError\]/,
  );
});

test("breaker: with a store, getTimeUntilReset() is what is left of the shared open period", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const b = circuitBreaker({
    name: "left",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1000,
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(300);
  assert.equal(b.getTimeUntilReset(), 700);
  assert.equal(b.getStats().timeUntilReset, 700);
  assert.equal(b.state, "open");
});
