// Table-driven: every option rejects bad values at construction with a
// RangeError or TypeError that names the option.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  clearCircuitBreakers,
  compose,
  Fallback,
  fallback,
  HealthCheck,
  MemoryStore,
  retry,
  setDefaultLogger,
  timeout,
  withTimeout,
} from "../mod.ts";
import {
  healthHandler,
  resilientFetch,
  routeCircuitBreaker,
  routeFallback,
  routeTimeout,
} from "../src/hono/mod.ts";
import { test } from "./_harness.ts";
import { workersKvStore } from "../src/cloudflare/kv_store.ts";
import { durableObjectStore } from "../src/cloudflare/durable_object_store.ts";
import { denoKvStore } from "../src/deno_kv/store.ts";

type Ctor = (value: unknown) => unknown;
type Row = [
  where: string,
  option: string,
  make: Ctor,
  bad: [unknown, typeof RangeError | typeof TypeError][],
];

const NUMBER_BAD: [unknown, typeof RangeError | typeof TypeError][] = [
  [NaN, RangeError],
  [-1, RangeError],
  [Infinity, RangeError],
  ["5", TypeError],
  [null, TypeError],
];
const FN_BAD: [unknown, typeof TypeError][] = [[42, TypeError], ["f", TypeError], [{}, TypeError]];
const OBJ_BAD: [unknown, typeof TypeError][] = [[42, TypeError], ["x", TypeError], [
  null,
  TypeError,
]];
const STR_BAD: [unknown, typeof TypeError][] = [[42, TypeError], ["", TypeError], [{}, TypeError]];

const cb = (o: string) => (v: unknown) => {
  clearCircuitBreakers();
  return circuitBreaker({ [o]: v });
};

const cbWith = (base: Record<string, unknown>, o: string) => (v: unknown) => {
  clearCircuitBreakers();
  return circuitBreaker({ ...base, [o]: v });
};

