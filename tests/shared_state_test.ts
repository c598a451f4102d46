import assert from "node:assert/strict";
import fc from "fast-check";
import {
  acquirePermit,
  applyOp,
  applyOutcomes,
  boundSharedState,
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  initialSharedState,
  MemoryStore,
  parseSharedState,
  type SharedConfig,
  type SharedStore,
  sharedStore,
  skewAllowance,
  storeKey,
  type StoreOp,
  type StoreStatusEvent,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, recordingLogger, silent, test } from "./_harness.ts";
import { CountingStore, FaultyStore } from "./_stores.ts";
import { workersKvStore } from "../src/cloudflare/kv_store.ts";
import { durableObjectStore } from "../src/cloudflare/durable_object_store.ts";

const CFG: SharedConfig = {
  failureThreshold: 3,
  resetTimeout: 1000,
  halfOpenMaxCalls: 2,
};
const boom = () => Promise.reject(new Error("boom"));

/** Reads a circuit from a store as a breaker would (a sync with no outcomes). */
async function readShared(store: SharedStore, name: string, config: SharedConfig) {
  const op: StoreOp = { type: "circuit", action: "sync", outcomes: [], config };
  return parseSharedState(await store.run!(storeKey("cb:", name), op));
}

/** Several breakers ("isolates") with separate local views sharing one store. */
function fleet(
  n: number,
  store: MemoryStore | CountingStore | FaultyStore,
  clock: FakeClock,
  extra = {},
) {
  clearCircuitBreakers();
  return Array.from({ length: n }, (_, i) =>
    circuitBreaker({
      name: `isolate-${i}`,
      storeKey: "api",
      store,
      clock,
      logger: silent,
      failureThreshold: CFG.failureThreshold,
      resetTimeout: CFG.resetTimeout,
      halfOpenMaxCalls: CFG.halfOpenMaxCalls,
      ...extra,
    }));
}

test("shared: the circuit opens after failureThreshold failures in total across isolates", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const [a, b, c] = fleet(3, store, clock);
  await assert.rejects(a.execute(boom), /boom/);
  await assert.rejects(b.execute(boom), /boom/);
  await a.flush();
  await b.flush();
  assert.equal(a.state, "closed"); // 2 failures in total, threshold 3
  await assert.rejects(c.execute(boom), /boom/); // the third, from a third isolate
  await c.flush();
  assert.equal(c.state, "open");
  // Each isolate's view refreshes in the background (TTL); then every one fails fast.
  for (const x of [a, b]) await x.flush();
  let ran = 0;
  for (const x of [a, b, c]) await assert.rejects(x.execute(() => ran++), CircuitOpenError);
  assert.equal(ran, 0);
  assert.equal(b.getStats().failureCount, 3);
  assert.ok(b.getTimeUntilReset() > 0);
});

test("shared: a new isolate starts from the shared state, not CLOSED", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const [a] = fleet(1, store, clock, { failureThreshold: 1 });
  await assert.rejects(a.execute(boom));
  await a.flush();
  clearCircuitBreakers();
  const fresh = circuitBreaker({ name: "fresh", storeKey: "api", store, clock, logger: silent });
  let ran = false;
  await assert.rejects(fresh.execute(() => (ran = true)), CircuitOpenError);
  assert.equal(ran, false);
});

test("shared: under 200 concurrent calls in HALF_OPEN, probes never exceed halfOpenMaxCalls", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const breakers = fleet(5, store, clock, { failureThreshold: 1 });
  await assert.rejects(breakers[0].execute(boom));
  await breakers[0].flush();
  clock.tick(CFG.resetTimeout);
  let running = 0;
  let maxRunning = 0;
  let admitted = 0;
  const release: (() => void)[] = [];
  const calls = Array.from({ length: 200 }, (_, i) =>
    breakers[i % 5].execute(() => {
      admitted++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise<void>((r) =>
        release.push(() => {
          running--;
          r();
        })
      );
    }).catch((e) => e));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(admitted <= CFG.halfOpenMaxCalls, `admitted ${admitted}`);
  for (const r of release.splice(0)) r();
  const results = await Promise.all(calls);
  assert.ok(maxRunning <= CFG.halfOpenMaxCalls);
  assert.equal(results.filter((r) => r instanceof CircuitOpenError).length, 200 - admitted);
  for (const b of breakers) await b.flush();
  const s = await readShared(store, "api", CFG);
  assert.equal(s.state, "closed"); // 2 successful trials closed it
});

