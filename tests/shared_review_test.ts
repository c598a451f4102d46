// What a fresh-eyes review of shared circuits found (issue #17, second round),
// each scenario as it was found: it failed before the fix, and says what a
// local breaker does.
import assert from "node:assert/strict";
import {
  applyOp,
  circuitBreaker,
  type CircuitBreakerOptions,
  CircuitOpenError,
  clearCircuitBreakers,
  type Clock,
  initialSharedState,
  MemoryStore,
  sharedStore,
  type StoreOp,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";
import { CountingStore, FaultyStore, SlowStore } from "./_stores.ts";

const boom = () => Promise.reject(new Error("boom"));

test("shared review: operator commands given during an outage reach the fleet when the store is back (open, isolate fleet, reset)", async () => {
  for (const command of ["open", "fleet", "reset"] as const) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const faulty = new FaultyStore(new MemoryStore({ clock }));
    const make = (name: string) =>
      circuitBreaker({
        name,
        storeKey: "ops",
        store: faulty,
        clock,
        logger: silent,
        failureThreshold: 3,
        resetTimeout: 60_000,
        storeOptions: { timeout: 100, retryInterval: 1_000, refreshInterval: 200 },
      });
    const a = make("a");
    const b = make("b");
    await Promise.all([a.execute(() => 1), b.execute(() => 1)]);
    faulty.fault = "throw";
    await a.execute(boom).catch(() => {}); // A finds the store down
    await a.flush();
    assert.equal(a.getStats().storeAvailable, false);
    faulty.heal();
    await clock.tickAsync(5_000); // idle: A has not tried the store again
    if (command === "reset") {
      b.open();
      await b.flush();
    }
    if (command === "open") a.open();
    else if (command === "fleet") a.isolate({ scope: "fleet" });
    else a.reset();
    await a.flush();
    assert.equal(a.getStats().storeAvailable, true, `${command}: the command is a probe`);
    await clock.tickAsync(1_000); // B refreshes
    const ran: string[] = [];
    for (const [n, x] of [["a", a], ["b", b]] as const) {
      await x.execute(() => ran.push(n)).catch((e) => assert.ok(e instanceof CircuitOpenError));
      await clock.tickAsync(250);
      await x.execute(() => ran.push(n)).catch((e) => assert.ok(e instanceof CircuitOpenError));
    }
    await a.flush();
    await b.flush();
    if (command === "reset") {
      assert.deepEqual([a.state, b.state], ["closed", "closed"], "reset: the fleet is closed");
      assert.equal(ran.length, 4);
    } else {
      assert.deepEqual([a.state, b.state], ["open", "open"], `${command}: the fleet is open`);
      assert.deepEqual(ran, [], `${command}: no call ran on either instance`);
    }
  }
});

test("shared review: a caller that aborts while the store hangs is refused at once; its work never starts", async () => {
  clearCircuitBreakers();
  const hang = sharedStore({ kind: "authoritative", run: () => new Promise(() => {}) });
  const clock = new FakeClock();
  const b = circuitBreaker({
    name: "hangs",
    store: hang,
    clock,
    logger: silent,
    storeOptions: { timeout: 500 },
  });
  let ran = false;
  const ctl = new AbortController();
  const p = b.execute(() => (ran = true), ctl.signal).then(() => "resolved", (e) => e);
  await clock.tickAsync(10);
  ctl.abort(new Error("gone"));
  await clock.tickAsync(0);
  const r = await Promise.race([p, Promise.resolve("pending")]);
  assert.ok(r instanceof Error && r.message === "gone", `rejected at once with the reason: ${r}`);
  await clock.tickAsync(1_000); // the store times out meanwhile
  assert.equal(ran, false, "the work never started");
});

