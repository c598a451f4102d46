// The Hono adapters build core policies from the user's options: a bad option
// must be reported under the factory the user called, with the option as the
// user spelled it — not under the inner factory (`bulkhead: …`, `retry: …`).
import assert from "node:assert/strict";
import { clearCircuitBreakers } from "../mod.ts";
import { resilientFetch, routeBulkhead, routeCircuitBreaker } from "../src/hono/mod.ts";
import { test } from "./_harness.ts";

type Case = [
  label: string,
  make: () => unknown,
  error: typeof TypeError | typeof RangeError,
  message: RegExp,
];

const fetchWith = (init: Record<string, unknown>) => () =>
  resilientFetch("http://upstream.invalid/", init as never);

const CASES: Case[] = [
  [
    "routeBulkhead({})",
    () => routeBulkhead({} as never),
    TypeError,
    /^routeBulkhead: option 'maxConcurrent' /,
  ],
  [
    "routeBulkhead maxConcurrent 0",
    () => routeBulkhead({ maxConcurrent: 0 }),
    RangeError,
    /^routeBulkhead: option 'maxConcurrent' /,
  ],
  [
    "routeBulkhead maxQueue -1",
    () => routeBulkhead({ maxConcurrent: 1, maxQueue: -1 }),
    RangeError,
    /^routeBulkhead: option 'maxQueue' /,
  ],
  [
    "routeBulkhead queueTimeout NaN",
    () => routeBulkhead({ maxConcurrent: 1, queueTimeout: NaN }),
    RangeError,
    /^routeBulkhead: option 'queueTimeout' /,
  ],
  [
    "routeBulkhead name ''",
    () => routeBulkhead({ maxConcurrent: 1, name: "" }),
    TypeError,
    /^routeBulkhead: option 'name' /,
  ],
  [
    "resilientFetch budget 0.1",
    fetchWith({ budget: 0.1 }),
    TypeError,
    /^resilientFetch: option 'budget' must be a RetryBudget/,
  ],
  [
    "resilientFetch initialDelay -1",
    fetchWith({ initialDelay: -1 }),
    RangeError,
    /^resilientFetch: option 'initialDelay' /,
  ],
  [
    "resilientFetch backoffFactor 0.5",
    fetchWith({ backoffFactor: 0.5 }),
    RangeError,
    /^resilientFetch: option 'backoffFactor' /,
  ],
  // The retry's initialDelay is derived from maxDelay: the error still names maxDelay.
  [
    "resilientFetch maxDelay -1",
    fetchWith({ maxDelay: -1 }),
    RangeError,
    /^resilientFetch: option 'maxDelay' /,
  ],
  [
    "resilientFetch initialDelay > maxDelay",
    fetchWith({ initialDelay: 500, maxDelay: 100 }),
    RangeError,
    /^resilientFetch: option 'initialDelay' /,
  ],
  [
    "resilientFetch logger 42",
    fetchWith({ logger: 42 }),
    TypeError,
    /^resilientFetch: option 'logger' /,
  ],
  [
    "resilientFetch clock 'x'",
    fetchWith({ clock: "x" }),
    TypeError,
    /^resilientFetch: option 'clock' /,
  ],
  [
    "resilientFetch hedge 5",
    fetchWith({ hedge: 5 }),
    TypeError,
    /^resilientFetch: option 'hedge' must be an object/,
  ],
  [
    "resilientFetch hedge.delay 0",
    fetchWith({ hedge: { delay: 0 } }),
    RangeError,
    /^resilientFetch: option 'hedge\.delay' /,
  ],
  [
    "resilientFetch hedge without delay",
    fetchWith({ hedge: {} }),
    TypeError,
    /^resilientFetch: option 'hedge\.delay' /,
  ],
  [
    "resilientFetch hedge.maxHedges 0",
    fetchWith({ hedge: { delay: 5, maxHedges: 0 } }),
    RangeError,
    /^resilientFetch: option 'hedge\.maxHedges' /,
  ],
  [
    "resilientFetch hedge.maxHedge",
    fetchWith({ hedge: { delay: 5, maxHedge: 2 } }),
    TypeError,
    /^resilientFetch: unknown option 'hedge\.maxHedge' \(did you mean 'hedge\.maxHedges'\?\)/,
  ],
  [
    "routeCircuitBreaker failureThreshold 0",
    () => routeCircuitBreaker({ failureThreshold: 0 }),
    RangeError,
    /^routeCircuitBreaker: option 'failureThreshold' /,
  ],
  [
    "routeCircuitBreaker resetTimeout -1",
    () => routeCircuitBreaker({ resetTimeout: -1 }),
    RangeError,
    /^routeCircuitBreaker: option 'resetTimeout' /,
  ],
  [
    "routeCircuitBreaker failureRateThreshold 2",
    () => routeCircuitBreaker({ failureRateThreshold: 2 }),
    RangeError,
    /^routeCircuitBreaker: option 'failureRateThreshold' /,
  ],
  [
    "routeCircuitBreaker onStateChange 1",
    () => routeCircuitBreaker({ onStateChange: 1 as never }),
    TypeError,
    /^routeCircuitBreaker: option 'onStateChange' /,
  ],
];

test("adapter options: errors name the factory called and the option as spelled, never the inner one", async () => {
  for (const [label, make, ErrorClass, message] of CASES) {
    clearCircuitBreakers();
    let thrown: unknown;
    try {
      // resilientFetch answers with a rejected promise, like fetch.
      await make();
    } catch (e) {
      thrown = e;
    }
    assert.ok(
      thrown instanceof ErrorClass,
      `${label}: expected ${ErrorClass.name}, got ${String(thrown)}`,
    );
    assert.match((thrown as Error).message, message, label);
    assert.doesNotMatch(
      (thrown as Error).message,
      /\b(bulkhead|retry|hedge|timeout|circuitBreaker): /,
      `${label}: names an inner factory`,
    );
  }
});