test("shared: zero synchronous store round trips per call while CLOSED; outcomes batched", async () => {
  const clock = new FakeClock();
  const store = new CountingStore(new MemoryStore({ clock }));
  const [b] = fleet(1, store, clock, { storeOptions: { batchSize: 50, refreshInterval: 60_000 } });
  await b.execute(() => 1); // the first call learns the shared state (one round trip)
  await b.flush();
  const before = store.total;
  // A store that never answers would stall any call that waited for it: none does.
  for (let i = 0; i < 500; i++) assert.equal(await b.execute(() => i), i);
  await b.flush();
  assert.equal(store.ops.acquire, 0);
  assert.equal(store.total - before, 11); // 10 batches of 50 successes + the final flush
  assert.equal(store.outcomes, 501); // the first call's, and the 500
});

test("shared: the CLOSED hot path never waits for the store (a hanging store cannot slow calls)", async () => {
  const clock = new FakeClock();
  const faulty = new FaultyStore(new MemoryStore({ clock }));
  const [b] = fleet(1, faulty, clock, { storeOptions: { refreshInterval: 0, batchSize: 1 } });
  await b.execute(() => 1);
  faulty.fault = "hang";
  for (let i = 0; i < 50; i++) assert.equal(await b.execute(() => i), i);
  faulty.heal();
  await b.flush();
});

test("shared: store faults never fail the user's call (1,000+ faulted calls per fault kind)", async () => {
  for (const fault of ["throw", "reject-sync", "hang", "slow", "corrupt", "lock"] as const) {
    const clock = new FakeClock();
    const faulty = new FaultyStore(new MemoryStore({ clock }), 10_000);
    const statuses: StoreStatusEvent[] = [];
    const log = recordingLogger();
    const [b] = fleet(1, faulty, clock, {
      failureThreshold: 1_000_000,
      logger: log,
      onStoreStatus: (e: StoreStatusEvent) => statuses.push(e),
      storeOptions: { timeout: 50, refreshInterval: 0, batchSize: 1, retryInterval: 100 },
    });
    faulty.fault = fault;
    const results: unknown[] = [];
    const own = new Error("user's own error");
    for (let chunk = 0; chunk < 10; chunk++) {
      const ps = Array.from({ length: 100 }, (_, j) => {
        const i = chunk * 100 + j;
        return b.execute(() => (i % 3 === 0 ? Promise.reject(own) : i)).then((v) => v, (e) => e);
      });
      if (fault === "hang" || fault === "slow") await clock.tickAsync(60);
      results.push(...await Promise.all(ps));
      clock.tick(150); // past retryInterval: the store is tried again, and fails again
    }
    for (let i = 0; i < 1000; i++) {
      assert.equal(results[i], i % 3 === 0 ? own : i, `${fault} #${i}`);
    }
    // Logged once per outage, not per call; an event says so.
    assert.equal(log.lines.filter((l) => l.includes("state store unavailable")).length, 1, fault);
    assert.deepEqual(statuses.map((s) => s.available), [false], fault);
    assert.equal(b.getStats().storeAvailable, false, fault);
    // It recovers by itself.
    faulty.heal();
    clock.tick(200);
    await b.execute(() => "after");
    await clock.tickAsync(60);
    await b.flush();
    await b.execute(() => "after");
    await b.flush();
    assert.equal(statuses.at(-1)?.available, true, `${fault} recovers`);
    assert.equal(b.getStats().storeAvailable, true, fault);
    assert.ok(log.lines.some((l) => l.includes("state store available again")), fault);
  }
});