test("shared review: a caller aborting while its trial permit is asked for is refused at once; the permit goes back", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new SlowStore(new MemoryStore({ clock }), 200, clock);
  const b = circuitBreaker({
    name: "permit-abort",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
  });
  const first = b.execute(boom).catch(() => {});
  await clock.tickAsync(1_000);
  await first;
  await clock.tickAsync(1_000); // due: the next call asks the store for a trial permit
  const ctl = new AbortController();
  let ran = false;
  const p = b.execute(() => (ran = true), ctl.signal).then(() => "ran", (e) => e);
  await clock.tickAsync(10);
  ctl.abort(new Error("left"));
  await clock.tickAsync(0);
  const r = await Promise.race([p, Promise.resolve("pending")]);
  assert.ok(r instanceof Error && r.message === "left", `refused at once: ${r}`);
  await clock.tickAsync(2_000); // the permit granted later goes back
  assert.equal(ran, false);
  const again = b.execute(() => "trial").catch((e) => e);
  await clock.tickAsync(1_000);
  assert.equal(await again, "trial", "the permit was returned: another caller gets it");
});

test("shared review: a trial failing while the next permit is on its way starts no further trial (store 50 ms away)", async () => {
  for (const latency of [undefined, 50]) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const store = latency === undefined
      ? undefined
      : new SlowStore(new MemoryStore({ clock }), latency, clock);
    const b = circuitBreaker({
      name: "late-permit",
      clock,
      logger: silent,
      failureThreshold: 2,
      resetTimeout: 1_000,
      halfOpenMaxCalls: 2,
      ...(store ? { store } : {}),
    });
    const fail1ms = () =>
      new Promise((_, reject) => clock.setTimeout(() => reject(new Error("down")), 1));
    for (let i = 0; i < 2; i++) {
      const p = b.execute(fail1ms).catch(() => {});
      await clock.tickAsync(300);
      await p;
    }
    await clock.tickAsync(b.getTimeUntilReset());
    const started: number[] = [];
    let failedAt = Infinity;
    const calls = Array.from({ length: 4 }, () =>
      b.execute(() => {
        started.push(clock.now());
        return new Promise((_, reject) =>
          clock.setTimeout(() => {
            failedAt = Math.min(failedAt, clock.now());
            reject(new Error("x"));
          }, 10)
        );
      }).catch(() => {}));
    for (let t = 0; t < 40; t++) await clock.tickAsync(5);
    await Promise.all(calls);
    assert.ok(started.length >= 1);
    assert.deepEqual(
      started.filter((t) => t > failedAt),
      [],
      `${latency ?? "no store"}: no trial starts after one failed`,
    );
    assert.equal(b.state, "open");
  }
});

test("shared review: a success ending a run of failures is reported at once (a batched one let the fleet's run grow)", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const counting = new CountingStore(new MemoryStore({ clock }));
  const options = (name: string): CircuitBreakerOptions => ({
    name,
    storeKey: "streak",
    store: counting,
    clock,
    logger: silent,
    failureThreshold: 3,
    resetTimeout: 60_000,
  });
  const a = circuitBreaker(options("a"));
  const b = circuitBreaker(options("b"));
  await Promise.all([a.execute(() => 1), b.execute(() => 1)]);
  await a.execute(boom).catch(() => {}); // the fleet's run: 1
  await clock.tickAsync(1);
  const before = counting.ops.sync;
  await a.execute(() => "ok"); // ends it (a local breaker: run 0)
  await clock.tickAsync(1);
  assert.equal(counting.ops.sync, before + 1, "the success that ended the run is sent at once");
  await a.execute(() => "ok"); // no run to end: batched
  await clock.tickAsync(1);
  assert.equal(counting.ops.sync, before + 1, "later successes wait for their batch");
  await b.execute(boom).catch(() => {});
  await b.execute(boom).catch(() => {});
  await a.flush();
  await b.flush();
  assert.deepEqual([a.state, b.state], ["closed", "closed"], "2 failures in a row, not 3");
});

