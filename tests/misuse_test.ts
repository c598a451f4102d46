// Misuse is refused at once, with a TypeError that says what was wrong: compose's arguments,
// execute given something other than a function, decorators used where they cannot work.
import assert from "node:assert/strict";
import {
  bulkhead,
  circuitBreaker,
  clearCircuitBreakers,
  compose,
  Fallback,
  fallback,
  HealthCheck,
  hedge,
  retry,
  timeout,
} from "../mod.ts";
import { silent, test } from "./_harness.ts";

const typeError = (re: RegExp) => (e: unknown) => e instanceof TypeError && re.test(e.message);

/** A legacy (`experimentalDecorators`) decorator call, as TypeScript emits it. */
type Legacy = (target: object, key: string, descriptor: PropertyDescriptor) => unknown;

test("compose: each bad argument is named by its position; none is accepted", () => {
  const r = retry({ logger: silent });
  const t = timeout(100);
  assert.throws(() => compose(), typeError(/^compose: expected at least one policy$/));
  for (
    const [bad, label] of [
      [undefined, "undefined"],
      [null, "null"],
      [42, "a number"],
      [() => {}, "a function without execute"],
      [{ execute: () => Promise.resolve() }, "an object with execute"],
      [Object.assign(() => {}, { execute: 1 }), "a function whose execute is no function"],
    ] as const
  ) {
    assert.throws(() => compose(bad as never), typeError(/^compose: argument #1 is not a policy$/));
    assert.throws(
      () => compose(r, t, bad as never),
      typeError(/^compose: argument #3 is not a policy$/),
      label,
    );
  }
  // The first bad argument is the one named.
  assert.throws(() => compose(r, 1 as never, 2 as never), /argument #2 is not a policy/);
  // A composition is a policy: it composes.
  assert.equal(typeof compose(compose(r, t), r), "function");
});

test("compose: wrapping a non-function and decorating a non-method are refused", async () => {
  const c = compose(retry({ logger: silent }), timeout(100));
  for (const bad of [undefined, null, 1, "fn", {}]) {
    assert.throws(
      () => c(bad as never),
      typeError(new RegExp(`^compose: expected a function to wrap, got ${typeof bad}$`)),
    );
  }
  for (const kind of ["field", "getter", "setter", "accessor", "class"]) {
    assert.throws(
      () => c((() => 1) as never, { kind } as never),
      typeError(/^compose: can only decorate methods$/),
      kind,
    );
  }
  // A method is fine, and the result still works.
  const m = c((async (x: number) => x + 1) as never, { kind: "method" } as never) as (
    x: number,
  ) => Promise<number>;
  assert.equal(await m(1), 2);
});

test("execute: something other than a function rejects with a TypeError, running nothing", async () => {
  clearCircuitBreakers();
  const log: string[] = [];
  const logger = {
    info: (m: string) => void log.push(m),
    warn: (m: string) => void log.push(m),
    error: (m: string) => void log.push(m),
  };
  const breaker = circuitBreaker({ name: "misuse", failureThreshold: 1, logger });
  const policies = {
    retry: retry({ logger }),
    timeout: timeout(100, { logger }),
    fallback: fallback({ fallbackValue: "fb", logger }),
    breaker,
    bulkhead: bulkhead({ maxConcurrent: 1 }),
    hedge: hedge({ delay: 10 }),
    compose: compose(fallback({ fallbackValue: "fb", logger }), retry({ logger }), timeout(100)),
  };
  for (const [name, p] of Object.entries(policies)) {
    for (const bad of [undefined, null, 42, "work", { then() {} }]) {
      // Rejects (a promise, like every other failure of execute), never throws synchronously.
      let promise: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        promise = p.execute(bad as never);
      }, name);
      await assert.rejects(
        promise!,
        typeError(new RegExp(`^(compose: )?execute expects a function, got ${typeof bad}$`)),
        `${name}: ${String(bad)}`,
      );
    }
  }
  // Not a failure of anything: the breaker stays closed, no fallback answered, nothing logged.
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.getStats().failureCount, 0);
  assert.deepEqual(log, []);
});

test("legacy decorators: a getter, a setter or a field has no method to wrap, for every policy", () => {
  const policies = {
    retry: retry({ logger: silent }),
    timeout: timeout(100),
    fallback: fallback({ fallbackValue: 0, logger: silent }),
    bulkhead: bulkhead({ maxConcurrent: 1 }),
    compose: compose(retry({ logger: silent }), timeout(100)),
  };
  const descriptors = {
    getter: { get: () => 1, configurable: true },
    setter: { set: (_: unknown) => {}, configurable: true },
    // A legacy field decorator gets no descriptor's value.
    "value-less": { writable: true, configurable: true },
  };
  for (const [name, p] of Object.entries(policies)) {
    for (const [kind, d] of Object.entries(descriptors)) {
      assert.throws(
        () => (p as unknown as Legacy)({}, "m", d),
        typeError(/expected a function to wrap, got undefined/),
        `${name} on a ${kind}`,
      );
    }
  }
});

test("legacy decorators: Fallback.add and HealthCheck.register refuse what they cannot register", async () => {
  const fb = new Fallback<number>({ logger: silent });
  const add = fb.add as unknown as Legacy;
  class Src {
    static get value() {
      return 1;
    }
  }
  // A getter: no function to register.
  assert.throws(
    () => add(Src, "value", Object.getOwnPropertyDescriptor(Src, "value")!),
    typeError(
      /^Fallback.add: legacy decorators \(experimentalDecorators\) are not supported here; pass the function instead of decorating$/,
    ),
  );
  // Nothing was registered.
  await assert.rejects(fb.execute(), /has no functions: add\(\) at least one/);
  // HealthCheck.register's decorator is TC39 only: a legacy call is refused, not registered.
  const health = new HealthCheck();
  const register = health.register("db") as unknown as Legacy;
  assert.throws(
    () => register(Src, "check", { value: () => ({ healthy: true }), configurable: true }),
    typeError(/^HealthCheck.register: legacy decorators \(experimentalDecorators\) are not/),
  );
  assert.deepEqual(health.names, []);
  // TC39: an instance method has no instance to call; a field is no function.
  const tc39 = health.register("db2") as unknown as (fn: unknown, ctx: unknown) => unknown;
  assert.throws(
    () => tc39(() => ({ healthy: true }), { kind: "method", static: false }),
    typeError(/static methods only \(an instance method has no instance to call\)/),
  );
  assert.throws(
    () => tc39(undefined, { kind: "field", static: true }),
    typeError(/^HealthCheck.register: expected a function, got undefined$/),
  );
  assert.deepEqual(health.names, []);
});
