// What mutation testing of src/circuit_breaker/link.ts found untested: what
// a shared breaker sends the store for each outcome (flags, permit ids, when
// it flushes), a caller that gave up taking no permit, a trial granted by the
// store counting in the stats, and a denial's answer.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  initialSharedState,
  MemoryStore,
  type Outcome,
  type SharedStore,
  sharedStore,
  type StoreOp,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, recordingLogger, silent, test } from "./_harness.ts";
import { FaultyStore } from "./_stores.ts";

/** A MemoryStore that records every operation it runs. */
class RecordingStore implements SharedStore {
  readonly kind = "authoritative" as const;
  readonly ops: StoreOp[] = [];
  readonly inner: MemoryStore;
  constructor(clock: FakeClock) {
    this.inner = new MemoryStore({ clock });
    sharedStore(this);
  }
  run(key: string, op: StoreOp): Promise<unknown> {
    this.ops.push(op);
    return this.inner.run(key, op);
  }
  /** The outcomes sent so far, in order. */
  get outcomes(): Outcome[] {
    return this.ops.flatMap((o) => o.type === "circuit" && o.action === "sync" ? o.outcomes : []);
  }
  count(action: string): number {
    return this.ops.filter((o) => o.type === "circuit" && o.action === action).length;
  }
}

function setup(extra: Record<string, unknown> = {}) {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new RecordingStore(clock);
  const make = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "svc",
      store,
      clock,
      logger: silent,
      failureThreshold: 1,
      resetTimeout: 1_000,
      halfOpenMaxCalls: 1,
      storeOptions: { batchSize: 3, refreshInterval: 60_000 },
      ...extra,
    });
  return { clock, store, make };
}

const boom = () => Promise.reject(new Error("boom"));

test("link: successes go in batches of batchSize, a failure at once; neutral CLOSED calls are not sent", async () => {
  const { clock, store, make } = setup({
    failureThreshold: 100,
    slowCallDuration: 50,
    slowCallRateThreshold: 1,
    windowCalls: 100,
    minimumThroughput: 100,
    isFailure: (e: unknown) => (e as Error).message !== "excluded",
  });
  const b = make("a");
  await b.execute(() => 1); // the first read
  await b.flush();
  const sent = store.outcomes.length;
  assert.equal(sent, 1);
  await b.execute(() => 1);
  await b.execute(() => 1);
  await Promise.resolve();
  assert.equal(store.outcomes.length, sent, "2 of 3: still pending");
  const slow = b.execute(() => new Promise<void>((r) => clock.setTimeout(() => r(), 60)));
  await clock.tickAsync(60);
  await slow;
  await b.flush();
  assert.equal(store.outcomes.length, sent + 3, "the third sent the batch");
  assert.deepEqual(store.outcomes.slice(-3).map((o) => [o.ok, o.slow, o.neutral]), [
    [true, undefined, undefined],
    [true, undefined, undefined],
    [true, true, undefined],
  ]);
  // An excluded error counts nothing, and is not sent.
  await assert.rejects(b.execute(() => Promise.reject(new Error("excluded"))));
  await b.flush();
  assert.equal(store.outcomes.length, sent + 3);
  // A failure is sent at once, on its own.
  const syncs = store.count("sync");
  await assert.rejects(b.execute(boom));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(store.count("sync"), syncs + 1, "sent without waiting for a batch");
  await b.flush();
  const f = store.outcomes.at(-1)!;
  assert.equal(f.ok, false);
  assert.equal(f.permit, undefined);
  assert.equal(f.generation, 0);
  assert.equal(typeof f.at, "number");
});

test("link: a trial is sent at once with its permit id; a neutral trial gives its permit back", async () => {
  const { clock, store, make } = setup({
    isFailure: (e: unknown) => (e as Error).message !== "excluded",
  });
  const b = make("a");
  await assert.rejects(b.execute(boom));
  await b.flush();
  assert.equal(b.state, "open");
  clock.tick(1_000);
  const calls = b.getStats().totalCalls;
  const expiry = clock.wallNow() + 1_000;
  await assert.rejects(b.execute(() => Promise.reject(new Error("excluded"))));
  assert.equal(b.getStats().totalCalls, calls + 1, "a trial the store granted counts as a call");
  await b.flush();
  const neutral = store.outcomes.at(-1)!;
  assert.equal(neutral.permit, true);
  assert.equal(neutral.neutral, true);
  assert.equal(neutral.ok, true);
  assert.equal(typeof neutral.permitId, "number");
  assert.equal(neutral.permitId, expiry, "expires resetTimeout after it was granted");
  assert.equal(neutral.generation, 2);
  // The permit is back: the next trial is granted, and its success closes the circuit.
  assert.equal(await b.execute(() => "ok"), "ok");
  await b.flush();
  const ok = store.outcomes.at(-1)!;
  assert.deepEqual([ok.ok, ok.permit, ok.neutral], [true, true, undefined]);
  assert.equal(b.state, "closed");
});

