// Tests written to kill the mutants of src/hono/route_options.ts
// (docs/mutation-testing.md): the renamed option's message, which options two
// middlewares sharing a name or a store key prefix must agree on, and how the
// conflict is reported.
import assert from "node:assert/strict";
import { MemoryStore } from "../mod.ts";
import { routeCircuitBreaker } from "../src/hono/mod.ts";
import { silent, test } from "./_harness.ts";

test("routeCircuitBreaker: the renamed option 'excludedErrors' is refused with what to use instead", () => {
  assert.throws(() => routeCircuitBreaker({ excludedErrors: [] } as never), {
    name: "TypeError",
    message:
      "routeCircuitBreaker: option 'excludedErrors' does not apply to routes: return false from 'isFailure' for them",
  });
});

test("routeCircuitBreaker: every circuit option is known", () => {
  const store = new MemoryStore();
  routeCircuitBreaker({
    failureThreshold: 3,
    failureRateThreshold: 0.5,
    windowCalls: 10,
    minimumThroughput: 5,
    slowCallDuration: 1000,
    slowCallRateThreshold: 0.5,
    maxResetTimeout: 60_000,
    countCallerAborts: true,
    resetTimeout: 1000,
    halfOpenMaxCalls: 2,
    onStateChange: () => {},
    logger: silent,
    store,
    storeOptions: { timeout: 100 },
    onStoreStatus: () => {},
    name: `ro-all-${crypto.randomUUID()}`,
    key: () => "k",
    maxKeys: 10,
    storeKey: "all",
    isFailureResult: () => false,
    isFailure: () => false,
    fallback: () => new Response("fb"),
  });
  routeCircuitBreaker({
    windowDuration: 10_000,
    windowBuckets: 10,
    failureRateThreshold: 0.5,
    clock: { now: () => 0, setTimeout: globalThis.setTimeout, clearTimeout } as never,
    logger: silent,
  });
});

/** Each option compared across one store key prefix, with two values it accepts. */
const STORE_COMPARED: [string, Record<string, unknown>, Record<string, unknown>][] = [
  ["failureThreshold", { failureThreshold: 2 }, { failureThreshold: 3 }],
  ["failureRateThreshold", { failureRateThreshold: 0.5 }, { failureRateThreshold: 0.6 }],
  ["windowCalls", { failureRateThreshold: 0.5, windowCalls: 10 }, {
    failureRateThreshold: 0.5,
    windowCalls: 20,
  }],
  ["windowDuration", { failureRateThreshold: 0.5, windowDuration: 10_000 }, {
    failureRateThreshold: 0.5,
    windowDuration: 20_000,
  }],
  ["windowBuckets", { failureRateThreshold: 0.5, windowDuration: 10_000, windowBuckets: 10 }, {
    failureRateThreshold: 0.5,
    windowDuration: 10_000,
    windowBuckets: 5,
  }],
  ["minimumThroughput", { failureRateThreshold: 0.5, minimumThroughput: 5 }, {
    failureRateThreshold: 0.5,
    minimumThroughput: 6,
  }],
  ["slowCallDuration", { slowCallDuration: 100, slowCallRateThreshold: 0.5 }, {
    slowCallDuration: 200,
    slowCallRateThreshold: 0.5,
  }],
  ["slowCallRateThreshold", { slowCallDuration: 100, slowCallRateThreshold: 0.5 }, {
    slowCallDuration: 100,
    slowCallRateThreshold: 0.7,
  }],
  ["maxResetTimeout", { maxResetTimeout: 60_000 }, { maxResetTimeout: 70_000 }],
  ["resetTimeout", { resetTimeout: 1000 }, { resetTimeout: 2000 }],
  ["halfOpenMaxCalls", { halfOpenMaxCalls: 1 }, { halfOpenMaxCalls: 2 }],
];