test("shared: while the store is down the local breaker protects (from the last shared state)", async () => {
  const clock = new FakeClock();
  const faulty = new FaultyStore(new MemoryStore({ clock }));
  const [b] = fleet(1, faulty, clock, {
    failureThreshold: 2,
    storeOptions: { refreshInterval: 0, batchSize: 1, retryInterval: 60_000 },
  });
  await b.execute(() => 1);
  faulty.fault = "throw";
  await assert.rejects(b.execute(boom), /boom/); // the report fails: store down
  await b.flush();
  assert.equal(b.getStats().storeAvailable, false);
  // Its own failure counted at once, though its report was lost: one more opens it.
  await assert.rejects(b.execute(boom), /boom/);
  await assert.rejects(b.execute(() => 1), CircuitOpenError); // local breaker opened
});

test("shared: whenUnavailable 'allow' and 'reject'", async () => {
  for (const mode of ["allow", "reject"] as const) {
    const clock = new FakeClock();
    const faulty = new FaultyStore(new MemoryStore({ clock }));
    faulty.fault = "throw";
    const [b] = fleet(1, faulty, clock, { storeOptions: { whenUnavailable: mode } });
    if (mode === "allow") assert.equal(await b.execute(() => 7), 7);
    else await assert.rejects(b.execute(() => 7), CircuitOpenError);
  }
});

test("shared: transitions seen in the store are logged and emitted on every instance", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  clearCircuitBreakers();
  const log = recordingLogger();
  const events: string[] = [];
  const mk = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "svc",
      store,
      clock,
      logger: log,
      failureThreshold: 1,
      resetTimeout: 100,
      halfOpenMaxCalls: 1,
      onStateChange: (e) => events.push(`${name}:${e.from}>${e.to}`),
      storeOptions: { refreshInterval: 0 },
    });
  const a = mk("a");
  const b = mk("b");
  await b.execute(() => 1);
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.execute(() => 1).catch(() => {});
  await b.flush();
  assert.ok(events.includes("a:closed>open"), events.join());
  assert.ok(events.includes("b:closed>open"), events.join());
  assert.ok(log.lines.some((l) => l.includes("OPEN after")));
});

test("store protocol: applyOutcomes ignores other generations; permits are bounded and expire", () => {
  let s = initialSharedState();
  s = applyOutcomes(s, [{ ok: false, generation: 0 }, { ok: false, generation: 7 }], CFG, 0);
  assert.equal(s.failures, 1);
  s = applyOutcomes(s, [{ ok: false, generation: 0 }, { ok: false, generation: 0 }], CFG, 10);
  assert.equal(s.state, "open");
  assert.equal(s.openedAt, 10);
  assert.equal(acquirePermit(s, CFG, 500).granted, false);
  let r = acquirePermit(s, CFG, 1010);
  assert.equal(r.granted, true);
  assert.equal(r.state.state, "half_open");
  r = acquirePermit(r.state, CFG, 1011);
  assert.equal(r.granted, true);
  assert.equal(acquirePermit(r.state, CFG, 1012).granted, false);
  // A crashed isolate's permits are reclaimed resetTimeout after they were granted (inclusive).
  assert.equal(acquirePermit(r.state, CFG, 1010 + CFG.resetTimeout - 1).granted, false);
  assert.equal(acquirePermit(r.state, CFG, 1010 + CFG.resetTimeout).granted, true);
});

test("store protocol: applyOutcomes matches the local breaker semantics (property)", () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { maxLength: 50 }), (oks) => {
      let s = initialSharedState();
      let consecutive = 0;
      for (const ok of oks) {
        if (s.state !== "closed") break;
        s = applyOutcomes(s, [{ ok, generation: s.generation }], CFG, 0);
        consecutive = ok ? 0 : consecutive + 1;
        assert.equal(s.state, consecutive >= CFG.failureThreshold ? "open" : "closed");
      }
    }),
    { numRuns: FC_RUNS },
  );
});