test("link: a caller that already gave up takes no permit from the store", async () => {
  const { clock, store, make } = setup();
  const b = make("a");
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  const ac = new AbortController();
  const reason = new Error("gone");
  ac.abort(reason);
  let ran = false;
  await assert.rejects(b.execute(() => (ran = true), ac.signal), (e) => e === reason);
  assert.equal(ran, false);
  assert.equal(store.count("acquire"), 0);
  assert.equal(await b.execute(() => 5), 5, "the permit is still there for the next caller");
  assert.equal(store.count("acquire"), 1);
});

test("link: while another instance's trial holds the permit, calls are refused with the half-open state", async () => {
  const { clock, store, make } = setup();
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  assert.equal(b.state, "open");
  clock.tick(1_000);
  const hang = deferred<string>();
  const trial = a.execute(() => hang.promise);
  await Promise.resolve();
  await a.flush();
  const refused = await b.execute(() => "no").catch((e) => e);
  assert.ok(refused instanceof CircuitOpenError);
  assert.equal(refused.state, "half_open");
  assert.equal(refused.timeUntilReset, 0);
  const acquires = store.count("acquire");
  // Its own copy now knows the permit is taken: refused without asking the store.
  assert.ok((await b.execute(() => "no").catch((e) => e)) instanceof CircuitOpenError);
  assert.equal(store.count("acquire"), acquires);
  assert.equal(b.getStats().totalCalls, 0);
  hang.resolve("done");
  assert.equal(await trial, "done");
  await a.flush();
  await b.flush();
  assert.equal(b.state, "closed");
});

test("link: callers queued behind a denied permit request are denied without asking again", async () => {
  const { clock, store, make } = setup();
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  const hang = deferred<string>();
  const trial = a.execute(() => hang.promise);
  await a.flush();
  // b has not seen a's permit: its first caller asks the store, the others wait behind it.
  const before = store.count("acquire");
  const results = await Promise.all([1, 2, 3].map(() => b.execute(() => "no").catch((e) => e)));
  for (const r of results) assert.ok(r instanceof CircuitOpenError);
  assert.equal(store.count("acquire"), before + 1, "one request for the three callers");
  hang.resolve("done");
  await trial;
  await a.flush();
});

test("link: the store granting a call without a permit (CLOSED there) runs it as a CLOSED call", async () => {
  const { clock, store, make } = setup();
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  assert.equal(b.state, "open");
  a.reset(); // b does not know yet (its refreshInterval is a minute)
  await a.flush();
  clock.tick(1_000);
  const calls = b.getStats().totalCalls;
  assert.equal(await b.execute(() => "ran"), "ran");
  assert.equal(b.getStats().totalCalls, calls + 1);
  assert.equal(b.state, "closed", "adopted from the store's answer");
  await b.flush();
  const o = store.outcomes.at(-1)!;
  assert.equal(o.permit, undefined, "reported as a CLOSED call");
  assert.equal(o.ok, true);
});

