import assert from "node:assert/strict";
import { ResilienceTimeoutError, timeout, withTimeout } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

const never = () => new Promise<never>(() => {});

test("timeout: rejects with ResilienceTimeoutError and aborts the context signal", async () => {
  const clock = new FakeClock();
  const log = recordingLogger();
  let signal: AbortSignal | undefined;
  const p = timeout(5000, { clock, logger: log }).execute(async (ctx) => {
    signal = ctx.signal;
    await never();
  }).catch((e) => e);
  await clock.tickAsync(4999);
  assert.equal(signal!.aborted, false);
  await clock.tickAsync(1);
  const e = await p;
  assert.ok(e instanceof ResilienceTimeoutError);
  assert.equal(e.timeout, 5000);
  assert.equal(signal!.aborted, true);
  assert.equal(signal!.reason, e);
  assert.deepEqual(log.lines, ["WARN Timeout after 5000ms: anonymous"]);
  assert.equal(clock.pending, 0);
});

test("timeout: really aborts a fetch-like operation that listens to the signal", async () => {
  let aborted = false;
  const slowFetch = (signal: AbortSignal) =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => resolve("late"), 10_000);
      signal.addEventListener("abort", () => {
        aborted = true;
        clearTimeout(t);
        reject(signal.reason);
      });
    });
  const f = timeout(20, { logger: silent })(function load() {
    return slowFetch(currentSignal());
  });
  await assert.rejects(f(), (e) => e instanceof ResilienceTimeoutError && e.operation === "load");
  assert.equal(aborted, true);
});

import { currentContext } from "../mod.ts";
function currentSignal(): AbortSignal {
  return currentContext()!.signal;
}

test("timeout: fallback is called with the same arguments and this", async () => {
  const clock = new FakeClock();
  class Lookup {
    prefix = "cached:";
    @timeout(100, {
      clock,
      logger: silent,
      fallback: function (this: Lookup, key: string) {
        return this.prefix + key;
      } as never,
    })
    async get(_key: string): Promise<string> {
      return await never();
    }
  }
  const p = new Lookup().get("k");
  await clock.tickAsync(100);
  assert.equal(await p, "cached:k");
});

test("timeout: a ResilienceTimeoutError thrown by the work is not mistaken for ours", async () => {
  const inner = new ResilienceTimeoutError("inner-op", 1);
  const fallbackCalls: unknown[] = [];
  const f = timeout(10_000, { fallback: () => fallbackCalls.push(1), logger: silent })(() => {
    throw inner;
  });
  await assert.rejects(f(), (e) => e === inner);
  assert.deepEqual(fallbackCalls, []);
});

test("timeout: fast work resolves and clears its timer", async () => {
  const clock = new FakeClock();
  const f = timeout(1000, { clock })(async (x: number) => x * 2);
  assert.equal(await f(21), 42);
  assert.equal(clock.pending, 0);
});

test("timeout: the caller's abort rejects at once with its reason", async () => {
  const clock = new FakeClock();
  const ctl = new AbortController();
  let signal: AbortSignal | undefined;
  const p = timeout(10_000, { clock }).execute((ctx) => {
    signal = ctx.signal;
    return never();
  }, ctl.signal);
  ctl.abort(new Error("client went away"));
  await assert.rejects(p, /client went away/);
  assert.equal(signal!.aborted, true);
  assert.equal(clock.pending, 0);
});

test("timeout: custom error message", async () => {
  await assert.rejects(
    timeout(5, { errorMessage: "too slow", logger: silent }).execute(never),
    /^ResilienceTimeoutError: too slow$/,
  );
});

test("withTimeout: promise, function and every fallback value", async () => {
  const clock = new FakeClock();
  assert.equal(await withTimeout(Promise.resolve(1), 100, { clock }), 1);
  for (const fallbackValue of [undefined, null, 0, "", "timeout_default"]) {
    const p = withTimeout(never(), 100, { clock, fallbackValue });
    await clock.tickAsync(100);
    assert.equal(await p, fallbackValue);
  }
  const p = withTimeout(never(), 100, { clock });
  const r = p.catch((e) => e);
  await clock.tickAsync(100);
  const e = await r;
  assert.ok(e instanceof ResilienceTimeoutError);
  assert.equal(e.operation, "withTimeout");
  assert.equal(e.timeout, 100);

  let sig: AbortSignal | undefined;
  const q = withTimeout(
    ({ signal }) => {
      sig = signal;
      return never();
    },
    50,
    { clock, fallbackValue: "fb" },
  );
  await clock.tickAsync(50);
  assert.equal(await q, "fb");
  assert.equal(sig!.aborted, true);
  assert.equal(clock.pending, 0);
});

test("withTimeout: a promise that rejects after the deadline is handled", async () => {
  // The promise rejects only once the deadline has passed (no race between two real
  // timers: under load a 5 ms timer can fire before a 1 ms one set later).
  let fail!: (e: Error) => void;
  const late = new Promise((_, reject) => (fail = reject));
  await assert.rejects(withTimeout(late, 1), ResilienceTimeoutError);
  fail(new Error("late"));
  await new Promise((r) => setTimeout(r, 10)); // the late rejection must not be unhandled
});