test("shared review: a store whose clock is an hour ahead keeps a circuit OPEN at most resetTimeout + the skew allowance", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const entries = new Map<string, unknown>();
  const ahead = sharedStore({
    kind: "authoritative",
    run(key: string, op: StoreOp) {
      const { value, answer, write } = applyOp(entries.get(key), op, clock.wallNow() + 3_600_000);
      if (write) entries.set(key, value);
      return Promise.resolve(answer);
    },
  });
  const b = circuitBreaker({
    name: "ahead",
    store: ahead,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 20_000,
  });
  await b.execute(boom).catch(() => {});
  await b.flush();
  assert.equal(b.state, "open");
  let ranAt: number | undefined;
  for (let t = 0; t <= 120_000 && ranAt === undefined; t += 1_000) {
    await b.execute(() => (ranAt = clock.now())).catch(() => {});
    await clock.tickAsync(1_000);
  }
  assert.ok(ranAt !== undefined, "the circuit half-opened");
  assert.ok(ranAt! <= 25_000 + 1_000, `first call ran at ${ranAt} ms (bound: 20 s + 5 s)`);
});

test("shared review: a storeKey that is not a string is refused naming it", () => {
  clearCircuitBreakers();
  assert.throws(
    () =>
      circuitBreaker({
        name: "k",
        store: new MemoryStore(),
        storeKey: 5 as unknown as string,
        logger: silent,
      }),
    (e: unknown) =>
      e instanceof TypeError && /'storeKey' must be a non-empty string/.test(e.message),
  );
});

test("shared review: released from its own isolation, an instance rejoins the shared circuit with reason 'shared', not a reset nobody made", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const logger = recordingLogger();
  const events: string[] = [];
  const b = circuitBreaker({
    name: "rejoin",
    store: new MemoryStore({ clock }),
    clock,
    logger,
    onStateChange: (e) => events.push(`${e.from}->${e.to}:${e.reason}`),
  });
  await b.execute(() => 1);
  const release = b.isolate();
  await b.execute(() => 1).catch(() => {});
  await clock.tickAsync(2_000);
  release();
  await clock.tickAsync(3_000); // its copy is old: the next call reads the store
  await b.execute(() => 1).catch(() => {});
  await b.flush();
  assert.equal(b.state, "closed");
  assert.deepEqual(events, ["closed->open:isolated", "open->closed:shared"]);
  assert.ok(!logger.lines.some((l) => /CLOSED - reset/.test(l)), logger.lines.join("\n"));
});

test("shared review: a logger that throws never fails a breaker's call, with or without a store (1,000 calls through trips and an outage)", async () => {
  const throwing = {
    info() {
      throw new Error("logger down");
    },
    warn() {
      throw new Error("logger down");
    },
    error() {
      throw new Error("logger down");
    },
  };
  for (const shared of [false, true]) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const faulty = new FaultyStore(new MemoryStore({ clock }));
    const b = circuitBreaker({
      name: `throwing-logger-${shared}`,
      clock,
      logger: throwing,
      failureThreshold: 3,
      resetTimeout: 100,
      ...(shared ? { store: faulty, storeOptions: { retryInterval: 50 } } : {}),
    });
    const own = new Error("own");
    for (let i = 0; i < 1_000; i++) {
      if (shared) faulty.fault = i % 200 < 50 ? "throw" : "none"; // outages come and go
      const fails = i % 7 < 4;
      const r = await b.execute(() => (fails ? Promise.reject(own) : `ok${i}`)).then(
        (v) => v,
        (e) => e,
      );
      assert.ok(
        r === `ok${i}` || r === own || r instanceof CircuitOpenError,
        `${shared ? "store" : "local"} call ${i}: ${String(r)}`,
      );
      await clock.tickAsync(20);
    }
    faulty.heal();
    await b.flush();
  }
});

