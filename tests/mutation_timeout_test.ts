// Tests that would notice (issue #10): each one pins a behaviour of
// src/timeout.ts that a surviving mutant changed without any test failing.
// See docs/mutation-testing.md.
import assert from "node:assert/strict";
import { type Logger, ResilienceTimeoutError, timeout, withTimeout } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

/** A logger that keeps each warning's message and data. */
function dataLogger(): Logger & { warns: [string, Record<string, unknown> | undefined][] } {
  const warns: [string, Record<string, unknown> | undefined][] = [];
  return { warns, info() {}, warn: (m, d) => void warns.push([m, d]), error() {} };
}

test("timeout: the warning carries the operation and the deadline as data", async () => {
  const clock = new FakeClock();
  const log = dataLogger();
  // A method keeps its name through bundling (a named function may be renamed).
  const api = {
    lookup(_key: string) {
      return new Promise<string>(() => {});
    },
  };
  const lookup = timeout(250, { clock, logger: log })(api.lookup);
  const p = lookup("k").catch((e) => e);
  await clock.tickAsync(250);
  assert.ok(await p instanceof ResilienceTimeoutError);
  assert.deepEqual(log.warns, [["Timeout after 250ms: lookup", {
    operation: "lookup",
    timeout: 250,
  }]]);

  // The name option replaces the function's name in the message and the data.
  const named = dataLogger();
  const q = timeout(40, { clock, logger: named, name: "quote" })
    .execute(() => new Promise<never>(() => {}))
    .catch((e) => e);
  await clock.tickAsync(40);
  assert.equal((await q).operation, "quote");
  assert.deepEqual(named.warns, [["Timeout after 40ms: quote", {
    operation: "quote",
    timeout: 40,
  }]]);
});

test("timeout and withTimeout: options that are not an object are refused, naming the options", () => {
  for (const bad of [42, "x", null]) {
    assert.throws(() => timeout(10, bad as never), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^timeout: .*options.* must be an object, got /);
      return true;
    });
    assert.throws(() => withTimeout(Promise.resolve(1), 10, bad as never), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^withTimeout: .*options.* must be an object, got /);
      return true;
    });
  }
});

test("timeout: work that fails before the deadline rejects at once with its own error", async () => {
  const clock = new FakeClock();
  const boom = new Error("boom");
  const p = timeout(100, { clock, logger: silent }).execute(async () => {
    await new Promise((r) => clock.setTimeout(() => r(undefined), 10));
    throw boom;
  }).catch((e) => e);
  await clock.tickAsync(10);
  assert.equal(await p, boom);
  assert.equal(clock.pending, 0, "the deadline is cancelled");
});

test("timeout: an already aborted caller runs nothing and starts no deadline", async () => {
  const clock = new FakeClock();
  const ctl = new AbortController();
  const reason = new Error("gone");
  ctl.abort(reason);
  let ran = false;
  await assert.rejects(
    timeout(100, { clock, logger: silent }).execute(() => (ran = true), ctl.signal),
    (e) => e === reason,
  );
  assert.equal(ran, false);
  assert.equal(clock.pending, 0);
});

test("timeout: an outer deadline settles an inner timeout's call at once, with the outer error", async () => {
  const clock = new FakeClock();
  let inner: Promise<unknown> | undefined;
  const outer = timeout(100, { clock, logger: silent, name: "outer" }).execute(() => {
    inner = timeout(1_000, { clock, logger: silent, name: "inner" })
      .execute(() => new Promise<never>(() => {}))
      .catch((e) => e);
    return inner;
  });
  const seen = outer.catch((e) => e);
  let innerAt = -1;
  inner!.then(() => (innerAt = clock.now()));
  await clock.tickAsync(100);
  const e = await seen;
  assert.ok(e instanceof ResilienceTimeoutError);
  assert.equal(e.operation, "outer");
  assert.equal(await inner, e);
  assert.equal(innerAt, 100);
  assert.equal(clock.pending, 0, "the inner deadline is cancelled");
});