test("withTimeout: caller signal", async () => {
  const ctl = new AbortController();
  const p = withTimeout(never(), 10_000, { signal: ctl.signal });
  ctl.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
});

import { sharedDeadlineTimer, sharedTimerArmed, stopIdleScheduler } from "../src/scheduler.ts";

test("timeout: with the system clock, deadlines share one timer (outside Workers)", async () => {
  assert.equal(sharedDeadlineTimer(), true);
  let armed = 0;
  const real = globalThis.setTimeout;
  globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => {
    armed++;
    return real(...a);
  }) as typeof setTimeout;
  try {
    const t = timeout(10_000);
    for (let i = 0; i < 100; i++) assert.equal(await t.execute(() => i), i);
    // 100 deadlines, at most one real timer (armed for the first deadline).
    assert.ok(armed <= 1, `armed ${armed} timers`);
    // Concurrent deadlines of several durations still fire on time.
    const slow = () => new Promise(() => {});
    const results = await Promise.all(
      [30, 10, 20].map((ms) => timeout(ms).execute(slow).catch((e) => e.timeout)),
    );
    assert.deepEqual(results, [30, 10, 20]);
  } finally {
    globalThis.setTimeout = real;
  }
  assert.equal(stopIdleScheduler(), 0);
}, { runtimes: ["deno", "node", "bun"], why: "Workers use per-request timers" });

test("timeout: the shared timer stops by itself soon after the last deadline ends", async () => {
  const t = timeout(60_000);
  assert.equal(await t.execute(() => 1), 1);
  assert.equal(sharedTimerArmed(), true); // armed at most 250 ms ahead, not 60 s
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(sharedTimerArmed(), false); // it fired, found nothing due, and stopped
}, { runtimes: ["deno", "node", "bun"], why: "Workers use per-request timers" });

test("timeout: an already aborted caller signal runs nothing and starts no deadline", async () => {
  const clock = new FakeClock();
  const reason = new Error("client went away");
  const ctl = new AbortController();
  ctl.abort(reason);
  let calls = 0;
  const fallbackCalls: unknown[] = [];
  const policy = timeout(1000, { clock, logger: silent, fallback: () => fallbackCalls.push(1) });
  await assert.rejects(policy.execute(() => calls++, ctl.signal), (e) => e === reason);
  await assert.rejects(
    withTimeout(() => calls++, 1000, { clock, signal: ctl.signal, fallbackValue: 0 }),
    (e) => e === reason,
  );
  assert.equal(calls, 0);
  assert.deepEqual(fallbackCalls, []);
  assert.equal(clock.pending, 0);
});

test("timeout: the caller's abort is not answered by the timeout's fallback", async () => {
  const clock = new FakeClock();
  const ctl = new AbortController();
  const fallbackCalls: unknown[] = [];
  const p = timeout(1000, { clock, logger: silent, fallback: () => fallbackCalls.push(1) })
    .execute(never, ctl.signal);
  await clock.tickAsync(500);
  ctl.abort(new Error("gone"));
  await assert.rejects(p, /gone/);
  await clock.tickAsync(1000);
  assert.deepEqual(fallbackCalls, []);
  assert.equal(clock.pending, 0);
});

test("timeout: nested timeouts — the earliest deadline wins, with its own error", async () => {
  for (const [outerMs, innerMs] of [[100, 50], [50, 100]]) {
    const clock = new FakeClock();
    const log = recordingLogger();
    let signal: AbortSignal | undefined;
    const f = timeout(outerMs, { clock, logger: log, name: "outer" })(
      timeout(innerMs, { clock, logger: log, name: "inner" })(() => {
        signal = currentSignal();
        return never();
      }),
    );
    const p = f().catch((e) => e);
    await clock.tickAsync(Math.min(outerMs, innerMs));
    const e = await p;
    assert.ok(e instanceof ResilienceTimeoutError);
    assert.equal(e.timeout, Math.min(outerMs, innerMs));
    assert.equal(e.operation, innerMs < outerMs ? "inner" : "outer");
    assert.equal(signal!.reason, e);
    assert.equal(clock.pending, 0, "both deadlines cleared");
    assert.deepEqual(log.lines, [`WARN Timeout after ${e.timeout}ms: ${e.operation}`]);
  }
});

test("timeout: the warning carries the operation and the deadline", async () => {
  const clock = new FakeClock();
  const seen: unknown[] = [];
  const logger = {
    info() {},
    warn: (_m: string, meta?: unknown) => void seen.push(meta),
    error() {},
  };
  const p = timeout(250, { clock, logger, name: "lookup" }).execute(never).catch((e) => e);
  await clock.tickAsync(250);
  assert.ok((await p) instanceof ResilienceTimeoutError);
  assert.deepEqual(seen, [{ operation: "lookup", timeout: 250 }]);
});