test("shared review: the operator's last word stands — a command given before another (or before a transition) and delivered after it changes nothing", async () => {
  const cfg = { failureThreshold: 5, resetTimeout: 60_000, halfOpenMaxCalls: 1 };
  const op = (command: "open" | "reset", at: number) => ({
    type: "circuit" as const,
    action: "command" as const,
    command,
    at,
    config: cfg,
  });
  // B's reset at 320 (the circuit was CLOSED), then A's open given at 20, delivered at 5,000.
  let stored: unknown = applyOp(undefined, op("reset", 320), 320).value;
  let r = applyOp(stored, op("open", 20), 5_000);
  assert.equal((r.answer as { state: string }).state, "closed", "a stale open is ignored");
  // A reset at 10 was applied; an open given at 5 and delivered late (a client's queue) is older.
  stored = applyOp(undefined, op("open", 0), 0).value;
  stored = applyOp(stored, op("reset", 10), 115).value;
  r = applyOp(stored, op("open", 5), 2_005);
  assert.equal((r.answer as { state: string }).state, "closed");
  // A command given after the last word applies.
  r = applyOp(stored, op("open", 200), 2_005);
  assert.equal((r.answer as { state: string }).state, "open");

  // End to end: A's open kept through A's outage must not override B's later reset.
  clearCircuitBreakers();
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const forA = new FaultyStore(inner);
  const make = (name: string, store: typeof inner | FaultyStore) =>
    circuitBreaker({
      name,
      storeKey: "last-word",
      store,
      clock,
      logger: silent,
      resetTimeout: 60_000,
      storeOptions: { timeout: 100, retryInterval: 1_000 },
    });
  const a = make("a", forA);
  const b = make("b", inner);
  await Promise.all([a.execute(() => 1), b.execute(() => 1)]);
  forA.fault = "throw";
  await clock.tickAsync(20);
  a.open(); // kept: A's store is down
  await a.flush();
  await clock.tickAsync(300);
  forA.heal();
  b.reset(); // another operator, later
  await b.flush();
  await clock.tickAsync(3_600_000);
  await a.execute(() => 1).catch(() => {}); // A's first call sends its old command
  await a.flush();
  await clock.tickAsync(2_000);
  await b.execute(() => 1).catch(() => {});
  await b.flush();
  assert.deepEqual([a.state, b.state], ["closed", "closed"], "B's later reset stands");
});

test("shared review: a trial that settled before its permit expired counts, however late its report arrives", () => {
  const cfg = { failureThreshold: 1, resetTimeout: 1_000, halfOpenMaxCalls: 1 };
  let stored: unknown = applyOp(
    undefined,
    { type: "circuit", action: "command", command: "open", at: 0, config: cfg },
    0,
  ).value;
  const acquired = applyOp(stored, { type: "circuit", action: "acquire", config: cfg }, 1_200);
  stored = acquired.value;
  const answer = acquired.answer as {
    granted: boolean;
    permit: number;
    state: { generation: number };
  };
  assert.equal(answer.granted, true);
  // The trial failed at 2,180 (before its permit expired at 2,200); its report arrives at 2,250.
  const r = applyOp(stored, {
    type: "circuit",
    action: "sync",
    outcomes: [{
      ok: false,
      generation: answer.state.generation,
      at: 2_180,
      permit: true,
      permitId: answer.permit,
    }],
    config: cfg,
  }, 2_250);
  const s = r.answer as { state: string; generation: number; openedAt: number };
  assert.equal(s.state, "open", "the failed trial reopened the circuit");
  assert.equal(s.generation, answer.state.generation + 1);
  assert.equal(s.openedAt, 2_180, "from when the trial failed");
});

test("shared review: when the store did not follow this instance's own trip, the move back is reason 'shared', not the store's old reason", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  // A store that never trips: it always answers CLOSED, generation 0, last moved by a recovery.
  const closed = { ...initialSharedState(), reason: "recovered" as const };
  const stubborn = sharedStore({
    kind: "authoritative",
    run: (_key: string, op: StoreOp) =>
      Promise.resolve(
        op.type === "circuit" && op.action === "acquire"
          ? { granted: true, state: closed }
          : closed,
      ),
  });
  const events: string[] = [];
  const b = circuitBreaker({
    name: "stubborn",
    store: stubborn,
    clock,
    logger: silent,
    failureThreshold: 1,
    onStateChange: (e) => events.push(`${e.from}->${e.to}:${e.reason}`),
  });
  await b.execute(() => 1);
  await b.execute(boom).catch(() => {}); // trips this copy; the store stays CLOSED
  await b.flush();
  assert.equal(b.state, "closed", "the store decides for the fleet");
  assert.deepEqual(events, ["closed->open:failure_threshold", "open->closed:shared"]);
});