const rows: Row[] = [
  ["retry", "maxAttempts", (v) => retry({ maxAttempts: v as number }), [
    ...NUMBER_BAD,
    [0, RangeError],
    [1.5, RangeError],
  ]],
  ["retry", "initialDelay", (v) => retry({ initialDelay: v as number }), NUMBER_BAD],
  ["retry", "backoffFactor", (v) => retry({ backoffFactor: v as number }), [
    ...NUMBER_BAD,
    [0.5, RangeError],
  ]],
  ["retry", "maxDelay", (v) => retry({ maxDelay: v as number, initialDelay: 0 }), NUMBER_BAD],
  ["retry", "initialDelay", (v) => retry({ initialDelay: v as number, maxDelay: 100 }), [[
    101,
    RangeError,
  ]]],
  ["retry", "jitter", (v) => retry({ jitter: v as boolean }), [["random", TypeError], [
    1,
    TypeError,
  ], [null, TypeError]]],
  ["retry", "retryOn", (v) => retry({ retryOn: v as never }), [[42, TypeError], [
    [42],
    TypeError,
  ]]],
  ["retry", "retryOnResult", (v) => retry({ retryOnResult: v as never }), FN_BAD],
  ["retry", "onRetry", (v) => retry({ onRetry: v as never }), FN_BAD],
  ["retry", "delayHint", (v) => retry({ delayHint: v as never }), FN_BAD],
  ["retry", "name", (v) => retry({ name: v as string }), STR_BAD],
  ["retry", "logger", (v) => retry({ logger: v as never }), OBJ_BAD],
  ["retry", "clock", (v) => retry({ clock: v as never }), OBJ_BAD],
  ["retry", "random", (v) => retry({ random: v as never }), FN_BAD],
  ["retry", "options", (v) => retry(v as never), [[42, TypeError], [null, TypeError]]],
  ["circuitBreaker", "failureThreshold", cb("failureThreshold"), [
    ...NUMBER_BAD,
    [0, RangeError],
    [2.5, RangeError],
  ]],
  ["circuitBreaker", "resetTimeout", cb("resetTimeout"), [
    ...NUMBER_BAD,
    [Number.MAX_SAFE_INTEGER + 2, RangeError],
  ]],
  ["circuitBreaker", "countCallerAborts", cb("countCallerAborts"), [["yes", TypeError], [
    1,
    TypeError,
  ], [null, TypeError]]],
  ["circuitBreaker", "halfOpenMaxCalls", cb("halfOpenMaxCalls"), [
    ...NUMBER_BAD,
    [0, RangeError],
    [1.5, RangeError],
  ]],
  ["circuitBreaker", "isFailure", cb("isFailure"), FN_BAD],
  ["circuitBreaker", "excludedErrors", cb("excludedErrors"), [[42, TypeError], [
    ["x"],
    TypeError,
  ], [RangeError, TypeError]]],
  ["circuitBreaker", "store", cb("store"), [[null, TypeError], [{}, TypeError], [42, TypeError]]],
  ["circuitBreaker", "fallback", cb("fallback"), FN_BAD],
  ["circuitBreaker", "onStateChange", cb("onStateChange"), FN_BAD],
  ["circuitBreaker", "logger", cb("logger"), OBJ_BAD],
  ["circuitBreaker", "clock", cb("clock"), OBJ_BAD],
  ["circuitBreaker", "name", cb("name"), STR_BAD],
  ["circuitBreaker", "failureRateThreshold", cb("failureRateThreshold"), [
    ...NUMBER_BAD,
    [0, RangeError],
    [1.5, RangeError],
  ]],
  [
    "circuitBreaker",
    "slowCallRateThreshold",
    cbWith({ slowCallDuration: 100 }, "slowCallRateThreshold"),
    [
      ...NUMBER_BAD,
      [0, RangeError],
      [1.01, RangeError],
    ],
  ],
  [
    "circuitBreaker",
    "slowCallDuration",
    cbWith({ slowCallRateThreshold: 0.5 }, "slowCallDuration"),
    [
      ...NUMBER_BAD,
      [0, RangeError],
    ],
  ],
  ["circuitBreaker", "windowCalls", cbWith({ failureRateThreshold: 0.5 }, "windowCalls"), [
    ...NUMBER_BAD,
    [0, RangeError],
    [2.5, RangeError],
    [100_001, RangeError],
  ]],
  ["circuitBreaker", "windowDuration", cbWith({ failureRateThreshold: 0.5 }, "windowDuration"), [
    ...NUMBER_BAD,
    [0, RangeError],
  ]],
  [
    "circuitBreaker",
    "windowBuckets",
    cbWith({ failureRateThreshold: 0.5, windowDuration: 1000 }, "windowBuckets"),
    [
      ...NUMBER_BAD,
      [0, RangeError],
      [1.5, RangeError],
      [1001, RangeError],
    ],
  ],
  [
    "circuitBreaker",
    "minimumThroughput",
    cbWith({ failureRateThreshold: 0.5 }, "minimumThroughput"),
    [
      ...NUMBER_BAD,
      [0, RangeError],
      [1.5, RangeError],
    ],
  ],
  ["circuitBreaker", "isFailureResult", cb("isFailureResult"), FN_BAD],
  ["circuitBreaker", "maxResetTimeout", cbWith({ resetTimeout: 1000 }, "maxResetTimeout"), [
    ...NUMBER_BAD,
    [999, RangeError],
  ]],
  ["timeout", "ms", (v) => timeout(v as number), [...NUMBER_BAD, [0, RangeError], [
    2 ** 31,
    RangeError,
  ]]],
  ["timeout", "fallback", (v) => timeout(10, { fallback: v as never }), FN_BAD],
  ["timeout", "errorMessage", (v) => timeout(10, { errorMessage: v as string }), STR_BAD],
  ["timeout", "name", (v) => timeout(10, { name: v as string }), STR_BAD],
  ["timeout", "logger", (v) => timeout(10, { logger: v as never }), OBJ_BAD],
  ["timeout", "clock", (v) => timeout(10, { clock: v as never }), OBJ_BAD],
  ["withTimeout", "ms", (v) => withTimeout(Promise.resolve(1), v as number), [
    ...NUMBER_BAD,
    [0, RangeError],
  ]],
  ["withTimeout", "signal", (v) => withTimeout(Promise.resolve(1), 5, { signal: v as never }), [[
    "s",
    TypeError,
  ]]],
  [
    "withTimeout",
    "name",
    (v) => withTimeout(Promise.resolve(1), 5, { name: v as string }),
    STR_BAD,
  ],
  [
    "withTimeout",
    "clock",
    (v) => withTimeout(Promise.resolve(1), 5, { clock: v as never }),
    OBJ_BAD,
  ],
  ["circuitBreaker", "onStoreStatus", cb("onStoreStatus"), FN_BAD],
  ["circuitBreaker", "store", (v) => {
    clearCircuitBreakers();
    return circuitBreaker({ name: "s", store: v as never });
  }, [[42, TypeError], [{}, TypeError], [{ kind: "authoritative", sync() {} }, TypeError]]],
  ["circuitBreaker", "storeKey", (v) => {
    clearCircuitBreakers();
    return circuitBreaker({ store: new MemoryStore(), storeKey: v as string });
  }, [["", TypeError], [42, TypeError]]],
  ...(["timeout", "refreshInterval", "batchSize", "retryInterval"] as const).map((k): Row => [
    "circuitBreaker",
    `storeOptions.${k}`,
    (v) => {
      clearCircuitBreakers();
      return circuitBreaker({ name: "so", store: new MemoryStore(), storeOptions: { [k]: v } });
    },
    k === "batchSize" ? [...NUMBER_BAD, [0, RangeError], [1.5, RangeError]] : NUMBER_BAD,
  ]),
  ["circuitBreaker", "storeOptions.whenUnavailable", (v) => {
    clearCircuitBreakers();
    return circuitBreaker({
      name: "wu",
      store: new MemoryStore(),
      storeOptions: { whenUnavailable: v as never },
    });
  }, [["sometimes", TypeError], [1, TypeError]]],
  ["fallback", "shouldFallback", (v) => fallback({ shouldFallback: v as never }), FN_BAD],
  ["fallback", "fallback #1", (v) => fallback(v as never, () => 1), [[42, TypeError]]],
  ["fallback", "name", (v) => fallback({ name: v as string }), STR_BAD],
  ["fallback", "logger", (v) => fallback({ logger: v as never }), OBJ_BAD],
  ["Fallback", "name", (v) => new Fallback({ name: v as string }), STR_BAD],
  ["Fallback", "shouldFallback", (v) => new Fallback({ shouldFallback: v as never }), FN_BAD],
  ["Fallback", "logger", (v) => new Fallback({ logger: v as never }), OBJ_BAD],
  ["HealthCheck", "version", (v) => new HealthCheck({ version: v as string }), STR_BAD],
  ["HealthCheck", "defaultTimeout", (v) => new HealthCheck({ defaultTimeout: v as number }), [
    ...NUMBER_BAD,
    [0, RangeError],
  ]],
  ["HealthCheck", "clock", (v) => new HealthCheck({ clock: v as never }), OBJ_BAD],
  [
    "HealthCheck.register",
    "timeout",
    (v) => new HealthCheck().register("x", () => true, { timeout: v as number }),
    [
      ...NUMBER_BAD,
      [0, RangeError],
    ],
  ],
  [
    "HealthCheck.register",
    "critical",
    (v) => new HealthCheck().register("x", () => true, { critical: v as boolean }),
    [["yes", TypeError], [
      null,
      TypeError,
    ]],
  ],
  ["HealthCheck.register", "name", (v) => new HealthCheck().register(v as string, () => true), [
    ["", TypeError],
    [1, TypeError],
  ]],
  ["compose", "#1", (v) => compose(v as never), [[42, TypeError]]],
];

