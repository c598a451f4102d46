// What mutation testing of src/circuit_breaker/link.ts (lines 125 to 463: the
// constructor, run and the startup gate, admission, the permit queue, the
// store being unavailable, reports and commands) found untested: the key
// checks when a shared breaker is built (which option an error names, which
// class it keeps); which callers queued behind a permit request are refused
// without asking (behind a denial, a CLOSED answer, a round of trials that
// ended); a permit given back for a caller that left (and nothing else given
// back); a denial cleared by a trial's end; reports sent before a permit
// request; an operator command's answer loaded.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  MemoryStore,
  type Outcome,
  sharedStore,
  type StoreOp,
} from "../mod.ts";
import { deferred, macrotask, silent, test } from "./_harness.ts";
import { FakeClock } from "../src/testing/mod.ts";

/** A MemoryStore whose checkKey refuses keys by `refuse` (the error it throws), recording. */
function keyed(refuse: (key: string) => Error | undefined) {
  const inner = new MemoryStore();
  const checked: string[] = [];
  const store = sharedStore({
    kind: "authoritative" as const,
    run: (key: string, op: StoreOp) => inner.run(key, op),
    checkKey(key: string) {
      checked.push(key);
      const e = refuse(key);
      if (e) throw e;
    },
  });
  return { store, checked };
}

test("link: a shared breaker's key is 'cb:' and its storeKey, else its name, checked by the store once", () => {
  clearCircuitBreakers();
  const { store, checked } = keyed(() => undefined);
  circuitBreaker({ name: "by name/1", store, logger: silent });
  circuitBreaker({ name: "named", storeKey: "the key", store, logger: silent });
  assert.deepEqual(checked, ["cb:by%20name%2F1", "cb:the%20key"]);
  // A store without checkKey is fine.
  assert.doesNotThrow(() => circuitBreaker({ store: new MemoryStore(), storeKey: "k" }));
});

test("link: a shared breaker needs a key: storeKey a non-empty string, or a name", () => {
  clearCircuitBreakers();
  const store = new MemoryStore();
  assert.throws(() => circuitBreaker({ store, storeKey: 5 as never, name: "n1" }), {
    name: "TypeError",
    message: "circuitBreaker: option 'storeKey' must be a non-empty string",
  });
  const required = {
    name: "TypeError",
    message: "circuitBreaker: option 'storeKey' (or 'name') is required with option 'store'",
  };
  assert.throws(() => circuitBreaker({ store }), required);
  assert.throws(() => circuitBreaker({ store, storeKey: "", name: "n2" }), required);
});

test("link: a key the store refuses is refused when the breaker is built, naming the option and keeping the error", () => {
  clearCircuitBreakers();
  const tooLong = new RangeError("key too long");
  const { store } = keyed((k) =>
    k.length > 8 ? tooLong : k === "cb:bad" ? new Error("no") : undefined
  );
  assert.throws(() => circuitBreaker({ name: "a-long-name", store }), {
    name: "RangeError",
    message:
      "circuitBreaker: option 'name' cannot be a key of this store: RangeError: key too long",
  });
  const e = (() => {
    try {
      circuitBreaker({ name: "n3", storeKey: "long-key", store });
    } catch (err) {
      return err;
    }
  })();
  assert.ok(e instanceof RangeError);
  assert.equal(
    (e as Error).message,
    "circuitBreaker: option 'storeKey' cannot be a key of this store: RangeError: key too long",
  );
  assert.equal((e as Error).cause, tooLong);
  // Any other error is a TypeError.
  assert.throws(() => circuitBreaker({ name: "n4", storeKey: "bad", store }), {
    name: "TypeError",
    message: "circuitBreaker: option 'storeKey' cannot be a key of this store: Error: no",
  });
  // The library's own limit (512 bytes) is a RangeError too.
  assert.throws(
    () => circuitBreaker({ name: "n5", storeKey: "k".repeat(600), store: new MemoryStore() }),
    (err: unknown) =>
      err instanceof RangeError && err.cause instanceof RangeError &&
      /^circuitBreaker: option 'storeKey' cannot be a key of this store: RangeError: store key 'cb:k/
        .test(err.message),
  );
  assert.throws(() => circuitBreaker({ name: "n6", store, storeOptions: { batchSize: 0 } }), {
    name: "RangeError",
  });
});