test("link: a malformed permit answer is a store fault: the replica decides, the outage is said", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const answers: unknown[] = [{ granted: "yes", state: initialSharedState() }];
  const store = sharedStore({
    kind: "authoritative" as const,
    run(key: string, op: StoreOp) {
      if (op.type === "circuit" && op.action === "acquire" && answers.length) {
        return Promise.resolve(answers.shift());
      }
      return inner.run(key, op);
    },
  });
  const status: boolean[] = [];
  const b = circuitBreaker({
    name: "m",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    onStoreStatus: (e) => void status.push(e.available),
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  assert.equal(await b.execute(() => "local trial"), "local trial");
  assert.deepEqual(status, [false]);
  assert.equal(b.state, "closed", "the replica's own trial closed it");
});

test("link: an instance whose own trial holds the last permit refuses without asking the store", async () => {
  const { clock, store, make } = setup();
  const a = make("a");
  await assert.rejects(a.execute(boom));
  await a.flush();
  clock.tick(1_000);
  const hang = deferred<string>();
  const trial = a.execute(() => hang.promise);
  await a.flush();
  const acquires = store.count("acquire");
  assert.equal(acquires, 1);
  assert.ok((await a.execute(() => "no").catch((e) => e)) instanceof CircuitOpenError);
  assert.equal(store.count("acquire"), acquires, "its own copy knows");
  hang.resolve("done");
  await trial;
  await a.flush();
});

test("link: a denial answers new callers until refreshInterval has passed since it", async () => {
  const { clock, store, make } = setup({ storeOptions: { batchSize: 3, refreshInterval: 2_000 } });
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  const hang = deferred<string>();
  const trial = a.execute(() => hang.promise); // holds the permit until +1,000 ms
  await a.flush();
  assert.ok((await b.execute(() => "no").catch((e) => e)) instanceof CircuitOpenError);
  const acquires = store.count("acquire");
  clock.tick(1_000); // a's permit has expired, in b's copy too; b's denial is 1,000 ms old
  assert.ok((await b.execute(() => "no").catch((e) => e)) instanceof CircuitOpenError);
  assert.equal(store.count("acquire"), acquires, "the denial answered");
  clock.tick(1_000); // exactly refreshInterval after the denial: asked again, and granted
  assert.equal(await b.execute(() => "yes"), "yes");
  assert.equal(store.count("acquire"), acquires + 1);
  hang.resolve("late");
  await trial;
  await a.flush();
  await b.flush();
});

test("link: a null permit answer is a fault said as a malformed permit answer; a permit id must be a finite number", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const answers: unknown[] = [null];
  const sent: Outcome[] = [];
  const store = sharedStore({
    kind: "authoritative" as const,
    async run(key: string, op: StoreOp) {
      if (op.type === "circuit" && op.action === "sync") sent.push(...op.outcomes);
      if (op.type === "circuit" && op.action === "acquire" && answers.length) {
        const a = answers.shift();
        if (a !== "string" && a !== "infinite") return a;
        const r = await inner.run(key, op) as { permit: number };
        return { ...r, permit: a === "string" ? String(r.permit) : Infinity };
      }
      return inner.run(key, op);
    },
  });
  const logger = recordingLogger();
  const b = circuitBreaker({
    name: "m2",
    store,
    clock,
    logger,
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    storeOptions: { retryInterval: 1 },
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  assert.equal(await b.execute(() => "local"), "local");
  assert.ok(
    logger.lines.some((l) =>
      l.includes("state store unavailable (TypeError: malformed permit answer)")
    ),
    logger.lines.join("\n"),
  );
  // Back up; OPEN again; the store grants a trial but names its permit with a string: no id sent.
  await assert.rejects(b.execute(boom));
  clock.tick(10);
  await b.flush();
  await b.execute(() => 1).catch(() => {});
  await b.flush();
  clock.tick(1_000);
  answers.push("string");
  await b.execute(() => "trial").catch(() => {});
  await b.flush();
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(5_000);
  answers.push("infinite");
  await b.execute(() => "trial").catch(() => {});
  await b.flush();
  for (const o of sent) {
    assert.ok(o.permitId === undefined || Number.isFinite(o.permitId), JSON.stringify(o));
  }
});

test("link: while the store is down, 'allow' runs every call, even with the circuit OPEN", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const faulty = new FaultyStore(new MemoryStore({ clock }));
  const b = circuitBreaker({
    name: "allow",
    store: faulty,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 60_000,
    storeOptions: { whenUnavailable: "allow", retryInterval: 60_000 },
  });
  await assert.rejects(b.execute(boom));
  await b.flush();
  assert.equal(b.state, "open");
  faulty.fault = "throw";
  await b.flush();
  assert.equal(await b.execute(() => "ran"), "ran");
  await assert.rejects(
    b.execute(() => {
      throw new Error("sync");
    }),
    { message: "sync" },
  );
});

test("link: outcomes of calls made while the store was down are never sent", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const faulty = new FaultyStore(inner);
  const sent: Outcome[] = [];
  const spy = sharedStore({
    kind: "authoritative" as const,
    run(key: string, op: StoreOp) {
      if (op.type === "circuit" && op.action === "sync") sent.push(...op.outcomes);
      return faulty.run(key, op);
    },
  });
  const b = circuitBreaker({
    name: "down",
    store: spy,
    clock,
    logger: silent,
    failureThreshold: 100,
    storeOptions: { batchSize: 1, retryInterval: 1_000 },
  });
  await b.execute(() => 1);
  await b.flush();
  faulty.fault = "throw";
  await b.execute(() => 1);
  await b.flush(); // the store fails: down
  sent.length = 0;
  for (let i = 0; i < 5; i++) await assert.rejects(b.execute(boom));
  faulty.heal();
  clock.tick(1_000);
  await b.execute(() => 2); // the probe
  await b.flush();
  await b.flush();
  assert.equal(sent.filter((o) => o.ok === false).length, 0, JSON.stringify(sent));
});

