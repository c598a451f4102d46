// What mutation testing of src/cloudflare/durable_object_store.ts asks of the
// binding side of the Durable Object store on its own (a fake namespace whose
// stubs run each operation with applyOp on an in-memory entry per object
// name): the construction checks, the object name (prefix + key, bounded),
// one fresh stub per operation, and the answer relayed as the object gives it.
import assert from "node:assert/strict";
import { applyOp, type StoreOp } from "../mod.ts";
import { type CircuitBreakerNamespace, durableObjectStore } from "../src/cloudflare/mod.ts";
import { test } from "./_harness.ts";

/** A namespace of in-process objects, one entry per name; records names, ids and operations. */
function fakeNamespace() {
  const entries = new Map<string, unknown>();
  const names: string[] = [];
  const stubs: string[] = [];
  const ops: { name: string; op: StoreOp }[] = [];
  const namespace: CircuitBreakerNamespace = {
    idFromName(name) {
      names.push(name);
      return { name };
    },
    get(id: never) {
      const { name } = id as { name: string };
      stubs.push(name);
      return {
        run(op: StoreOp) {
          ops.push({ name, op });
          const { value, answer, write } = applyOp(entries.get(name), op, 1_000_000);
          if (write) entries.set(name, value);
          return Promise.resolve(answer);
        },
      };
    },
  };
  return { namespace, entries, names, stubs, ops };
}

const CONFIG = { failureThreshold: 2, resetTimeout: 1000, halfOpenMaxCalls: 1 };
const failure: StoreOp = {
  type: "circuit",
  action: "sync",
  outcomes: [{ ok: false, generation: 0, at: 0 }],
  config: CONFIG,
};

test("durableObjectStore: refuses what is not a namespace binding, and a wrong prefix, naming them", () => {
  const idFromName = () => ({});
  const get = () => ({ run: () => Promise.resolve() });
  const msg = /^TypeError: durableObjectStore: expected a Durable Object namespace binding$/;
  for (
    const ns of [undefined, null, {}, { idFromName }, { get }, { idFromName, get: 1 }, {
      idFromName: 1,
      get,
    }]
  ) {
    assert.throws(() => durableObjectStore(ns as never), (e) => msg.test(String(e)), String(ns));
  }
  assert.equal(durableObjectStore({ idFromName, get } as never).kind, "authoritative");
  assert.throws(
    () => durableObjectStore({ idFromName, get } as never, { prefix: "" }),
    /durableObjectStore: option 'prefix' must be a non-empty string, got ""/,
  );
  assert.throws(
    () => durableObjectStore({ idFromName, get } as never, { prefix: 7 } as never),
    /durableObjectStore: option 'prefix' must be a non-empty string, got 7/,
  );
});

test("durableObjectStore: the prefix is shorter than 512; prefix and key together at most 512 bytes", () => {
  const { namespace } = fakeNamespace();
  assert.doesNotThrow(() => durableObjectStore(namespace, { prefix: "p".repeat(511) }));
  assert.throws(
    () => durableObjectStore(namespace, { prefix: "p".repeat(512) }),
    (e) =>
      e instanceof RangeError &&
      e.message === "durableObjectStore: option 'prefix' must be shorter than 512 bytes",
  );
  // Counted in UTF-8 bytes, not characters: 256 'é' are 512 bytes.
  assert.throws(
    () => durableObjectStore(namespace, { prefix: "é".repeat(256) }),
    /option 'prefix' must be shorter than 512 bytes/,
  );
  assert.doesNotThrow(() => durableObjectStore(namespace, { prefix: "é".repeat(255) + "p" }));
  const store = durableObjectStore(namespace, { prefix: "é".repeat(250) }); // 500 bytes
  assert.doesNotThrow(() => store.checkKey!("k".repeat(12)));
  assert.throws(
    () => store.checkKey!("k".repeat(13)),
    (e) =>
      e instanceof RangeError && /is 513 bytes with the prefix; the limit is 512/.test(e.message),
  );
  assert.throws(() => store.checkKey!(""), TypeError);
});

test("durableObjectStore: each operation goes to the object named prefix + key, through a fresh stub, and resolves to its answer", async () => {
  const { namespace, entries, names, stubs, ops } = fakeNamespace();
  const store = durableObjectStore(namespace);
  const first = await store.run!("cb:api", failure);
  const second = await store.run!("cb:api", failure);
  await store.run!("cb:other", failure);
  assert.deepEqual(names, ["er:cb:api", "er:cb:api", "er:cb:other"]);
  assert.deepEqual(stubs, names, "one stub per operation");
  assert.deepEqual(ops.map((o) => o.op), [failure, failure, failure], "the operation as given");
  // The answers are the object's own: the second failure opened the shared circuit.
  assert.notDeepEqual(first, second);
  assert.equal((entries.get("er:cb:api") as { state: string }).state, "open");
  assert.equal((entries.get("er:cb:other") as { state: string }).state, "closed");
  // Another prefix.
  const other = fakeNamespace();
  await durableObjectStore(other.namespace, { prefix: "objects/" }).run!("cb:api", failure);
  assert.deepEqual(other.names, ["objects/cb:api"]);
  // A key too long fails the operation (it never reaches an object).
  const long = durableObjectStore(other.namespace, { prefix: "p".repeat(511) });
  await assert.rejects(async () => await long.run!("cb", failure), RangeError);
  assert.equal(other.names.length, 1);
});

test("durableObjectStore: an object's failure is the operation's (the breaker treats it as an outage)", async () => {
  const boom = new Error("object unavailable");
  const store = durableObjectStore({
    idFromName: (n) => n,
    get: () => ({ run: () => Promise.reject(boom) }),
  });
  await assert.rejects(store.run!("cb:api", failure), (e) => e === boom);
});