test("shared review (3rd): a command is not undone here by the answer to an earlier operation (store 50 ms away)", async () => {
  // open() or reset() given while an earlier operation (a report, another command) is on its way:
  // a local breaker obeys the last command at once; the answer to the earlier operation must not
  // bring the old state back until the store has the command.
  const cases = [
    { given: ["open"], before: "report", expect: "open" },
    { given: ["open", "reset"], before: "none", expect: "closed" },
    { given: ["reset", "open"], before: "none", expect: "open" },
    { given: ["open", "reset", "open"], before: "none", expect: "open" },
  ] as const;
  for (const latency of [undefined, 50]) {
    for (const c of cases) {
      clearCircuitBreakers();
      const clock = new FakeClock();
      const store = latency === undefined
        ? undefined
        : new SlowStore(new MemoryStore({ clock }), latency, clock);
      const events: string[] = [];
      const b = circuitBreaker({
        name: "command-order",
        clock,
        logger: silent,
        failureThreshold: 3,
        resetTimeout: 60_000,
        ...(store ? { store, storeOptions: { batchSize: 1, refreshInterval: 100 } } : {}),
        onStateChange: (e) => events.push(`${e.to}:${e.reason}`),
      });
      const first = b.execute(() => 1);
      await clock.tickAsync(200);
      await first;
      await b.execute(() => 2); // with batchSize 1: its report is on its way
      for (const g of c.given) b[g]();
      const seen: string[] = [];
      let ran = 0;
      for (let t = 0; t < 300; t += 5) {
        seen.push(b.state);
        await b.execute(() => ran++).catch(() => {});
        await clock.tickAsync(5);
      }
      const label = `${latency ?? "no store"}: ${c.given.join(", ")}`;
      assert.deepEqual([...new Set(seen)], [c.expect], `${label}: the copy stays ${c.expect}`);
      assert.equal(ran, c.expect === "open" ? 0 : 60, `${label}: calls run`);
      const last = events.at(-1);
      assert.ok(last?.startsWith(c.expect), `${label}: ${events.join(" ")}`);
      assert.ok(
        !events.some((e) => e.endsWith(":shared")),
        `${label}: no flap: ${events.join(" ")}`,
      );
    }
  }
});

test("shared review (3rd): a store that hangs at startup does not release every waiting call at once", async () => {
  // Calls arrive one per ms at an upstream failing 2 ms later; the first store read hangs (or
  // fails after 150 ms): the calls that waited for it run in arrival order on the local state,
  // so its own failures stop them as a local breaker's would (5 calls), not all of them.
  for (const fault of ["none", "fail late", "hang"] as const) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const store = fault === "none" ? undefined : sharedStore({
      kind: "authoritative",
      run: () =>
        fault === "hang"
          ? new Promise(() => {})
          : new Promise((_, reject) => clock.setTimeout(() => reject(new Error("down")), 150)),
    });
    const b = circuitBreaker({
      name: "hung-start",
      clock,
      logger: silent,
      failureThreshold: 5,
      resetTimeout: 60_000,
      ...(store ? { store, storeOptions: { timeout: 200 } } : {}),
    });
    let upstream = 0;
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 250; i++) {
      calls.push(
        b.execute(() => {
          upstream++;
          return new Promise((_, reject) => clock.setTimeout(() => reject(new Error("x")), 2));
        }).catch(() => {}),
      );
      await clock.tickAsync(1);
    }
    await clock.tickAsync(100);
    await Promise.all(calls);
    assert.ok(upstream <= 6, `${fault}: ${upstream} upstream calls (a local breaker: 6)`);
    assert.equal(b.state, "open");
  }
});

