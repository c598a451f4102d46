// Decorators as each runtime runs them: tests/_decorated_fixture.ts compiled by the runtime
// itself (TC39), and the legacy form (`experimentalDecorators: true`) called as TypeScript calls it.
// tests/decorators_tsc_test.ts compiles the fixture with tsc in both modes.
import assert from "node:assert/strict";
import { compose, Fallback, fallback, retry, timeout } from "../mod.ts";
import { EXPECTED, run } from "./_decorated_fixture.ts";
import { silent, test } from "./_harness.ts";

test("decorators: the fixture as this runtime compiles it (TC39)", async () => {
  assert.deepEqual(await run(), EXPECTED);
});

test("decorators: a legacy call (target, key, descriptor) wraps descriptor.value", async () => {
  const proto = { base: 1 };
  const method = async function (this: { base: number }, n: number) {
    if (n < 0) throw new Error("negative");
    return this.base + n;
  };
  for (
    const policy of [
      retry({ maxAttempts: 1, logger: silent }),
      timeout(1000),
      fallback({ fallbackValue: 0, logger: silent }),
      compose(fallback({ fallbackValue: 0, logger: silent }), timeout(1000)),
    ]
  ) {
    const d = { value: method, writable: true, enumerable: false, configurable: true };
    const out =
      (policy as unknown as (t: object, k: string, d: PropertyDescriptor) => PropertyDescriptor)(
        proto,
        "m",
        d,
      );
    assert.notEqual(out.value, method);
    assert.equal(out.writable, true);
    assert.equal(out.enumerable, false);
    assert.equal(await out.value.call({ base: 10 }, 5), 15);
  }
  // A getter or a field has no method to wrap: refused at decoration, saying so.
  assert.throws(
    () =>
      (retry() as unknown as (t: object, k: string, d: PropertyDescriptor) => unknown)(
        proto,
        "g",
        { get: () => 1, configurable: true },
      ),
    (e) =>
      e instanceof TypeError && /retry: expected a function to wrap, got undefined/.test(e.message),
  );
  // Fallback.add as a legacy decorator: static methods only.
  const fb = new Fallback<number>({ logger: silent });
  const add = fb.add as unknown as (t: unknown, k: string, d: PropertyDescriptor) => unknown;
  class Src {
    static base = 7;
  }
  const d = {
    value: function (this: typeof Src) {
      return this.base;
    },
    configurable: true,
  };
  assert.equal(add(Src, "get", d), d);
  assert.equal(await fb.execute(), 7);
  assert.throws(
    () => add(Src.prototype, "inst", { value: () => 1 }),
    /static methods only \(an instance method has no instance to call\)/,
  );
});