test("store data is validated; keys are namespaced and bounded", () => {
  assert.throws(() => parseSharedState(null), TypeError);
  assert.throws(() => parseSharedState({ ...initialSharedState(), state: "weird" }), TypeError);
  assert.throws(() => parseSharedState({ ...initialSharedState(), generation: -1 }), TypeError);
  assert.throws(() => parseSharedState({ ...initialSharedState(), permits: [NaN] }), TypeError);
  assert.deepEqual(
    parseSharedState(JSON.parse(JSON.stringify(initialSharedState()))),
    initialSharedState(),
  );
  assert.equal(storeKey("cb:", "a/b:c"), "cb:a%2Fb%3Ac");
  assert.throws(() => storeKey("cb:", ""), TypeError);
  assert.throws(() => storeKey("cb:", "x".repeat(600)), RangeError);
});

test("store options are validated at construction", () => {
  clearCircuitBreakers();
  const store = new MemoryStore();
  assert.throws(() => circuitBreaker({ store }), /'storeKey'/);
  assert.throws(() => circuitBreaker({ name: "x", store: {} as never }), /'store'/);
  assert.throws(
    () => circuitBreaker({ name: "y", store, storeOptions: { timeout: 0 } }),
    RangeError,
  );
  assert.throws(
    () => circuitBreaker({ name: "z", store, storeOptions: { whenUnavailable: "maybe" as never } }),
    /whenUnavailable/,
  );
});

test("shared: an outage while the shared circuit is due to half-open continues with local trials", async () => {
  const clock = new FakeClock();
  const faulty = new FaultyStore(new MemoryStore({ clock }));
  const [b] = fleet(1, faulty, clock, {
    failureThreshold: 1,
    halfOpenMaxCalls: 1,
    storeOptions: { refreshInterval: 0, batchSize: 1, retryInterval: 60_000 },
  });
  await assert.rejects(b.execute(boom));
  await b.flush(); // the shared circuit is OPEN
  clock.tick(CFG.resetTimeout); // and now due for a trial
  faulty.fault = "throw"; // ...when the store goes down
  const release: (() => void)[] = [];
  let admitted = 0;
  const calls = Array.from({ length: 10 }, () =>
    b.execute(() => {
      admitted++;
      return new Promise<void>((r) => release.push(r));
    }).catch((e) => e));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(admitted, 1); // one local trial, not everything
  for (const r of release) r();
  const results = await Promise.all(calls);
  assert.equal(results.filter((r) => r instanceof CircuitOpenError).length, 9);
});

test("sharedStore: validates and links a custom store (returns the same object)", async () => {
  const impl = {
    kind: "authoritative" as const,
    states: new Map<string, unknown>(),
    run(key: string, op: StoreOp) {
      const r = applyOp(this.states.get(key), op, 0);
      if (r.write) this.states.set(key, r.value);
      return Promise.resolve(r.answer);
    },
  };
  clearCircuitBreakers();
  assert.throws(() => circuitBreaker({ name: "raw", store: impl }), /sharedStore/);
  assert.equal(sharedStore(impl), impl);
  const b = circuitBreaker({ name: "custom", store: impl, failureThreshold: 1, logger: silent });
  await assert.rejects(b.execute(boom));
  await b.flush();
  assert.equal(parseSharedState(impl.states.get("cb:custom")).state, "open");
  assert.throws(() => sharedStore({ kind: "advisory", run: impl.run } as never), TypeError);
  assert.throws(() => sharedStore({ kind: "authoritative" } as never), TypeError);
  assert.throws(() => sharedStore({ kind: "sometimes" } as never), TypeError);
});