/** A breaker's clock whose wall time is `offset` ms away from `clock`'s. */
function skewedClock(clock: FakeClock, offset: number): Clock {
  return {
    now: () => clock.now(),
    wallNow: () => clock.wallNow() + offset,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
}

test("shared review (3rd): an operator's command works whatever the instances' and the store's clocks say", async () => {
  // Commands are ordered on the store's clock: a command from an instance whose clock is behind
  // the store's (or a store ahead of it) was taken for one given before the trip, and ignored.
  for (const [instance, store] of [[-3_600_000, 0], [-10_000, 0], [0, 3_600_000], [0, 10_000]]) {
    for (const command of ["reset", "open"] as const) {
      clearCircuitBreakers();
      const clock = new FakeClock();
      const memory = new MemoryStore({ clock: skewedClock(clock, store) });
      const make = (name: string, c: Clock) =>
        circuitBreaker({
          name,
          storeKey: "skewed-command",
          store: memory,
          clock: c,
          logger: silent,
          failureThreshold: 2,
          resetTimeout: 60_000,
          storeOptions: { refreshInterval: 100 },
        });
      const a = make("a", skewedClock(clock, instance));
      const b = make("b", clock);
      await Promise.all([a.execute(() => 1), b.execute(() => 1)]);
      if (command === "reset") {
        for (let i = 0; i < 2; i++) await b.execute(boom).catch(() => {});
      }
      await b.flush();
      await clock.tickAsync(1_000);
      a[command]();
      await a.flush();
      await clock.tickAsync(200);
      await b.execute(() => 1).catch(() => {}); // b refreshes
      await b.flush();
      const want = command === "reset" ? "closed" : "open";
      const label = `${command} by an instance ${instance} ms off, store ${store} ms off`;
      assert.deepEqual([a.state, b.state], [want, want], label);
    }
  }
});

test("shared review (3rd): the failures of an instance whose clock is behind count, in the fleet and in its own copy", async () => {
  // Outcome times are moved onto the store's clock: an instance 10 s behind had its failures
  // ordered before another instance's older success and never counted (40 of 40 calls ran).
  for (const mode of ["consecutive", "time window"] as const) {
    for (const offset of [-3_600_000, -10_000, 0, 10_000]) {
      clearCircuitBreakers();
      const clock = new FakeClock();
      const memory = new MemoryStore({ clock });
      const rule = mode === "consecutive"
        ? { failureThreshold: 5 }
        : { failureRateThreshold: 0.5, windowDuration: 60_000, minimumThroughput: 10 };
      const make = (name: string, c: Clock) =>
        circuitBreaker({
          name,
          storeKey: "skewed-outcomes",
          store: memory,
          clock: c,
          logger: silent,
          resetTimeout: 30_000,
          ...rule,
          storeOptions: { refreshInterval: 100, batchSize: 1 },
        });
      const a = make("a", skewedClock(clock, offset));
      const b = make("b", clock);
      for (let i = 0; i < 5; i++) {
        await b.execute(() => 1);
        await clock.tickAsync(10);
      }
      await b.flush();
      let upstream = 0;
      for (let i = 0; i < 40; i++) {
        await a.execute(() => (upstream++, boom())).catch(() => {});
        await clock.tickAsync(50);
      }
      await a.flush();
      await b.execute(() => 1).catch(() => {});
      await b.flush();
      const label = `${mode}, instance ${offset} ms off`;
      assert.ok(upstream <= (mode === "consecutive" ? 5 : 6), `${label}: ${upstream} calls ran`);
      assert.deepEqual([a.state, b.state], ["open", "open"], label);
    }
  }
});

test("shared review (3rd): a caller leaving while its trial permit is asked for does not refuse the callers queued behind it", async () => {
  // halfOpenMaxCalls 1: the first caller asks for the permit and leaves; a local breaker would
  // admit the next caller as the trial (no trial is running). Before, the permit granted to the
  // caller that left counted as "the last permit taken" and the caller behind it was refused.
  // (Without a store no caller waits: the first caller is the trial at once.)
  for (const latency of [50, 200]) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const store = new SlowStore(new MemoryStore({ clock }), latency, clock);
    const b = circuitBreaker({
      name: "left-permit",
      clock,
      logger: silent,
      failureThreshold: 1,
      resetTimeout: 1_000,
      halfOpenMaxCalls: 1,
      store,
    });
    const first = b.execute(boom).catch(() => {});
    await clock.tickAsync(1_000);
    await first;
    await clock.tickAsync(1_000); // due
    const ctl = new AbortController();
    let firstRan = false;
    const leaving = b.execute(() => (firstRan = true), ctl.signal).catch((e) => e);
    await clock.tickAsync(10);
    ctl.abort(new Error("left"));
    const next = b.execute(() => "trial").catch((e) => e);
    for (let t = 0; t < 30; t++) await clock.tickAsync(100);
    assert.equal((await leaving as Error).message, "left");
    assert.equal(firstRan, false);
    assert.equal(await next, "trial", `${latency} ms: the caller behind runs the trial`);
  }
});

