// What a review of the event channel found, each pinned: a cancelled waiting rate-limited call is
// `canceled` only; `attempt.handled` says whether another attempt followed (false when the budget
// refuses); every hedged attempt reports (losers as cancelled); an unnamed policy has one name in
// every event; hooks and subscribers are fed from one emission under one guard rule.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  fallback,
  hedge,
  rateLimiter,
  retry,
  retryBudget,
  subscribe,
  type TelemetryEvent,
  timeout,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

/** Runs `fn` with a subscriber (call events included); answers the events it saw. */
async function watch(fn: () => Promise<unknown>): Promise<TelemetryEvent[]> {
  const seen: TelemetryEvent[] = [];
  const stop = subscribe((e) => void seen.push(e), { calls: true });
  try {
    await fn();
  } finally {
    stop();
  }
  return seen;
}

const hang = ({ signal }: { signal: AbortSignal }) =>
  new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));

test("rate limiter: a waiting call its caller cancels is canceled only, never also acquired", async () => {
  const clock = new FakeClock();
  const l = rateLimiter({ name: "rl-wait", limit: 1, interval: 1_000, maxWait: 1_000, clock });
  const seen = await watch(async () => {
    await l.execute(() => "first");
    // Cancelled during its wait (a reservation): canceled, its permit given back.
    const caller = new AbortController();
    const waiting = assert.rejects(l.execute(() => "never", caller.signal), /caller left/);
    await clock.tickAsync(100);
    caller.abort(new Error("caller left"));
    await waiting;
    // Not cancelled: acquired once its wait is over, with the time it waited.
    const third = l.execute(() => "third");
    await clock.tickAsync(1_000);
    assert.equal(await third, "third");
  });
  const rl = seen.filter((e) => e.type.startsWith("rate_limit"));
  assert.deepEqual(
    rl.map((e) => e.type === "rate_limit.acquired" ? `acquired ${e.waited}` : e.type),
    ["acquired 0", "rate_limit.canceled", "acquired 900"],
  );
});

test("retry: attempt.handled is true only when another attempt follows (false when the budget refuses)", async () => {
  const clock = new FakeClock();
  const budget = retryBudget({ ratio: 0, minPerSecond: 0, clock, name: "tight" });
  const r = retry({
    name: "budgeted",
    maxAttempts: 5,
    initialDelay: 10,
    clock,
    logger: silent,
    budget,
  });
  const seen = await watch(async () => {
    const p = assert.rejects(r.execute(() => Promise.reject(new TypeError("down"))), TypeError);
    await clock.tickAsync(10_000);
    await p;
  });
  const attempts = seen.flatMap((e) =>
    e.type === "attempt" ? [[e.attempt, e.handled, e.outcome]] : []
  );
  // The budget refuses the retry: none follows attempt 1, which the strategy did not handle.
  assert.deepEqual(attempts, [[1, false, "failure"]]);
  assert.equal(seen.filter((e) => e.type === "retry").length, 0);
  assert.equal(seen.filter((e) => e.type === "budget.refused").length, 1);

  // Without a budget: every attempt but the last is followed by another; a result not retried
  // and an error not retried are not handled.
  const plain = retry({
    maxAttempts: 3,
    initialDelay: 10,
    clock,
    logger: silent,
    retryOn: (e) => (e as Error).message !== "fatal",
  });
  const more = await watch(async () => {
    const p = assert.rejects(plain.execute(() => Promise.reject(new Error("flaky"))));
    await clock.tickAsync(10_000);
    await p;
    await assert.rejects(plain.execute(() => Promise.reject(new Error("fatal"))));
  });
  assert.deepEqual(
    more.flatMap((e) => e.type === "attempt" ? [[e.attempt, e.handled]] : []),
    [[1, true], [2, true], [3, false], [1, false]],
  );
});

test("hedge: every attempt launched reports once, losers as cancelled with their duration", async () => {
  const clock = new FakeClock();
  const h = hedge({ name: "hedged", delay: 10, maxHedges: 2, clock });
  let n = 0;
  const seen = await watch(async () => {
    const p = h.execute((ctx) => ++n === 3 ? Promise.resolve("third") : hang(ctx));
    await clock.tickAsync(30);
    assert.equal(await p, "third");
    // The caller gives up while two attempts run: both report cancelled.
    const caller = new AbortController();
    const q = assert.rejects(h.execute(hang, caller.signal), /caller left/);
    await clock.tickAsync(15);
    caller.abort(new Error("caller left"));
    await q;
  });
  const attempts = seen.flatMap((e) =>
    e.type === "attempt" ? [[e.attempt, e.outcome, e.handled, e.duration >= 0]] : []
  );
  assert.deepEqual(attempts.slice(0, 3).sort(), [
    [1, "cancelled", false, true],
    [2, "cancelled", false, true],
    [3, "success", false, true],
  ]);
  assert.deepEqual(attempts.slice(3).sort(), [
    [1, "cancelled", false, true],
    [2, "cancelled", false, true],
  ]);
  assert.equal(seen.filter((e) => e.type === "hedge").length, 3);
});

