// Tests that would notice (issue #10): each one pins a behaviour of
// src/fallback.ts that a surviving mutant changed without any test failing.
// See docs/mutation-testing.md.
import assert from "node:assert/strict";
import { Fallback, fallback, type Logger, timeout } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

/** A logger that keeps each warning's message and data. */
function dataLogger(): Logger & { warns: [string, Record<string, unknown> | undefined][] } {
  const warns: [string, Record<string, unknown> | undefined][] = [];
  return { warns, info() {}, warn: (m, d) => void warns.push([m, d]), error() {} };
}

test("fallback: each failure is logged with its name, index (primary -1) and error", async () => {
  const log = dataLogger();
  const e0 = new Error("primary down");
  const e1 = new Error("cache down");
  const f = fallback(
    () => {
      throw e1;
    },
    () => "stale",
    { name: "quote", logger: log },
  )(() => {
    throw e0;
  });
  assert.equal(await f(), "stale");
  assert.deepEqual(log.warns, [
    ["Fallback 'quote': option 1/3 failed: Error: primary down", {
      name: "quote",
      index: -1,
      error: e0,
    }],
    ["Fallback 'quote': option 2/3 failed: Error: cache down", {
      name: "quote",
      index: 0,
      error: e1,
    }],
  ]);

  // The chain counts from its first function (index 0).
  const chainLog = dataLogger();
  const fb = new Fallback({ name: "chain", fallbackValue: 0, logger: chainLog });
  fb.add(() => {
    throw e0;
  });
  assert.equal(await fb.execute(), 0);
  assert.deepEqual(chainLog.warns, [
    ["Fallback 'chain': option 1/1 failed: Error: primary down", {
      name: "chain",
      index: 0,
      error: e0,
    }],
  ]);
});

test("fallback: the AggregateError cause names the count and the label", async () => {
  const f = fallback(() => {
    throw new Error("b");
  }, () => {
    throw new Error("c");
  }, { name: "prices", logger: silent })(() => {
    throw new Error("a");
  });
  const e = await f().catch((x) => x);
  assert.ok(e.cause instanceof AggregateError);
  assert.equal(e.cause.message, "All 3 options of 'prices' failed");

  const fb = new Fallback({ logger: silent });
  fb.add(() => {
    throw new Error("x");
  });
  fb.add(() => {
    throw new Error("y");
  });
  const e2 = await fb.execute().catch((x) => x as Error);
  assert.equal((e2 as Error).cause instanceof AggregateError, true);
  assert.equal(
    ((e2 as Error).cause as AggregateError).message,
    "All 2 options of 'fallback' failed",
  );
});

test("fallback: the added cause is an ordinary own property (like Error's): writable, configurable, not enumerable", async () => {
  const last = new Error("last");
  const f = fallback(() => {
    throw last;
  }, { logger: silent })(() => {
    throw new Error("first");
  });
  const e = await f().catch((x) => x);
  assert.equal(e, last);
  const d = Object.getOwnPropertyDescriptor(e, "cause");
  assert.ok(d?.value instanceof AggregateError);
  assert.equal(d.writable, true);
  assert.equal(d.configurable, true);
  assert.equal(d.enumerable, false);
  // Same shape as a cause given to the Error constructor.
  const native = Object.getOwnPropertyDescriptor(new Error("x", { cause: 1 }), "cause");
  assert.deepEqual({ ...d, value: 1 }, native);
  // So user code can replace or drop it.
  e.cause = "replaced";
  assert.equal(e.cause, "replaced");
  delete e.cause;
  assert.equal("cause" in e, false);
});

test("fallback: thrown values that are not objects (strings, functions, null) are thrown untouched", async () => {
  const thrownFn = () => "I am thrown";
  for (const value of ["text", thrownFn, null, 42]) {
    const f = fallback(() => {
      throw value;
    }, { logger: silent })(() => {
      throw new Error("first");
    });
    const got = await f().then(() => "resolved", (x) => x);
    assert.equal(got, value);
    if (typeof value === "function") {
      assert.equal(Object.hasOwn(value, "cause"), false, "no cause added to a thrown function");
    }
  }
});

test("fallback: an error that cannot be extended (frozen) is thrown as is", async () => {
  const frozen = Object.freeze(new Error("frozen"));
  const f = fallback(() => {
    throw frozen;
  }, { logger: silent })(() => {
    throw new Error("first");
  });
  const got = await f().catch((x) => x);
  assert.equal(got, frozen);
  assert.equal("cause" in got, false);
});

test("fallback: with execute, the primary gets the context and the fallbacks no arguments", async () => {
  const seen: unknown[][] = [];
  const policy = fallback(function (...args: unknown[]) {
    seen.push(args);
    return "from fallback";
  }, { logger: silent });
  const out = await policy.execute((ctx) => {
    assert.equal(typeof ctx.signal, "object");
    throw new Error("primary");
  });
  assert.equal(out, "from fallback");
  assert.deepEqual(seen, [[]]);
});

test("Fallback chain: the default name is 'fallback', used in messages", async () => {
  const fb = new Fallback();
  assert.equal(fb.name, "fallback");
  await assert.rejects(fb.execute(), {
    name: "TypeError",
    message: "Fallback 'fallback' has no functions: add() at least one",
  });
});

test("Fallback chain: add refuses a non-function, naming Fallback.add", () => {
  const fb = new Fallback();
  assert.throws(() => fb.add(42 as never), {
    name: "TypeError",
    message: "Fallback.add: expected a function, got number",
  });
  assert.equal(fb.size, 0);
});

test("fallback: one failure alone is thrown without an added cause", async () => {
  const only = new Error("only");
  const f = fallback({ logger: silent })(() => {
    throw only;
  });
  const got = await f().catch((x) => x);
  assert.equal(got, only);
  assert.equal(Object.hasOwn(got, "cause"), false);
});

test("fallback and Fallback: options that are not an object are refused, naming the options", () => {
  for (const bad of [42, "x", null]) {
    assert.throws(() => fallback(bad as never), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^fallback: .*options.* must be an object, got /);
      return true;
    });
    assert.throws(() => new Fallback(bad as never), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^Fallback: .*options.* must be an object, got /);
      return true;
    });
  }
});

test("Fallback chain: executed synchronously after the caller aborted, it runs nothing", async () => {
  const ran: string[] = [];
  const fb = new Fallback<string>({ fallbackValue: "default", logger: silent });
  fb.add(() => {
    ran.push("first");
    return "first";
  });
  const ctl = new AbortController();
  let inner: Promise<unknown> | undefined;
  const outer = timeout(1_000, { clock: new FakeClock() }).execute(() => {
    ctl.abort(new Error("gone"));
    inner = fb.execute();
    return inner;
  }, ctl.signal);
  await assert.rejects(outer, /gone/);
  await assert.rejects(inner!, /gone/);
  assert.deepEqual(ran, []);
});