test("shared review (3rd): an instance whose clock is behind stops on its own failures while the store is 50 ms away", async () => {
  // Its copy holds another instance's success dated on the store's clock; its own failures, on
  // its own clock 10 s behind, were ordered before that success in its copy and did not count
  // until the store answered (201 calls instead of 5).
  for (const offset of [0, -10_000, 10_000]) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const memory = new MemoryStore({ clock });
    const make = (name: string, c: Clock) =>
      circuitBreaker({
        name,
        storeKey: "skewed-copy",
        store: new SlowStore(memory, 50, clock),
        clock: c,
        logger: silent,
        failureThreshold: 5,
        resetTimeout: 30_000,
        storeOptions: { refreshInterval: 100 },
      });
    const a = make("a", skewedClock(clock, offset));
    const b = make("b", clock);
    const warm = Promise.all([a.execute(() => 1), b.execute(() => 1)]);
    await clock.tickAsync(200);
    await warm;
    const success = b.execute(() => 1); // b's success reaches the store...
    await clock.tickAsync(200);
    await success;
    const refresh = a.execute(() => 1); // ...and a's copy
    await clock.tickAsync(200);
    await refresh;
    let upstream = 0;
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      calls.push(
        a.execute(() => {
          upstream++;
          return new Promise((_, reject) => clock.setTimeout(() => reject(new Error("x")), 1));
        }).catch(() => {}),
      );
      await clock.tickAsync(1);
    }
    await clock.tickAsync(500);
    await Promise.all(calls);
    assert.ok(upstream <= 6, `instance ${offset} ms off: ${upstream} upstream calls`);
  }
});

/** A store `ms` away each way (the request and the answer each take `ms`). */
function farAway(inner: MemoryStore, ms: number, clock: FakeClock) {
  const later = <T>(v: T) => new Promise<T>((r) => clock.setTimeout(() => r(v), ms));
  return sharedStore({
    kind: "authoritative",
    run: (key, op) => later(undefined).then(() => inner.run(key, op)).then(later),
  });
}

test("shared review (3rd): of two commands 10 ms apart the later stands, though the earlier comes from an instance 200 ms farther from the store", async () => {
  // Commands are ordered on the store's clock by their age; the age counts the time in transit
  // (half of the instance's shortest recent round trip), else a far instance's earlier command
  // arrives "newer" than a near instance's later one.
  for (const [first, second] of [["open", "reset"], ["reset", "open"]] as const) {
    for (const [far, near] of [[200, 5], [5, 200]]) {
      clearCircuitBreakers();
      const clock = new FakeClock();
      const memory = new MemoryStore({ clock });
      const make = (name: string, ms: number) =>
        circuitBreaker({
          name,
          storeKey: "far-command",
          store: farAway(memory, ms, clock),
          clock,
          logger: silent,
          failureThreshold: 2,
          resetTimeout: 60_000,
          storeOptions: { refreshInterval: 100, timeout: 1_000 },
        });
      const a = make("a", far);
      const b = make("b", near);
      const warm = Promise.all([a.execute(() => 1), b.execute(() => 1)]);
      await clock.tickAsync(1_000);
      await warm;
      if (first === "reset") b.open(); // so that the reset means something
      await clock.tickAsync(1_000);
      a[first]();
      await clock.tickAsync(10);
      b[second]();
      await clock.tickAsync(2_000);
      const probes = Promise.all([a, b].map((x) => x.execute(() => 1).catch(() => {})));
      await clock.tickAsync(2_000);
      await probes;
      const want = second === "reset" ? "closed" : "open";
      const label = `a.${first}() ${far} ms away, 10 ms later b.${second}() ${near} ms away`;
      assert.deepEqual([a.state, b.state], [want, want], label);
    }
  }
});