test("routeCircuitBreaker: each circuit option must agree across one store key prefix, and the message names it", () => {
  for (const [name, a, b] of STORE_COMPARED) {
    const store = new MemoryStore();
    routeCircuitBreaker({ store, logger: silent, ...a });
    routeCircuitBreaker({ store, logger: silent, ...a }); // the same values: fine
    const show = (o: Record<string, unknown>) => String(o[name]);
    assert.throws(
      () => routeCircuitBreaker({ store, logger: silent, ...b }),
      {
        name: "TypeError",
        message: `routeCircuitBreaker: store key prefix 'route' is used in this store with other ` +
          `options (${name}: ${show(a)} vs ${show(b)}): give each its own 'storeKey'`,
      },
      name,
    );
    // Another prefix of the same store, or another store: its own claim.
    routeCircuitBreaker({ store, storeKey: "other", logger: silent, ...b });
    routeCircuitBreaker({ store: new MemoryStore(), logger: silent, ...b });
  }
});

test("routeCircuitBreaker: across one store key prefix, only the circuit's options are compared", () => {
  const store = new MemoryStore();
  routeCircuitBreaker({
    store,
    key: () => "a",
    maxKeys: 5,
    logger: silent,
    name: `ro-p1-${crypto.randomUUID()}`,
  });
  // Another key function, maxKeys, logger, name, callbacks: the same circuit config.
  routeCircuitBreaker({
    store,
    key: () => "b",
    maxKeys: 6,
    isFailure: () => true,
    isFailureResult: () => true,
    fallback: () => new Response(""),
    onStateChange: () => {},
    onStoreStatus: () => {},
    countCallerAborts: true,
    name: `ro-p2-${crypto.randomUUID()}`,
  });
});

test("routeCircuitBreaker: store options must agree across one store key prefix (by value)", () => {
  const store = new MemoryStore();
  routeCircuitBreaker({ store, storeOptions: { timeout: 100 }, logger: silent });
  routeCircuitBreaker({ store, storeOptions: { timeout: 100 }, logger: silent }); // equal: fine
  const message = "routeCircuitBreaker: store key prefix 'route' is used in this store with " +
    "other options (storeOptions differ): give each its own 'storeKey'";
  assert.throws(() => routeCircuitBreaker({ store, storeOptions: { timeout: 200 } }), { message });
  assert.throws(() => routeCircuitBreaker({ store, logger: silent }), { message });
  assert.throws(
    () => routeCircuitBreaker({ store, storeOptions: { timeout: 100, batchSize: 5 } }),
    { message },
  );
  const other = new MemoryStore();
  routeCircuitBreaker({ store: other, logger: silent });
  routeCircuitBreaker({ store: other, storeOptions: {}, logger: silent }); // none = empty
  assert.throws(() => routeCircuitBreaker({ store: other, storeOptions: { batchSize: 5 } }), {
    message,
  });
  // Both a value and the store options differ: all said, in order.
  assert.throws(
    () => routeCircuitBreaker({ store, failureThreshold: 9, storeOptions: { timeout: 7 } }),
    {
      message: "routeCircuitBreaker: store key prefix 'route' is used in this store with other " +
        "options (failureThreshold: undefined vs 9; storeOptions differ): give each its own 'storeKey'",
    },
  );
});

test("routeCircuitBreaker: one name shares store options by value, and names functions in a conflict", () => {
  const store = new MemoryStore();
  const name = `ro-n-${crypto.randomUUID()}`;
  const key = function byHost() {
    return "h";
  };
  routeCircuitBreaker({ name, store, key, storeOptions: { timeout: 100 }, logger: silent });
  // Equal store options in another object: the same circuit.
  routeCircuitBreaker({ name, store, key, storeOptions: { timeout: 100 }, logger: silent });
  // A function without a name (set so: a bundler keeping names may give an arrow one).
  const anonymous = Object.defineProperty(() => "h", "name", { value: "" });
  assert.equal(anonymous.name, "");
  assert.throws(
    () =>
      routeCircuitBreaker({
        name,
        store,
        key: anonymous,
        storeOptions: { timeout: 100 },
        logger: silent,
      }),
    {
      message: `routeCircuitBreaker: name '${name}' is used with other options ` +
        `(key: function byHost vs function (anonymous)): pass only { name: '${name}' } ` +
        `to share its circuits, the same values, or another name`,
    },
  );
  assert.throws(
    () => routeCircuitBreaker({ name, store, key, storeOptions: { timeout: 5 }, logger: silent }),
    {
      message: `routeCircuitBreaker: name '${name}' is used with other options ` +
        `(storeOptions differ): pass only { name: '${name}' } ` +
        `to share its circuits, the same values, or another name`,
    },
  );
});
