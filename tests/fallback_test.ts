import assert from "node:assert/strict";
import { Fallback, fallback } from "../mod.ts";
import { silent, test } from "./_harness.ts";

test("fallback: primary result when it works", async () => {
  const f = fallback(() => "cached", { logger: silent })(async (id: string) => `live ${id}`);
  assert.equal(await f("1"), "live 1");
});

test("fallback: tries each fallback in order with the same arguments, then the default", async () => {
  const calls: string[] = [];
  const f = fallback(
    (id: string) => {
      calls.push(`a:${id}`);
      throw new Error("a");
    },
    async (id: string) => {
      calls.push(`b:${id}`);
      return `b ${id}`;
    },
    { logger: silent },
  )(async (id: string) => {
    calls.push(`primary:${id}`);
    throw new Error("primary");
  });
  assert.equal(await f("x"), "b x");
  assert.deepEqual(calls, ["primary:x", "a:x", "b:x"]);
});

test("fallback: every default value is valid, undefined and null included", async () => {
  for (const d of [undefined, null, 0, false, "No data available"]) {
    const f = fallback(() => {
      throw new Error("fb");
    }, { default: d, logger: silent })(() => {
      throw new Error("p");
    });
    assert.equal(await f(), d);
  }
});

test("fallback: without a default the last error is thrown, all errors in its cause", async () => {
  const e1 = new Error("primary");
  const e2 = new Error("cache");
  const f = fallback(() => {
    throw e2;
  }, { logger: silent })(() => {
    throw e1;
  });
  const err = await f().catch((e) => e);
  assert.equal(err, e2);
  assert.ok(err.cause instanceof AggregateError);
  assert.deepEqual(err.cause.errors, [e1, e2]);
  // A cause the last error already has is kept.
  const own = new Error("own cause");
  const e3 = new Error("with cause", { cause: own });
  const g = fallback(() => {
    throw e3;
  }, { logger: silent })(() => {
    throw e1;
  });
  assert.equal((await g().catch((e) => e)).cause, own);
});

test("fallback: shouldFallback decides which errors fall back", async () => {
  class Fatal extends Error {}
  let used = false;
  const f = fallback(() => (used = true), {
    shouldFallback: (e) => !(e instanceof Fatal),
    logger: silent,
  })(() => {
    throw new Fatal("no");
  });
  await assert.rejects(f(), Fatal);
  assert.equal(used, false);
});

test("fallback: decorator keeps this", async () => {
  class Data {
    base = 10;
    @fallback(function (this: Data, n: number) {
      return this.base + n;
    } as never, { logger: silent })
    async live(_n: number): Promise<number> {
      throw new Error("down");
    }
  }
  assert.equal(await new Data().live(5), 15);
});

test("Fallback chain: primary → backup → cache → default, mixed sync and async", async () => {
  const order: string[] = [];
  const fb = new Fallback<string, [string]>({
    name: "data_source",
    defaultValue: "offline_mode",
    logger: silent,
  });
  fb.add(async (k) => {
    order.push("primary");
    throw new Error(`primary ${k}`);
  });
  fb.add((k) => {
    order.push("backup");
    throw new Error(`backup ${k}`);
  });
  const cache = fb.add((k) => {
    order.push("cache");
    return `cache ${k}`;
  });
  assert.equal(typeof cache, "function");
  assert.equal(fb.size, 3);
  assert.equal(await fb.execute("key"), "cache key");
  assert.deepEqual(order, ["primary", "backup", "cache"]);

  const none = new Fallback({ defaultValue: null, logger: silent });
  none.add(() => {
    throw new Error("x");
  });
  assert.equal(await none.execute(), null);
});

test("Fallback chain: no default rethrows the last error; an empty chain is an error", async () => {
  const fb = new Fallback({ logger: silent });
  await assert.rejects(
    fb.execute(),
    (e) => e instanceof TypeError && /no functions/.test(e.message),
  );
  const last = new Error("last");
  fb.add(() => {
    throw new Error("first");
  });
  fb.add(() => {
    throw last;
  });
  const e = await fb.execute().catch((x) => x);
  assert.equal(e, last);
  assert.equal((e.cause as AggregateError).errors.length, 2);
});

test("Fallback chain: add works as a decorator of static methods, not instance methods", async () => {
  const fb = new Fallback<string>({ logger: silent });
  class Sources {
    static label = "from-class";
    @fb.add
    static primary(): string {
      throw new Error("down");
    }
    @fb.add
    static backup(): string {
      return this.label;
    }
  }
  assert.equal(Sources.label, "from-class");
  assert.equal(await fb.execute(), "from-class");
  assert.throws(() => {
    class Bad {
      @fb.add
      instance(): string {
        return "x";
      }
    }
    return Bad;
  }, TypeError);
});
