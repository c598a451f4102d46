// What mutation testing of src/circuit_breaker/link.ts (lines 125 to 463: the
// constructor, run and the startup gate, admission, the permit queue, the
// store being unavailable, reports and commands) found untested: the key
// checks when a shared breaker is built (which option an error names, which
// class it keeps), ...
import assert from "node:assert/strict";
import {
  circuitBreaker,
  clearCircuitBreakers,
  MemoryStore,
  sharedStore,
  type StoreOp,
} from "../mod.ts";
import { silent, test } from "./_harness.ts";

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