test("store keys that cannot fit the store are refused when the breaker is built (per store)", async () => {
  clearCircuitBreakers();
  const kv = workersKvStore({ get: () => Promise.resolve(null), put: () => Promise.resolve() });
  const objects = durableObjectStore({
    idFromName: (n: string) => n,
    get: () => ({ run: () => Promise.reject(new Error("unused")) }),
  } as never);
  // Workers KV and Durable Objects: 512 bytes, counted with their prefix "er:", the namespace
  // "cb:" and URI-encoding.
  circuitBreaker({ name: "kv-fits", storeKey: "k".repeat(506), store: kv });
  for (const store of [kv, objects]) {
    assert.throws(
      () => circuitBreaker({ name: "too-long", storeKey: "k".repeat(507), store }),
      (e) =>
        e instanceof RangeError && /option 'storeKey'/.test(e.message) &&
        /limit is 512 bytes/.test(e.message),
    );
  }
  // Encoding counts: "/" becomes "%2F" (3 bytes), "é" 6 bytes.
  assert.throws(() => circuitBreaker({ name: "/".repeat(170), store: kv }), /option 'name'/);
  assert.throws(() => circuitBreaker({ name: "é".repeat(85), store: kv }), RangeError);
  // Every store: the library's own bound of 512 bytes ("cb:" + the encoded name).
  const mem = new MemoryStore();
  const b = circuitBreaker({ name: "m", storeKey: "k".repeat(509), store: mem });
  assert.equal(await b.execute(() => 1), 1);
  await b.flush();
  assert.equal(b.getStats().storeAvailable, true);
  assert.throws(
    () => circuitBreaker({ name: "m2", storeKey: "k".repeat(510), store: mem }),
    (e) => e instanceof RangeError && /option 'storeKey'/.test(e.message),
  );
});

const YEAR = 365 * 86_400_000;

test("shared: a future-dated openedAt keeps the circuit OPEN at most resetTimeout + skew allowance (1,000 calls)", async () => {
  const clock = new FakeClock();
  const entries = new Map<string, unknown>();
  const store = new MemoryStore({ clock, entries });
  // Clock skew or corruption: opened "a year from now".
  entries.set("cb:api", {
    ...initialSharedState(),
    state: "open",
    generation: 1,
    openedAt: clock.wallNow() + YEAR,
  });
  const [a, b] = fleet(2, store, clock, {
    failureThreshold: 1_000_000,
    storeOptions: { refreshInterval: 0 },
  });
  const limit = CFG.resetTimeout + skewAllowance(CFG.resetTimeout);
  assert.equal(limit, 2000);
  const t0 = clock.now();
  let lastRejected = -1;
  let ran = 0;
  for (let i = 0; i < 1000; i++) {
    const r = await (i % 2 ? a : b).execute(() => (ran++, i)).catch((e) => e);
    if (r instanceof CircuitOpenError) {
      lastRejected = clock.now() - t0;
      assert.ok(r.timeUntilReset <= limit, `told to wait ${r.timeUntilReset} ms`);
    } else assert.equal(r, i); // never a store error
    clock.tick(5);
  }
  assert.ok(lastRejected >= CFG.resetTimeout, `open for ${lastRejected} ms only`);
  assert.ok(lastRejected <= limit, `still open after ${lastRejected} ms`);
  assert.ok(ran >= 500, `${ran} calls ran`);
  await a.flush();
  await b.flush();
  assert.equal(parseSharedState(entries.get("cb:api")).state, "closed");
});

test("store protocol: every time read from a store is bounded by the breaker's own config", () => {
  const cfg = { ...CFG };
  const s = {
    ...initialSharedState(),
    state: "half_open" as const,
    openedAt: 9e15,
    permits: [9e15],
  };
  const b = boundSharedState(s, cfg, 10_000);
  assert.equal(b.openedAt, 10_000 + skewAllowance(cfg.resetTimeout));
  assert.deepEqual(b.permits, [10_000 + 1000 + skewAllowance(cfg.resetTimeout)]);
  assert.equal(skewAllowance(60_000), 5000); // at most 5 s
  // A wild permit blocks trials no longer than resetTimeout + allowance from when a store saw it.
  const one = { ...cfg, halfOpenMaxCalls: 1 };
  const r = acquirePermit(s, one, 10_000);
  assert.equal(r.granted, false);
  assert.equal(acquirePermit(r.state, one, 11_999).granted, false);
  assert.equal(acquirePermit(r.state, one, 12_000).granted, true);
});

