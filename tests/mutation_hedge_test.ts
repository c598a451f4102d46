// Tests that would notice (issue #10): each one pins a behaviour of
// src/hedge.ts that a surviving mutant changed without any test failing.
// See docs/mutation-testing.md.
import assert from "node:assert/strict";
import { currentContext, hedge, ResilienceError, ResilienceTimeoutError, timeout } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, silent, test } from "./_harness.ts";

async function settle() {
  for (let i = 0; i < 20; i++) await null;
}

test("hedge: an attempt failing after another won starts no further attempt", async () => {
  const clock = new FakeClock();
  const h = hedge({ delay: 10, maxHedges: 2, clock });
  const signals: AbortSignal[] = [];
  const second = deferred<string>();
  const p = h.execute(({ signal }) => {
    signals.push(signal);
    if (signals.length === 2) return second.promise;
    // The first attempt fails as soon as it is aborted (as fetch does).
    return new Promise<string>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason));
    });
  });
  await clock.tickAsync(10);
  assert.equal(signals.length, 2);
  second.resolve("second");
  assert.equal(await p, "second");
  await settle();
  await clock.tickAsync(1_000);
  assert.equal(signals.length, 2, "the loser's failure launched nothing");
  assert.equal(clock.pending, 0);
});

test("hedge: the losers' abort reason names the policy, else the operation", async () => {
  for (const [name, expected] of [["quote", "quote"], [undefined, "lookup"]] as const) {
    const clock = new FakeClock();
    const h = hedge({ delay: 10, clock, ...(name ? { name } : {}) });
    const signals: AbortSignal[] = [];
    // A method keeps its name through bundling (a named function may be renamed).
    const api = {
      lookup() {
        signals.push(currentContext()!.signal);
        return signals.length === 2 ? Promise.resolve("won") : new Promise<never>(() => {});
      },
    };
    const p = h(api.lookup)();
    await clock.tickAsync(10);
    assert.equal(await p, "won");
    const reason = signals[0].reason;
    assert.ok(reason instanceof ResilienceError);
    assert.equal(
      reason.message,
      `Hedged attempt of '${expected}' cancelled: another attempt won`,
    );
    assert.equal(clock.pending, 0);
  }
});

test("hedge: a losing attempt's own policies stop at once when the hedge settles", async () => {
  const clock = new FakeClock();
  const inner: Promise<unknown>[] = [];
  const p = hedge({ delay: 10, clock }).execute(() => {
    const call = timeout(1_000, { clock, logger: silent }).execute(() =>
      inner.length === 1 ? Promise.resolve("fast") : new Promise<never>(() => {})
    );
    inner.push(call.catch((e) => e));
    return call;
  });
  await clock.tickAsync(10);
  assert.equal(await p, "fast");
  const loser = await inner[0];
  assert.ok(loser instanceof ResilienceError, "the first attempt's timeout call was cancelled");
  assert.ok(!(loser instanceof ResilienceTimeoutError));
  assert.equal(clock.pending, 0, "its 1,000 ms deadline is gone");
});

test("hedge: once settled, the winner's signal is detached from the enclosing call", async () => {
  const clock = new FakeClock();
  let winner: AbortSignal | undefined;
  const outer = timeout(100, { clock, logger: silent }).execute(async () => {
    const v = await hedge({ delay: 10, clock }).execute(({ signal }) => {
      winner = signal;
      return "first";
    });
    // The enclosing call goes on (e.g. reading the winner's response) past its deadline.
    await new Promise<never>(() => {});
    return v;
  });
  const done = outer.catch((e) => e);
  await clock.tickAsync(100);
  assert.ok(await done instanceof ResilienceTimeoutError);
  assert.equal(winner!.aborted, false);
});

test("hedge: all attempts failing — the last error keeps its own cause; non-errors are thrown as is", async () => {
  const own = new Error("own cause");
  const withCause = new Error("two", { cause: own });
  let n = 0;
  const e = await hedge({ delay: 1_000 }).execute(() => {
    throw ++n === 1 ? new Error("one") : withCause;
  }).catch((x) => x);
  assert.equal(e, withCause);
  assert.equal(e.cause, own);

  let m = 0;
  const s = await hedge({ delay: 1_000, maxHedges: 2 }).execute(() => {
    throw `failure ${++m}`;
  }).catch((x) => x);
  assert.equal(s, "failure 3");
});

test("hedge: the AggregateError cause says how many attempts failed; it is an ordinary property", async () => {
  let n = 0;
  const e = await hedge({ delay: 1_000, maxHedges: 2 }).execute(() => {
    throw new Error(`attempt ${++n}`);
  }).catch((x) => x);
  assert.equal(e.message, "attempt 3");
  assert.ok(e.cause instanceof AggregateError);
  assert.equal(e.cause.message, "All 3 hedged attempts failed");
  const d = Object.getOwnPropertyDescriptor(e, "cause")!;
  assert.equal(d.writable, true);
  assert.equal(d.configurable, true);
  assert.equal(d.enumerable, false);
});

test("hedge: delay and maxHedges are visible properties of the policy", () => {
  const h = hedge({ delay: 25, maxHedges: 3 });
  assert.equal(h.delay, 25);
  assert.equal(h.maxHedges, 3);
  assert.ok(Object.keys(h).includes("delay"));
  assert.ok(Object.keys(h).includes("maxHedges"));
});

test("hedge: option messages name hedge and the option", () => {
  const cases: [unknown, string, string][] = [
    [
      { delay: 10, name: "" },
      "TypeError",
      `hedge: option 'name' must be a non-empty string, got ""`,
    ],
    [{ delay: 10, clock: 5 }, "TypeError", "hedge: option 'clock' must be an object, got 5"],
    [
      { delay: 0 },
      "RangeError",
      "hedge: option 'delay' must be a finite number > 0 and <= 2147483647, got 0",
    ],
    [undefined, "TypeError", "hedge: option 'delay' is required"],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => hedge(options as never), { name, message });
  }
});
