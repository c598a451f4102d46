// What mutation testing of src/cloudflare/durable_object.ts asks of the
// CircuitBreakerObject class itself, run in-process on a fake
// DurableObjectState (the end-to-end tests in workerd are
// cloudflare_test.ts, too slow to run per mutant): one storage read per
// object's life, a write exactly when the operation changed the entry,
// operations applied to the value the previous one left, a corrupt entry
// repaired and saved at once, and time from `now()`.
//
// The class extends `DurableObject` from `cloudflare:workers`: on Deno,
// deno.json maps that module to the type stand-in src/cloudflare/workers_types.ts
// (a plain base class keeping `ctx` and `env`), so the class loads and runs
// here as it does in workerd. Node and Bun have no `cloudflare:workers` (the
// built package's import of it fails there), hence Deno only, and the
// module is imported inside the tests so that the file still loads elsewhere.
import assert from "node:assert/strict";
import type { StoreOp } from "../mod.ts";
import { test } from "./_harness.ts";

const DENO = {
  runtimes: ["deno" as const],
  why: "imports cloudflare:workers (mapped to its stand-in by deno.json; absent on Node and Bun)",
};
const load = () => import("../src/cloudflare/durable_object.ts");

/** A Durable Object's storage in memory; records every get and put. */
function fakeState(initial?: unknown) {
  const data = new Map<string, unknown>();
  if (initial !== undefined) data.set("state", initial);
  const gets: string[] = [];
  const puts: { key: string; value: unknown }[] = [];
  const ctx = {
    storage: {
      get(key: string) {
        gets.push(key);
        return Promise.resolve(structuredClone(data.get(key)));
      },
      put(key: string, value: unknown) {
        puts.push({ key, value: structuredClone(value) });
        data.set(key, structuredClone(value));
        return Promise.resolve();
      },
    },
    blockConcurrencyWhile: <T>(fn: () => Promise<T>) => fn(),
  };
  return { ctx, data, gets, puts };
}

const CONFIG = { failureThreshold: 2, resetTimeout: 1000, halfOpenMaxCalls: 1 };
const sync = (ok?: boolean): StoreOp => ({
  type: "circuit",
  action: "sync",
  outcomes: ok === undefined ? [] : [{ ok, generation: 0, at: 0 }],
  config: CONFIG,
});
type Answer = { state: string; failures: number; openedAt: number; repaired?: string };

test(
  "CircuitBreakerObject: reads its entry from storage once, then applies each operation to the value the last one left",
  async () => {
    const { CircuitBreakerObject } = await load();
    const s = fakeState();
    const object = new CircuitBreakerObject(s.ctx as never, {});
    const a = await object.run(sync(false)) as Answer;
    assert.equal(a.state, "closed");
    assert.equal(a.failures, 1);
    const b = await object.run(sync(false)) as Answer;
    assert.equal(b.state, "open", "the second failure counted on top of the first");
    await object.run(sync());
    assert.deepEqual(s.gets, ["state"], "one storage read in the object's life");
  },
  DENO,
);

test(
  "CircuitBreakerObject: writes the entry (key 'state') exactly when an operation changed it; a new object continues from storage",
  async () => {
    const { CircuitBreakerObject } = await load();
    const s = fakeState();
    const object = new CircuitBreakerObject(s.ctx as never, {});
    await object.run(sync());
    assert.equal(s.puts.length, 0, "a plain read writes nothing");
    await object.run(sync(false));
    assert.equal(s.puts.length, 1);
    assert.equal(s.puts[0].key, "state");
    assert.equal((s.puts[0].value as Answer).failures, 1);
    // Evicted, and back: the next instance reads what was saved.
    const again = new CircuitBreakerObject(s.ctx as never, {});
    const c = await again.run(sync(false)) as Answer;
    assert.equal(c.state, "open");
    assert.equal((s.data.get("state") as Answer).state, "open");
  },
  DENO,
);

test(
  "CircuitBreakerObject: a corrupt stored entry is repaired and saved at once; the answer says so",
  async () => {
    const { CircuitBreakerObject } = await load();
    const s = fakeState({ state: "garbage" });
    const object = new CircuitBreakerObject(s.ctx as never, {});
    const a = await object.run(sync()) as Answer;
    assert.equal(a.state, "closed");
    assert.match(a.repaired ?? "", /malformed circuit state/);
    assert.equal(s.puts.length, 1, "saved although the operation itself changed nothing");
    assert.equal((s.data.get("state") as Answer).repaired, undefined);
    const b = await object.run(sync()) as Answer;
    assert.equal(b.repaired, undefined, "repaired once");
  },
  DENO,
);

test(
  "CircuitBreakerObject: time is now(): Date.now() by default, a subclass's own when overridden",
  async () => {
    const { CircuitBreakerObject } = await load();
    const before = Date.now();
    const object = new CircuitBreakerObject(fakeState().ctx as never, {});
    await object.run(sync(false));
    const opened = await object.run(sync(false)) as Answer;
    assert.ok(opened.openedAt >= before && opened.openedAt <= Date.now(), String(opened.openedAt));
    class At extends CircuitBreakerObject {
      protected override now(): number {
        return 1_234_567;
      }
    }
    const fixed = new At(fakeState().ctx as never, {});
    await fixed.run(sync(false));
    assert.equal((await fixed.run(sync(false)) as Answer).openedAt, 1_234_567);
  },
  DENO,
);

test(
  "CircuitBreakerObject: a malformed operation is refused (the RPC rejects) and leaves the entry as it was",
  async () => {
    const { CircuitBreakerObject } = await load();
    const s = fakeState();
    const object = new CircuitBreakerObject(s.ctx as never, {});
    await object.run(sync(false));
    await assert.rejects(object.run({ type: "nope" } as never), TypeError);
    assert.equal(s.puts.length, 1);
    assert.equal((await object.run(sync()) as Answer).failures, 1);
  },
  DENO,
);
