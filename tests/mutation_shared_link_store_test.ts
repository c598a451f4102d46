// What mutation testing of src/shared/link_store.ts checks: sharedStore()
// refuses every shape a breaker cannot use (each missing method on its own),
// accepts the two kinds with only their own methods, returns the store itself,
// and links it: a breaker given it runs its operations through the store.
import assert from "node:assert/strict";
import { applyOp, circuitBreaker, type SharedState, sharedStore, type StoreOp } from "../mod.ts";
import { test } from "./_harness.ts";

const message =
  "sharedStore: expected { kind: 'authoritative', run } or { kind: 'advisory', read, publish }";
const run = () => Promise.resolve(undefined);
const read = () => Promise.resolve(undefined);
const publish = () => Promise.resolve();

test("sharedStore: refuses every shape it cannot link, with one TypeError", () => {
  const bad: unknown[] = [
    null,
    undefined,
    "authoritative",
    () => {},
    {},
    { kind: "other", run, read, publish },
    { kind: "authoritative" },
    { kind: "authoritative", run: "run", read, publish },
    { kind: "advisory" },
    { kind: "advisory", run },
    { kind: "advisory", read },
    { kind: "advisory", publish },
    { kind: "advisory", read: {}, publish },
    { kind: "advisory", read, publish: 1 },
  ];
  for (const b of bad) {
    assert.throws(() => sharedStore(b as never), { name: "TypeError", message }, String(b));
  }
});

test("sharedStore: accepts each kind with only its own methods, and returns the store itself", () => {
  const authoritative = { kind: "authoritative" as const, run };
  assert.equal(sharedStore(authoritative), authoritative);
  const advisory = { kind: "advisory" as const, read, publish };
  assert.equal(sharedStore(advisory), advisory);
  // The link is not an own enumerable field: a store's own data (e.g. spread, JSON) is unchanged.
  assert.deepEqual(Object.keys(authoritative), ["kind", "run"]);
  assert.equal(JSON.stringify(advisory), '{"kind":"advisory"}');
});

test("sharedStore: a breaker given the store runs its operations through it", async () => {
  const entries = new Map<string, unknown>();
  const ops: { key: string; op: StoreOp }[] = [];
  const store = sharedStore({
    kind: "authoritative",
    run(key, op) {
      ops.push({ key, op });
      const r = applyOp(entries.get(key), op, 1_000);
      if (r.write) entries.set(key, r.value);
      return Promise.resolve(r.answer);
    },
  });
  const breaker = circuitBreaker({
    name: "linked",
    store,
    failureThreshold: 1,
    resetTimeout: 60_000,
  });
  await assert.rejects(breaker.execute(() => Promise.reject(new Error("down"))), /down/);
  await breaker.flush();
  assert.ok(ops.length > 0);
  assert.ok(ops.every((o) => o.key === "cb:linked" && o.op.type === "circuit"));
  assert.equal((entries.get("cb:linked") as SharedState).state, "open");
  // A second breaker with the same store key, starts from the shared OPEN.
  const other = circuitBreaker({
    name: "linked-too",
    storeKey: "linked",
    store,
    failureThreshold: 1,
    resetTimeout: 60_000,
  });
  await assert.rejects(other.execute(() => Promise.resolve(1)), { name: "CircuitOpenError" });
  await other.flush();
});

test("sharedStore: an advisory store's breaker reads and publishes through it", async () => {
  const published: { key: string; value: SharedState }[] = [];
  const reads: string[] = [];
  const store = sharedStore({
    kind: "advisory",
    read(key) {
      reads.push(key);
      return Promise.resolve(undefined);
    },
    publish(key, value) {
      published.push({ key, value });
      return Promise.resolve();
    },
  });
  const breaker = circuitBreaker({ name: "adv", store, failureThreshold: 1 });
  await assert.rejects(breaker.execute(() => Promise.reject(new Error("x"))), /x/);
  await breaker.flush();
  assert.deepEqual(reads.slice(0, 1), ["cb:adv"]);
  assert.equal(published.length, 1);
  assert.equal(published[0].key, "cb:adv");
  assert.equal(published[0].value.state, "open");
});