test("naming: an unnamed policy has one name (its kind) in every event, whatever it wraps", async () => {
  const clock = new FakeClock();
  let n = 0;
  const seen = await watch(async () => {
    const r = retry({ maxAttempts: 2, initialDelay: 1, clock, logger: silent });
    const fetchUser = r(() => ++n === 1 ? Promise.reject(new Error("x")) : n);
    const p = fetchUser();
    await clock.tickAsync(10);
    assert.equal(await p, 2);
    const t = timeout(5, { clock, logger: silent });
    const q = assert.rejects(t.execute(hang));
    await clock.tickAsync(10);
    await q;
    const f = fallback(() => "fb", { logger: silent });
    assert.equal(
      await f(function getPrice() {
        throw new Error("down");
      })(),
      "fb",
    );
    const h = hedge({ delay: 5, clock });
    const hp = h.execute((ctx) => n++ % 2 === 0 ? hang(ctx) : Promise.resolve("ok"));
    await clock.tickAsync(10);
    assert.equal(await hp, "ok");
  });
  const names = new Map<string, Set<string>>();
  for (const e of seen) {
    if (!["retry", "timeout", "fallback", "hedge"].includes(e.kind)) continue;
    const set = names.get(e.kind) ?? new Set();
    set.add(`${e.name}`);
    names.set(e.kind, set);
  }
  assert.deepEqual(Object.fromEntries([...names].map(([k, v]) => [k, [...v]])), {
    retry: ["retry"],
    timeout: ["timeout"],
    fallback: ["fallback"],
    hedge: ["hedge"],
  });
  // Each kind reported more than one type of event under that one name.
  const types = (k: string) => new Set(seen.filter((e) => e.kind === k).map((e) => e.type));
  for (const k of ["retry", "timeout", "fallback", "hedge"]) {
    assert.ok(types(k).has("policy.created") && types(k).has("call"), `${k}: ${[...types(k)]}`);
  }
});

test("hooks: onRetry, onStateChange and the channel get the same event from one emission; a throwing hook is logged once", async () => {
  const log = recordingLogger();
  const clock = new FakeClock();
  const fromHook: unknown[] = [];
  const fromChannel: unknown[] = [];
  const stop = subscribe((e) => {
    if (e.type === "retry" || e.type === "breaker.transition") fromChannel.push(e.event);
  });
  try {
    const r = retry({
      name: "hooked",
      maxAttempts: 4,
      initialDelay: 1,
      clock,
      logger: log,
      onRetry: (e) => {
        fromHook.push(e);
        throw new Error("onRetry boom");
      },
    });
    const p = assert.rejects(r.execute(() => Promise.reject(new Error("x"))));
    await clock.tickAsync(100);
    await p;
    const b = circuitBreaker({
      failureThreshold: 1,
      resetTimeout: 10,
      clock,
      logger: log,
      onStateChange: (e) => {
        fromHook.push(e);
        return Promise.reject(new Error("onStateChange boom"));
      },
    });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(b.execute(() => Promise.reject(new Error("down"))));
      clock.tick(10);
    }
    await clock.tickAsync(0);
  } finally {
    stop();
  }
  // The very same event objects, in the same order: one emission feeds both.
  assert.equal(fromHook.length, 3 + 5); // 3 retries; open, half-open, open, half-open, open
  assert.deepEqual(fromChannel.length, fromHook.length);
  fromHook.forEach((e, i) => assert.equal(e, fromChannel[i]));
  // Each throwing (or rejecting) hook logged once, however often it failed.
  const errors = log.lines.filter((l) => l.startsWith("ERROR"));
  assert.equal(errors.filter((l) => l.includes("onRetry boom")).length, 1, errors.join("\n"));
  assert.equal(errors.filter((l) => l.includes("onStateChange boom")).length, 1, errors.join("\n"));
});