test("options: every bad option throws a typed error naming it, at construction", async () => {
  let cases = 0;
  for (const [where, option, make, bad] of rows) {
    for (const [value, ErrorClass] of bad) {
      cases++;
      let thrown: unknown;
      try {
        const r = make(value);
        if (r instanceof Promise) await r; // withTimeout validates synchronously: never reached
      } catch (e) {
        thrown = e;
      }
      assert.ok(
        thrown instanceof ErrorClass,
        `${where} ${option}=${String(value)}: expected ${ErrorClass.name}, got ${String(thrown)}`,
      );
      assert.ok(
        (thrown as Error).message.includes(option) && (thrown as Error).message.includes(where),
        `${where} ${option}=${String(value)}: message does not name it: ${
          (thrown as Error).message
        }`,
      );
    }
  }
  assert.ok(cases > 100);
});

test("options: valid edge values are accepted", () => {
  clearCircuitBreakers();
  retry({ maxAttempts: 1, initialDelay: 0, maxDelay: 0, backoffFactor: 1, jitter: "decorrelated" });
  circuitBreaker({ failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 1 });
  timeout(2 ** 31 - 1);
  new HealthCheck({ defaultTimeout: 1 });
  fallback();
});

test("options: wrapping a non-function and decorating a non-method are refused", () => {
  assert.throws(() => retry()(42 as never), /retry: expected a function/);
  assert.throws(
    () => timeout(10)((() => {}) as never, { kind: "field" } as never),
    /timeout: can only decorate methods/,
  );
});

