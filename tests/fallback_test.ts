import assert from "node:assert/strict";
import { compose, Fallback, fallback, retry, setDefaultLogger, timeout } from "../mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

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
    }, { fallbackValue: d, logger: silent })(() => {
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
    fallbackValue: "offline_mode",
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

  const none = new Fallback({ fallbackValue: null, logger: silent });
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

test("fallback: an already aborted caller signal runs nothing and rejects with its reason", async () => {
  const reason = new Error("client went away");
  const ctl = new AbortController();
  ctl.abort(reason);
  const ran: string[] = [];
  const policy = fallback(() => ran.push("fallback"), { fallbackValue: "stale", logger: silent });
  await assert.rejects(policy.execute(() => ran.push("primary"), ctl.signal), (e) => e === reason);
  // The same through compose, and through a wrapper called inside the aborted call.
  await assert.rejects(
    compose(policy, retry({ logger: silent })).execute(() => ran.push("primary"), ctl.signal),
    (e) => e === reason,
  );
  const wrapped = policy(() => ran.push("primary"));
  await assert.rejects(
    compose(timeout(1000)).execute(() => wrapped(), ctl.signal),
    (e) => e === reason,
  );
  assert.deepEqual(ran, []);
});

test("fallback: the caller's own cancellation is not answered by a fallback", async () => {
  for (const how of ["reason", "other error"] as const) {
    const ctl = new AbortController();
    const ran: string[] = [];
    const policy = fallback(() => ran.push("fallback"), { fallbackValue: "stale", logger: silent });
    const p = policy.execute(
      ({ signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () =>
            // Either the signal's reason (like fetch) or an error of its own, after the abort.
            reject(how === "reason" ? signal.reason : new Error("socket closed")))
        ),
      ctl.signal,
    );
    ctl.abort(new Error("client went away"));
    const e = await p.catch((x) => x as Error);
    assert.equal((e as Error).message, how === "reason" ? "client went away" : "socket closed");
    assert.deepEqual(ran, [], how);
  }
});

test("fallback: a caller abort during a fallback function stops the chain (no default)", async () => {
  const ctl = new AbortController();
  const ran: string[] = [];
  const policy = fallback(
    () => {
      ran.push("first");
      ctl.abort(new Error("gone"));
      throw new Error("first failed");
    },
    () => ran.push("second"),
    { fallbackValue: "stale", logger: silent },
  );
  await assert.rejects(
    policy.execute(() => Promise.reject(new Error("primary")), ctl.signal),
    /first failed/,
  );
  assert.deepEqual(ran, ["first"]);
});

test("fallback: an abort after the call settled changes nothing", async () => {
  const ctl = new AbortController();
  const policy = fallback({ fallbackValue: "stale", logger: silent });
  assert.equal(await policy.execute(() => Promise.reject(new Error("x")), ctl.signal), "stale");
  ctl.abort();
  assert.equal(await policy.execute(() => "live"), "live");
});

test("Fallback chain: inside a call whose caller aborted, the chain stops", async () => {
  const ctl = new AbortController();
  const ran: string[] = [];
  const fb = new Fallback({ fallbackValue: "default", logger: silent });
  fb.add(() => {
    ran.push("first");
    ctl.abort(new Error("gone"));
    throw new Error("first failed");
  });
  fb.add(() => {
    ran.push("second");
    return "second";
  });
  await assert.rejects(compose(timeout(1000)).execute(() => fb.execute(), ctl.signal), /gone/);
  assert.deepEqual(ran, ["first"]);
  // Already aborted: nothing runs.
  await assert.rejects(compose(timeout(1000)).execute(() => fb.execute(), ctl.signal), /gone/);
  assert.deepEqual(ran, ["first"]);
});

test("fallback: without a logger option the default logger gets the failures", async () => {
  const log = recordingLogger();
  const before = setDefaultLogger(log);
  try {
    const f = fallback({ fallbackValue: 0, name: "quote" })(() => {
      throw new Error("down");
    });
    assert.equal(await f(), 0);
    const fb = new Fallback({ name: "chain", fallbackValue: 0 });
    fb.add(() => {
      throw new Error("down");
    });
    assert.equal(await fb.execute(), 0);
  } finally {
    setDefaultLogger(before);
  }
  assert.deepEqual(log.lines, [
    "WARN Fallback 'quote': option 1/1 failed: Error: down",
    "WARN Fallback 'chain': option 1/1 failed: Error: down",
  ]);
});

test("fallback: a single failure is thrown as is, without an AggregateError cause", async () => {
  const e1 = new Error("only");
  const f = fallback({ logger: silent })(() => {
    throw e1;
  });
  const got = await f().catch((e) => e);
  assert.equal(got, e1);
  assert.equal("cause" in got, false);
  const fb = new Fallback({ logger: silent });
  const e2 = new Error("only one");
  fb.add(() => {
    throw e2;
  });
  const got2 = await fb.execute().catch((e) => e);
  assert.equal(got2, e2);
  assert.equal("cause" in got2, false);
});

test("fallback: shouldFallback given error classes works like a predicate", async () => {
  class Transient extends Error {}
  for (const shouldFallback of [Transient, [Transient]]) {
    const f = fallback({ fallbackValue: "stale", shouldFallback, logger: silent });
    assert.equal(await f.execute(() => Promise.reject(new Transient())), "stale");
    await assert.rejects(f.execute(() => Promise.reject(new TypeError("bug"))), TypeError);
  }
});

test("fallback: what the log and the AggregateError say", async () => {
  const calls: [string, unknown][] = [];
  const logger = {
    info() {},
    warn: (m: string, meta?: unknown) => void calls.push([m, meta]),
    error() {},
  };
  const e1 = new Error("a");
  const e2 = new Error("b");
  const f = fallback(() => {
    throw e2;
  }, { logger, name: "quote" })(() => {
    throw e1;
  });
  const err = await f().catch((e) => e);
  assert.deepEqual(calls, [
    ["Fallback 'quote': option 1/2 failed: Error: a", { name: "quote", index: -1, error: e1 }],
    ["Fallback 'quote': option 2/2 failed: Error: b", { name: "quote", index: 0, error: e2 }],
  ]);
  assert.equal(err.cause.message, "All 2 options of 'quote' failed");
  const d = Object.getOwnPropertyDescriptor(err, "cause")!;
  assert.equal(d.configurable, true);
  assert.equal(d.writable, true);
  assert.equal(d.enumerable, false);
  // A chain without a name is called "fallback".
  const log2: string[] = [];
  const fb = new Fallback({ logger: { info() {}, warn: (m) => void log2.push(m), error() {} } });
  assert.equal(fb.name, "fallback");
  fb.add(() => {
    throw new Error("x");
  });
  await assert.rejects(fb.execute());
  assert.deepEqual(log2, ["Fallback 'fallback': option 1/1 failed: Error: x"]);
  assert.throws(() => {
    class Bad {
      @fb.add
      instance(): string {
        return "x";
      }
    }
    return Bad;
  }, /^TypeError: Fallback\.add: can decorate functions and static methods only/);
});

test("fallback: thrown non-objects are rethrown as they are", async () => {
  const f = fallback(() => {
    throw "second";
  }, { logger: silent })(() => {
    throw "first";
  });
  await assert.rejects(f(), (e) => e === "second");
});

test("fallback: under execute, the fallbacks get no arguments", async () => {
  const f = fallback((...args: unknown[]) => args.length, { logger: silent });
  assert.equal(await f.execute(() => Promise.reject(new Error("x"))), 0);
});

test("Fallback chain: started inside a call whose caller has already aborted, nothing runs", async () => {
  const ctl = new AbortController();
  const ran: string[] = [];
  const fb = new Fallback({ fallbackValue: "default", logger: silent });
  fb.add(() => ran.push("first"));
  const p = compose(timeout(1000)).execute(() => {
    ctl.abort(new Error("gone"));
    return fb.execute(); // the timeout's scope, aborted with the caller's reason
  }, ctl.signal);
  await assert.rejects(p, /gone/);
  assert.deepEqual(ran, []);
});