test("shared: a trial that never reports blocks other instances' trials no longer than resetTimeout", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const [a, b] = fleet(2, store, clock, {
    failureThreshold: 1,
    halfOpenMaxCalls: 1,
    storeOptions: { refreshInterval: 0 },
  });
  await assert.rejects(a.execute(boom));
  await a.flush();
  clock.tick(CFG.resetTimeout);
  let hung!: () => void;
  const stuck = a.execute(() => new Promise<void>((r) => (hung = r))); // the trial hangs
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(hung, "a's trial runs");
  await assert.rejects(b.execute(() => 1), CircuitOpenError); // the permit is taken
  clock.tick(CFG.resetTimeout + 1);
  assert.equal(await b.execute(() => "b's trial"), "b's trial"); // a's permit expired
  await b.flush();
  hung();
  await stuck;
  await a.flush();
});

test("one rule for a hung trial: storeOptions.permitTtl is gone (a permit lasts resetTimeout, with or without a store)", () => {
  clearCircuitBreakers();
  const store = new MemoryStore();
  assert.throws(
    () => circuitBreaker({ name: "ttl", store, storeOptions: { permitTtl: 1000 } as never }),
    (e) => e instanceof TypeError && /permitTtl/.test(e.message),
  );
});

test("shared: a corrupt entry is repaired (logged once) and every instance is back on the shared circuit", async () => {
  const clock = new FakeClock();
  const entries = new Map<string, unknown>([["cb:api", { state: "sideways", generation: -1 }]]);
  const store = new MemoryStore({ clock, entries });
  const log = recordingLogger();
  const statuses: StoreStatusEvent[] = [];
  const bs = fleet(3, store, clock, {
    logger: log,
    onStoreStatus: (e: StoreStatusEvent) => statuses.push(e),
    storeOptions: { refreshInterval: 0 },
  });
  for (const b of bs) {
    await assert.rejects(b.execute(boom), /boom/);
    await b.flush();
  }
  const repairs = log.lines.filter((l) => l.includes("was unreadable"));
  assert.equal(repairs.length, 1, log.lines.join("\n"));
  assert.match(repairs[0], /replaced by a fresh CLOSED state/);
  assert.deepEqual(statuses, []); // not an outage
  // One failure from each instance: the shared threshold (3) is reached, for all of them.
  assert.equal(parseSharedState(entries.get("cb:api")).state, "open");
  for (const b of bs) await b.flush();
  for (const b of bs) await assert.rejects(b.execute(() => 1), CircuitOpenError);
  assert.equal(parseSharedState(entries.get("cb:api")).repaired, undefined); // never stored
});

test("shared: adopting OPEN from the store says why, not 'OPEN after 0 failures'", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  clearCircuitBreakers();
  const logs = { a: recordingLogger(), b: recordingLogger() };
  const mk = (name: "a" | "b") =>
    circuitBreaker({
      name,
      storeKey: "svc",
      store,
      clock,
      logger: logs[name],
      failureThreshold: 1,
      resetTimeout: 100,
      halfOpenMaxCalls: 1,
      storeOptions: { refreshInterval: 0 },
    });
  const a = mk("a");
  const b = mk("b");
  assert.equal(await b.execute(() => 1), 1); // b's view: CLOSED
  await b.flush();
  await assert.rejects(a.execute(boom)); // a opens it...
  await a.flush();
  clock.tick(100);
  await assert.rejects(a.execute(boom)); // ...and its trial fails: OPEN again, 0 failures counted
  await a.flush();
  await b.execute(() => 1).catch(() => {}); // b refreshes: CLOSED -> OPEN
  await b.flush();
  assert.ok(logs.a.lines.some((l) => l.includes("'a' OPEN after 1 failure")), logs.a.lines.join());
  assert.ok(
    logs.b.lines.some((l) => l.includes("'b' OPEN after a failed trial call (shared circuit)")),
    logs.b.lines.join("\n"),
  );
  assert.ok(!logs.b.lines.some((l) => l.includes("0 failures")), logs.b.lines.join("\n"));
});