/** A MemoryStore that records every operation it runs. */
function recording(clock: FakeClock) {
  const inner = new MemoryStore({ clock });
  const ops: StoreOp[] = [];
  const store = sharedStore({
    kind: "authoritative" as const,
    run(key: string, op: StoreOp) {
      ops.push(op);
      return inner.run(key, op);
    },
  });
  const count = (action: string) =>
    ops.filter((o) => o.type === "circuit" && o.action === action).length;
  return { store, ops, count };
}

function fleet(extra: Record<string, unknown> = {}) {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const { store, ops, count } = recording(clock);
  const make = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "permits",
      store,
      clock,
      logger: silent,
      failureThreshold: 1,
      resetTimeout: 1_000,
      halfOpenMaxCalls: 2,
      storeOptions: { batchSize: 10, refreshInterval: 60_000 },
      ...extra,
    });
  return { clock, store, ops, count, make };
}

const boom = () => Promise.reject(new Error("boom"));

test("link: a trial of this instance ending clears its last denial: the next caller asks the store again", async () => {
  const { clock, count, make } = fleet();
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  const mine = deferred<string>();
  const bTrial = b.execute(() => mine.promise); // b's own trial: one of the two permits
  await b.flush();
  const theirs = deferred<string>();
  const aTrial = a.execute(() => theirs.promise); // a's: the other
  await a.flush();
  assert.equal(count("acquire"), 2);
  // b has not seen a's permit: it asks, and is denied (its denial answers for refreshInterval).
  assert.ok((await b.execute(() => "no").catch((e) => e)) instanceof CircuitOpenError);
  assert.equal(count("acquire"), 3);
  // b's trial ends: a permit is free again, and b's next caller asks (and is granted) at once.
  mine.resolve("b ok");
  assert.equal(await bTrial, "b ok");
  assert.equal(await b.execute(() => "again"), "again");
  assert.equal(count("acquire"), 4);
  theirs.resolve("a ok");
  await aTrial;
  await a.flush();
  await b.flush();
});

test("link: an operator command sends the wall time it was given at, and loads the store's answer", async () => {
  const { clock, ops, make } = fleet({ failureThreshold: 3 });
  const a = make("a");
  const b = make("b");
  await b.execute(() => 1);
  await b.flush();
  // a's two failures reach the store; b (refreshing once a minute) has not seen them.
  for (let i = 0; i < 2; i++) await assert.rejects(a.execute(boom));
  await a.flush();
  assert.equal(b.getStats().failureCount, 0);
  clock.tick(100);
  const at = clock.wallNow();
  const release = b.isolate({ scope: "fleet" });
  // No flush (which would read the store anyway): the command's own answer is loaded.
  for (let i = 0; i < 3; i++) await macrotask();
  const sent = ops.filter((o) => o.type === "circuit" && o.action === "command");
  assert.deepEqual(sent.map((o) => o.type === "circuit" && [o.command, o.at]), [["isolate", at]]);
  assert.equal(b.getStats().failureCount, 2, "the fleet's failures, from the command's answer");
  release();
  await b.flush();
  await a.flush();
});

test("link: a permit request goes after this instance's pending reports, and alone when none is pending", async () => {
  const { clock, ops, make } = fleet({ halfOpenMaxCalls: 1 });
  const b = make("b");
  await b.execute(() => 1);
  await b.flush();
  const slow = deferred<string>();
  const late = b.execute(() => slow.promise); // started CLOSED
  await assert.rejects(b.execute(boom)); // OPEN: the failure is sent at once
  await b.flush();
  slow.resolve("late");
  assert.equal(await late, "late"); // a success, batched: pending
  clock.tick(1_000);
  const from = ops.length;
  assert.equal(await b.execute(() => "trial"), "trial");
  const actions = () =>
    ops.slice(from).map((o) =>
      o.type === "circuit" ? `${o.action}${o.action === "sync" ? o.outcomes.length : ""}` : ""
    );
  assert.deepEqual(actions().slice(0, 2), ["sync1", "acquire"], "the late success first");
  await b.flush();
  // Nothing pending: the permit request goes alone.
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(5_000);
  const at = ops.length;
  assert.equal(await b.execute(() => "again"), "again");
  assert.equal(
    ops[at].type === "circuit" && ops[at].action,
    "acquire",
    JSON.stringify(ops.slice(at)),
  );
  await b.flush();
});

/**
 * A fleet on a store whose permit answers wait for `release()` while `hold` (`fail`: then
 * throws), or are decided at once and delivered on `release()` while `after`.
 */
