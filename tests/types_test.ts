// Type tests, checked by `deno check` (deno task check, and `deno test` before running):
// result types include what a fallback can answer, and each `@ts-expect-error` marks an
// assignment that must not compile. The runtime test below checks the same values.
import assert from "node:assert/strict";
import {
  compose,
  Fallback,
  fallback,
  type FallbackOf,
  type FallbackValues,
  type Policy,
  retry,
  timeout,
} from "../mod.ts";
import { silent, test } from "./_harness.ts";

const f = async (x: number) => x * 2;
const fails = async (_x: number): Promise<number> => {
  throw new Error("down");
};

// fallback: the default's type joins the result.
export const a: (x: number) => Promise<number | null> = fallback({ fallbackValue: null })(f);
// @ts-expect-error the default null is a possible result
export const a2: (x: number) => Promise<number> = fallback({ fallbackValue: null })(f);
// … and so do the fallback functions' results.
export const b: (x: number) => Promise<number | string | undefined> = fallback(
  () => "cached",
  { fallbackValue: undefined },
)(f);
// @ts-expect-error undefined (the default) is a possible result
export const b2: (x: number) => Promise<number | string> = fallback(() => "cached", {
  fallbackValue: undefined,
})(f);
// A fallback of the same type and no fallbackValue: unchanged.
export const c: (x: number) => Promise<number> = fallback(async () => 0)(f);
// execute too.
export const e: Promise<number | null> = fallback({ fallbackValue: null }).execute(() => 1);
// @ts-expect-error null is a possible result
export const e2: Promise<number> = fallback({ fallbackValue: null }).execute(() => 1);

// timeout(ms, { fallback }).
export const t: (x: number) => Promise<number | "late"> = timeout(100, {
  fallback: () => "late" as const,
})(f);
// @ts-expect-error "late" is a possible result
export const t2: (x: number) => Promise<number> = timeout(100, { fallback: () => "late" })(f);
export const t3: (x: number) => Promise<number> = timeout(100, { logger: silent })(f);
// An async fallback counts with its awaited type.
export const t4: Promise<number | boolean> = timeout(100, { fallback: async () => true })
  .execute(() => 1);

// The Fallback chain: its third type parameter is the default's type.
const chain = new Fallback<number, [string], null>({ fallbackValue: null, logger: silent });
chain.add((s) => fails(s.length));
export const ch: Promise<number | null> = chain.execute("x");
// @ts-expect-error null is a possible result
export const ch2: Promise<number> = chain.execute("x");
// @ts-expect-error a default of another type needs the third type parameter
new Fallback<number>({ fallbackValue: null });

// compose: the union of every layer's.
const composed = compose(
  fallback({ fallbackValue: null }),
  retry(),
  timeout(100, { fallback: () => "late" as const }),
)(f);
export const co: (x: number) => Promise<number | null | "late"> = composed;
// @ts-expect-error "late" is a possible result
export const co2: (x: number) => Promise<number | null> = composed;
export const co3: (x: number) => Promise<number> = compose(retry(), timeout(10))(f);
export const co4: Promise<string | null> = compose(fallback({ fallbackValue: null }), retry())
  .execute(() => "x");

// FallbackOf and FallbackValues.
export const fo: FallbackOf<Policy<null> | Policy<"x">> = null;
// @ts-expect-error a retry policy answers nothing of its own
export const fo2: FallbackOf<ReturnType<typeof retry>> = null;
export const fv: FallbackValues<[() => Promise<string>, { fallbackValue: 0 }]> = "s";

// Decorators cannot change a method's declared type (the seed's own example decorates a method
// whose body returns nothing with a fallback that returns an object): declare what it answers.
export class Service {
  @fallback({ fallbackValue: 0, logger: silent })
  async ok(): Promise<number> {
    return await fails(1);
  }

  @fallback({ fallbackValue: null, logger: silent })
  async nullable(): Promise<number | null> {
    return await fails(1);
  }
}

test("types: the values the types describe", async () => {
  assert.equal(await fallback({ fallbackValue: null, logger: silent })(fails)(1), null);
  assert.equal(await fallback(() => "cached", { logger: silent })(fails)(1), "cached");
  assert.equal(await new Service().ok(), 0);
  assert.equal(await chain.execute("x"), null);
  assert.equal(await new Service().nullable(), null);
});

test("types: a breaker's result type includes what its fallback returns", async () => {
  const { circuitBreaker: cb, clearCircuitBreakers: clear } = await import("../mod.ts");
  clear();
  const withFallback = cb({ name: "typed-fallback", fallback: () => ({ cached: true }) });
  const get = withFallback(() => Promise.resolve({ live: 1 }));
  const r: { live: number } | { cached: boolean } = await get();
  // @ts-expect-error: the fallback's value is part of the type, so this cannot be narrowed away
  const onlyLive: { live: number } = await get();
  const plain = cb({ name: "typed-plain" })(() => Promise.resolve(1));
  const n: number = await plain();
  if (r === undefined || onlyLive === undefined || n !== 1) throw new Error("unreachable");
  clear();
});