// Unknown option names are refused, naming the key and the nearest known one.
// Each pattern adds its row here as it adopts checkKnownOptions.
const UNKNOWN: [where: string, make: () => unknown, message: RegExp][] = [
  [
    "retry",
    () => retry({ maxAttempt: 3 } as never),
    /unknown option 'maxAttempt' \(did you mean 'maxAttempts'\?\)/,
  ],
  [
    "retry",
    () => retry({ zzz: 1 } as never),
    /unknown option 'zzz' \(known options: maxAttempts, /,
  ],
  [
    "circuitBreaker: storeOptions",
    () =>
      circuitBreaker({
        name: "unknown-store-option",
        store: new MemoryStore(),
        storeOptions: { timout: 5 } as never,
      }),
    /circuitBreaker: storeOptions: unknown option 'timout' \(did you mean 'timeout'\?\)/,
  ],
  [
    "MemoryStore",
    () => new MemoryStore({ clok: {} } as never),
    /MemoryStore: unknown option 'clok' \(did you mean 'clock'\?\)/,
  ],
  [
    "denoKvStore",
    () => denoKvStore({ get() {}, atomic() {} } as never, { expiresIn: 1000 } as never),
    /denoKvStore: unknown option 'expiresIn' \(did you mean 'expireIn'\?\)/,
  ],
  [
    "workersKvStore",
    () => workersKvStore({ get() {}, put() {} } as never, { cacheTTL: 1 } as never),
    /workersKvStore: unknown option 'cacheTTL' \(did you mean 'cacheTtl'\?\)/,
  ],
  [
    "durableObjectStore",
    () => durableObjectStore({ idFromName() {}, get() {} } as never, { prefx: "x" } as never),
    /durableObjectStore: unknown option 'prefx' \(did you mean 'prefix'\?\)/,
  ],
  [
    "circuitBreaker",
    () => circuitBreaker({ name: "x", failureTreshold: 3 } as never),
    /circuitBreaker: unknown option 'failureTreshold' \(did you mean 'failureThreshold'\?\)/,
  ],
  [
    "circuitBreaker",
    () => circuitBreaker({ resetTimeoutMs: 3 } as never),
    /circuitBreaker: unknown option 'resetTimeoutMs' \(did you mean 'resetTimeout'\?\)/,
  ],
  [
    "circuitBreaker",
    () => circuitBreaker({ storeOption: {} } as never),
    /circuitBreaker: unknown option 'storeOption' \(did you mean 'storeOptions'\?\)/,
  ],
];

// The Hono middleware and resilientFetch.
UNKNOWN.push(
  [
    "routeTimeout",
    () => routeTimeout(10, { onTimeOut: () => new Response() } as never),
    /routeTimeout: unknown option 'onTimeOut' \(did you mean 'onTimeout'\?\)/,
  ],
  [
    "resilientFetch",
    () => resilientFetch("http://x/", { attemptTimout: 5 } as never),
    /resilientFetch: unknown option 'attemptTimout' \(did you mean 'attemptTimeout'\?\)/,
  ],
  [
    "routeFallback",
    () => routeFallback({ response: () => new Response() } as never),
    /routeFallback: unknown option 'response' \(did you mean 'fallback'\?\)/,
  ],
  [
    "routeFallback",
    () => routeFallback({ lastgood: true } as never),
    /routeFallback: unknown option 'lastgood' \(did you mean 'lastGood'\?\)/,
  ],
  [
    "routeFallback",
    () => routeFallback({ lastGood: { maxEntry: 5 } } as never),
    /routeFallback: lastGood: unknown option 'maxEntry' \(did you mean 'maxEntries'\?\)/,
  ],
);

// core-policies: fallback, Fallback, timeout, withTimeout.
UNKNOWN.push(
  // Renamed (one name for the value answered on failure): the old names suggest the new one.
  [
    "Fallback",
    () => new Fallback({ default: "x" } as never),
    /^Fallback: unknown option 'default' \(did you mean 'fallbackValue'\?\)/,
  ],
  [
    "Fallback",
    () => new Fallback({ defaultValue: "x" } as never),
    /^Fallback: unknown option 'defaultValue' \(did you mean 'fallbackValue'\?\)/,
  ],
  [
    "fallback",
    () => fallback(() => 1, { default: "x" } as never),
    /^fallback: unknown option 'default' \(did you mean 'fallbackValue'\?\)/,
  ],
  [
    "fallback",
    () => fallback(() => 1, { defaultValue: "x" } as never),
    /^fallback: unknown option 'defaultValue' \(did you mean 'fallbackValue'\?\)/,
  ],
  [
    "withTimeout",
    () => withTimeout(Promise.resolve(1), 10, { default: 1 } as never),
    /^withTimeout: unknown option 'default' \(did you mean 'fallbackValue'\?\)/,
  ],
  [
    "withTimeout",
    () => withTimeout(Promise.resolve(1), 10, { defaultValue: 1 } as never),
    /^withTimeout: unknown option 'defaultValue' \(did you mean 'fallbackValue'\?\)/,
  ],
  [
    "fallback",
    () => fallback({ shouldFalback: () => true } as never),
    /unknown option 'shouldFalback' \(did you mean 'shouldFallback'\?\)/,
  ],
  [
    "timeout",
    () => timeout(10, { fallbackValue: 1 } as never),
    /^timeout: unknown option 'fallbackValue' \(did you mean 'fallback'\?\)/,
  ],
  [
    "timeout",
    () => timeout(10, { errorMsg: "x" } as never),
    /unknown option 'errorMsg' \(did you mean 'errorMessage'\?\)/,
  ],
  [
    "withTimeout",
    () => withTimeout(Promise.resolve(1), 10, { fallback: 1 } as never),
    /^withTimeout: unknown option 'fallback' \(did you mean 'fallbackValue'\?\)/,
  ],
  [
    "withTimeout",
    () => withTimeout(Promise.resolve(1), 10, { timeout: 1 } as never),
    /unknown option 'timeout' \(known options: fallbackValue, signal, name, clock\)/,
  ],
);

UNKNOWN.push(
  [
    "HealthCheck",
    () => new HealthCheck({ defaultTimout: 5 } as never),
    /HealthCheck: unknown option 'defaultTimout' \(did you mean 'defaultTimeout'\?\)/,
  ],
  [
    "HealthCheck.register",
    () => new HealthCheck().register("db", () => true, { critcal: false } as never),
    /HealthCheck.register: unknown option 'critcal' \(did you mean 'critical'\?\)/,
  ],
  [
    "HealthCheck.register (decorator)",
    () => new HealthCheck().register("db", { timeot: 5 } as never),
    /HealthCheck.register: unknown option 'timeot' \(did you mean 'timeout'\?\)/,
  ],
);

UNKNOWN.push([
  "circuitBreaker",
  () => circuitBreaker({ failureRateTreshold: 0.5 } as never),
  /circuitBreaker: unknown option 'failureRateTreshold' \(did you mean 'failureRateThreshold'\?\)/,
]);

UNKNOWN.push(
  [
    "routeCircuitBreaker",
    () => routeCircuitBreaker({ maxKey: 10 } as never),
    /routeCircuitBreaker: unknown option 'maxKey' \(did you mean 'maxKeys'\?\)/,
  ],
  [
    "healthHandler",
    () => healthHandler(new HealthCheck(), { maxBreaker: 3 } as never),
    /healthHandler: unknown option 'maxBreaker' \(did you mean 'maxBreakers'\?\)/,
  ],
);

test("options: unknown option names are refused with the nearest known one", async () => {
  for (const [where, make, message] of UNKNOWN) {
    const check = (e: unknown) => e instanceof TypeError && message.test(e.message);
    // resilientFetch is a call, not a constructor: it answers with a rejected promise.
    if (where === "resilientFetch") await assert.rejects(make() as Promise<unknown>, check, where);
    else assert.throws(make, check, where);
  }
});

test("options: setDefaultLogger refuses what is not a logger (null, {}, a function)", () => {
  for (const bad of [null, undefined, {}, { info() {}, warn() {} }, () => {}]) {
    assert.throws(
      () => setDefaultLogger(bad as never),
      /setDefaultLogger: expected a logger with info, warn and error functions/,
      String(bad),
    );
  }
});