function gatedFleet(halfOpenMaxCalls = 1, refreshInterval = 60_000) {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  const outcomes: Outcome[] = [];
  const g = { hold: false, after: false, fail: false, waiting: [] as (() => void)[] };
  const store = sharedStore({
    kind: "authoritative" as const,
    async run(key: string, op: StoreOp) {
      if (op.type === "circuit" && op.action === "sync") outcomes.push(...op.outcomes);
      if (op.type === "circuit" && op.action === "acquire" && g.after) {
        // Answered now, delivered on release.
        const answer = await inner.run(key, op);
        await new Promise<void>((r) => g.waiting.push(r));
        return answer;
      }
      if (op.type === "circuit" && op.action === "acquire" && g.hold) {
        await new Promise<void>((r) => g.waiting.push(r));
        if (g.fail) throw new Error("store down");
      }
      return inner.run(key, op);
    },
  });
  const release = async () => {
    for (const r of g.waiting.splice(0)) r();
    for (let i = 0; i < 3; i++) await macrotask();
  };
  const make = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "gated",
      store,
      clock,
      logger: silent,
      failureThreshold: 1,
      resetTimeout: 1_000,
      halfOpenMaxCalls,
      storeOptions: { batchSize: 10, refreshInterval, timeout: 60_000 },
    });
  return { clock, g, outcomes, release, make };
}

/** A call whose caller leaves while its permit is asked for; resolves once refused. */
async function leaveWhileAsking(
  b: { execute(fn: () => string, s?: AbortSignal): Promise<string> },
) {
  const ctl = new AbortController();
  let ran = false;
  const p = b.execute(() => (ran = true, "ran"), ctl.signal).catch((e) => e);
  await macrotask();
  const reason = new Error("left");
  ctl.abort(reason);
  assert.equal(await p, reason, "refused at once, with its reason");
  return () => ran;
}

test("link: a permit granted to a caller that left goes back as a neutral trial (its id, not slow)", async () => {
  const { clock, g, outcomes, release, make } = gatedFleet();
  const b = make("b");
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  g.hold = true;
  const ran = await leaveWhileAsking(b);
  const before = outcomes.length;
  g.hold = false;
  await release();
  await b.flush();
  assert.equal(ran(), false);
  const back = outcomes.slice(before);
  assert.equal(back.length, 1, JSON.stringify(back));
  assert.deepEqual(
    { ...back[0], permitId: typeof back[0].permitId, at: typeof back[0].at },
    { ok: true, neutral: true, permit: true, permitId: "number", generation: 2, at: "number" },
  );
  assert.equal(await b.execute(() => "trial"), "trial", "the permit is free again");
  await b.flush();
});

test("link: a denial, a grant without permit or a store failure for a caller that left gives nothing back", async () => {
  // Denied: another instance holds the only permit.
  const { clock, g, outcomes, release, make } = gatedFleet();
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  const hang = deferred<string>();
  const trial = a.execute(() => hang.promise);
  await a.flush();
  g.hold = true;
  await leaveWhileAsking(b);
  const before = outcomes.length;
  g.hold = false;
  await release();
  await b.flush();
  assert.deepEqual(outcomes.slice(before), [], "nothing to give back");
  hang.resolve("done");
  await trial;
  await a.flush();
  // A grant without a permit: the store was reset, b's copy is still OPEN and due.
  {
    const f = gatedFleet();
    const a2 = f.make("a2");
    const b2 = f.make("b2");
    await assert.rejects(a2.execute(boom));
    await a2.flush();
    await b2.flush();
    a2.reset();
    await a2.flush();
    f.clock.tick(1_000);
    assert.equal(b2.state, "half_open");
    f.g.hold = true;
    await leaveWhileAsking(b2);
    const from = f.outcomes.length;
    f.g.hold = false;
    await f.release();
    await b2.flush();
    assert.deepEqual(f.outcomes.slice(from), []);
    assert.equal(b2.state, "closed", "the store's answer was loaded");
  }
  // The store failing on the request (no unhandled error either: the harness checks).
  {
    const f = gatedFleet();
    const c = f.make("c");
    await assert.rejects(c.execute(boom));
    await c.flush();
    f.clock.tick(1_000);
    f.g.hold = true;
    f.g.fail = true;
    await leaveWhileAsking(c);
    const from = f.outcomes.length;
    await f.release();
    assert.deepEqual(f.outcomes.slice(from), []);
    assert.equal(c.getStats().storeAvailable, false);
  }
});