test("link: a caller that gives up while the first store read is under way never runs", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const gate = deferred();
  const store = sharedStore({
    kind: "authoritative" as const,
    async run(key: string, op: StoreOp) {
      await gate.promise;
      return inner.run(key, op);
    },
  });
  const b = circuitBreaker({ name: "first", store, clock, logger: silent });
  const ac = new AbortController();
  let ran = false;
  const call = b.execute(() => (ran = true), ac.signal);
  await Promise.resolve();
  const reason = new Error("gave up");
  ac.abort(reason);
  gate.resolve();
  await assert.rejects(call, (e) => e === reason);
  assert.equal(ran, false);
  assert.equal(b.getStats().totalCalls, 0);
});

test("link: an advisory store is never asked for permits nor sent outcomes", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  let reads = 0;
  const status: boolean[] = [];
  const store = sharedStore({
    kind: "advisory" as const,
    read: () => {
      reads++;
      return Promise.resolve(undefined);
    },
    publish: () => Promise.resolve(),
  });
  const b = circuitBreaker({
    name: "adv",
    store,
    clock,
    logger: silent,
    failureThreshold: 2,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    storeOptions: { refreshInterval: 60_000 },
    onStoreStatus: (e) => void status.push(e.available),
  });
  await b.execute(() => 1);
  await b.flush();
  const r = reads;
  await assert.rejects(b.execute(boom));
  await assert.rejects(b.execute(boom));
  assert.equal(reads, r, "failures are not sent (no read either)");
  assert.equal(b.state, "open");
  clock.tick(1_000);
  assert.equal(await b.execute(() => "trial"), "trial", "a local trial");
  assert.equal(b.state, "closed");
  assert.deepEqual(status, [], "no outage");
});

test("link: with refreshInterval 0, callers queued behind a denial are still denied without asking", async () => {
  const { clock, store, make } = setup();
  const a = make("a");
  const b = circuitBreaker({
    name: "b",
    storeKey: "svc",
    store,
    clock,
    logger: silent,
    failureThreshold: 1,
    resetTimeout: 1_000,
    halfOpenMaxCalls: 1,
    storeOptions: { refreshInterval: 0 },
  });
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  // a's trial fails: the store reopens; b still sees the first OPEN, due now.
  await assert.rejects(a.execute(boom));
  await a.flush();
  const before = store.count("acquire");
  const results = await Promise.all([1, 2, 3].map(() => b.execute(() => "no").catch((e) => e)));
  for (const r of results) assert.ok(r instanceof CircuitOpenError);
  assert.equal(store.count("acquire"), before + 1, "one request for the three callers");
  await b.flush();
});

test("link: a granted permit does not deny the caller queued behind it", async () => {
  const { clock, store, make } = setup({ halfOpenMaxCalls: 2 });
  const a = make("a");
  await assert.rejects(a.execute(boom));
  await a.flush();
  clock.tick(1_000);
  const hang = deferred<string>();
  const calls = [a.execute(() => hang.promise), a.execute(() => hang.promise)];
  await a.flush();
  assert.equal(store.count("acquire"), 2, "both asked, both granted");
  hang.resolve("ok");
  assert.deepEqual(await Promise.all(calls), ["ok", "ok"]);
  await a.flush();
  assert.equal(a.state, "closed");
});

test("link: an instance whose copy is OPEN and due with every permit taken still asks the store (a trial may have ended since)", async () => {
  const { clock, make } = setup({ storeOptions: { batchSize: 3, refreshInterval: 60_000 } });
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  const hang = deferred<string>();
  const trial = a.execute(() => hang.promise); // the fleet's only permit
  await a.flush();
  // Held by hand, then released: OPEN and due at once, the trial's permit still counted.
  const release = a.isolate({ scope: "fleet" });
  await a.flush();
  release();
  await a.flush();
  await b.flush();
  assert.equal(b.state, "half_open", "due");
  hang.resolve("done"); // the trial ends: its permit is free in the store
  assert.equal(await trial, "done");
  await a.flush();
  assert.equal(await b.execute(() => "b's trial"), "b's trial");
  await b.flush();
  await a.flush();
});