test("shared: a trial reporting after its permit expired cannot free a permit another trial holds", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const [a, c, d, e] = fleet(4, store, clock, {
    failureThreshold: 1,
    storeOptions: { refreshInterval: 0 },
  });
  await assert.rejects(a.execute(boom));
  await a.flush();
  clock.tick(CFG.resetTimeout);
  const release: (() => void)[] = [];
  const hang = () => new Promise<string>((r) => release.push(() => r("late")));
  const late = a.execute(hang); // a's trial hangs past its permit's TTL
  await new Promise((r) => setTimeout(r, 0));
  clock.tick(CFG.resetTimeout); // a's permit expired: two fresh trials elsewhere
  const running = [c.execute(hang), d.execute(hang)];
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(release.length, 3);
  release[0](); // a's trial finally reports
  assert.equal(await late, "late");
  await a.flush();
  // c's and d's trials still run: no third concurrent trial.
  let ran = false;
  await assert.rejects(e.execute(() => (ran = true)), CircuitOpenError);
  assert.equal(ran, false);
  for (const r of release.slice(1)) r();
  await Promise.all(running);
  for (const b of [a, c, d, e]) await b.flush();
});

test("store protocol: live trials never exceed halfOpenMaxCalls, whatever reports late (property)", () => {
  const cfg = { failureThreshold: 1, resetTimeout: 100, halfOpenMaxCalls: 2 };
  const op = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("acquire" as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("report" as const),
        pick: fc.nat(),
        ok: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("tick" as const),
        ms: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 90, max: 150 })),
      }),
    },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      let now = 1000;
      let s = applyOutcomes(initialSharedState(), [{ ok: false, generation: 0 }], cfg, now);
      // Trials granted and not yet reported: permit id, expiry (the model's own) and generation.
      const out: { id: number | undefined; expiry: number; generation: number }[] = [];
      for (const o of ops) {
        if (o.kind === "tick") now += o.ms;
        else if (o.kind === "acquire") {
          const r = acquirePermit(s, cfg, now);
          s = r.state;
          if (r.granted && s.state === "half_open") {
            out.push({ id: r.permit, expiry: now + cfg.resetTimeout, generation: s.generation });
            const live = out.filter((t) => t.generation === s.generation && t.expiry > now);
            assert.ok(live.length <= cfg.halfOpenMaxCalls, `${live.length} live trials`);
          }
        } else if (out.length) {
          const [t] = out.splice(o.pick % out.length, 1);
          s = applyOutcomes(
            s,
            [{
              ok: o.ok,
              generation: t.generation,
              permit: true,
              permitId: t.id,
            }],
            cfg,
            now,
          );
        }
      }
    }),
    { numRuns: FC_RUNS },
  );
});

test("shared: a hanging store costs one pending operation, not one per call (reports coalesce)", async () => {
  const clock = new FakeClock();
  const faulty = new FaultyStore(new MemoryStore({ clock }));
  const store = new CountingStore(faulty);
  const [b] = fleet(1, store, clock, {
    failureThreshold: 1_000_000,
    storeOptions: { timeout: 50, batchSize: 1, retryInterval: 60_000 },
  });
  await b.execute(() => 0);
  await b.flush();
  const before = store.total;
  faulty.fault = "hang";
  // 1,000 calls admitted while the store still looked fine; every one wants to report.
  const own = new Error("mine");
  const results = await Promise.all(
    Array.from(
      { length: 1000 },
      (_, i) => b.execute(() => (i % 2 ? i : Promise.reject(own))).catch((e) => e),
    ),
  );
  results.forEach((r, i) => assert.equal(r, i % 2 ? i : own));
  for (let i = 0; i < 20; i++) await clock.tickAsync(50);
  await b.flush();
  // The send in flight and the one queued behind it (which carries the other 999 outcomes).
  assert.ok(store.total - before <= 2, `${store.total - before} store operations`);
  assert.equal(b.getStats().storeAvailable, false);
  faulty.heal();
});