test("link: callers queued behind a permit request that the store answers CLOSED are refused without asking", async () => {
  const { clock, count, make } = fleet({ halfOpenMaxCalls: 1 });
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  a.reset(); // b does not know yet (its refreshInterval is a minute)
  await a.flush();
  clock.tick(1_000);
  const before = count("acquire");
  const results = await Promise.all(
    [1, 2, 3].map((i) => b.execute(() => `ran ${i}`).catch((e) => e)),
  );
  assert.equal(results[0], "ran 1", "the first runs as a CLOSED call");
  for (const r of results.slice(1)) assert.ok(r instanceof CircuitOpenError, String(r));
  assert.equal(count("acquire"), before + 1, "one request for the three callers");
  assert.equal(b.state, "closed");
  await b.flush();
});

test("link: a caller queued while its round of trials failed and the next came due is refused, not let into the next", async () => {
  const { clock, g, release, make } = gatedFleet(2);
  const b = make("b");
  await assert.rejects(b.execute(boom));
  await b.flush();
  clock.tick(1_000);
  const first = deferred<string>();
  const t1 = b.execute(() => first.promise); // a trial: one of the two permits
  await b.flush();
  assert.equal(b.state, "half_open");
  g.hold = true;
  const asking = b.execute(() => "second").catch((e) => e); // asks, held
  await macrotask();
  const queued = b.execute(() => "third").catch((e) => e); // behind it
  await macrotask();
  first.reject(new Error("trial failed")); // OPEN again, this instance's own evidence
  await assert.rejects(t1);
  // A caller arriving now (OPEN, not due) is refused at once, not queued behind the request.
  let refused: unknown;
  b.execute(() => "fourth").catch((e) => (refused = e));
  await macrotask();
  assert.ok(refused instanceof CircuitOpenError, "refused while the request is still held");
  clock.tick(1_000); // and due again, while both wait
  g.hold = false;
  await release();
  assert.ok((await asking) instanceof CircuitOpenError, "a stale answer: refused");
  const r = await queued;
  assert.ok(r instanceof CircuitOpenError, `the next round is not its round: ${r}`);
  await b.flush();
});

test("link: a caller queued behind a denial is refused even when its own copy no longer shows the fleet full", async () => {
  // refreshInterval 0: a denial does not answer later callers by itself.
  const { clock, g, release, make } = gatedFleet(1, 0);
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  const hang = deferred<string>();
  const trial = a.execute(() => hang.promise); // the only permit, until +1,000 ms
  await a.flush();
  g.after = true;
  let ran = false;
  const first = b.execute(() => "first").catch((e) => e); // denied now, told on release
  await macrotask();
  const second = b.execute(() => (ran = true, "second")).catch((e) => e); // behind it
  await macrotask();
  clock.tick(1_000); // a's permit expires meanwhile: the denial's state shows no permit running
  g.after = false;
  await release();
  assert.ok((await first) instanceof CircuitOpenError);
  assert.ok((await second) instanceof CircuitOpenError, "it arrived while the fleet was full");
  assert.equal(ran, false);
  hang.resolve("late");
  await trial;
  await a.flush();
  await b.flush();
});

test("link: a caller queued while the fleet's next round of trials began (its copy HALF_OPEN again) is refused", async () => {
  const { clock, g, release, make } = gatedFleet(2);
  const a = make("a");
  const b = make("b");
  await assert.rejects(a.execute(boom));
  await a.flush();
  await b.flush();
  clock.tick(1_000);
  const fails = deferred<string>();
  const t1 = a.execute(() => fails.promise); // a's trial in the first round
  await a.flush();
  g.hold = true;
  const ran: string[] = [];
  const second = b.execute(() => (ran.push("second"), "second")).catch((e) => e); // held
  await macrotask();
  const third = b.execute(() => (ran.push("third"), "third")).catch((e) => e); // behind it
  await macrotask();
  fails.reject(new Error("trial failed")); // the store reopens
  await assert.rejects(t1);
  await a.flush();
  clock.tick(2_000); // and is due again: b's held request opens the next round
  g.hold = false;
  await release();
  assert.equal(await second, "second", "granted in the new round");
  assert.ok((await third) instanceof CircuitOpenError, "arrived in the round before: refused");
  assert.deepEqual(ran, ["second"]);
  await b.flush();
  await a.flush();
});
