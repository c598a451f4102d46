// The event channel's contract, for every policy: it emits its events; with no subscriber it
// builds none (every policy checks one flag first); a throwing subscriber changes nothing.
import assert from "node:assert/strict";
import {
  adaptiveConcurrency,
  bulkhead,
  chaos,
  circuitBreaker,
  clearCircuitBreakers,
  fallback,
  hedge,
  MemoryStore,
  policies,
  rateLimiter,
  retry,
  retryBudget,
  setDefaultLogger,
  subscribe,
  type TelemetryEvent,
  timeout,
} from "../mod.ts";
import { built, errorType, flags, outcomeOf } from "../src/telemetry.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";
import { FaultyStore } from "./_stores.ts";

/** Settles `p` into a comparable line: the value, or the error's class and message. */
async function settle(p: Promise<unknown>): Promise<string> {
  try {
    return `ok ${JSON.stringify(await p)}`;
  } catch (e) {
    return `err ${(e as Error).name}: ${(e as Error).message}`;
  }
}

/** Runs `p` while the fake clock moves on, then settles it. */
async function drive(clock: FakeClock, p: Promise<unknown>, ms = 10_000): Promise<string> {
  const s = settle(p);
  await clock.tickAsync(ms);
  return await s;
}

const fail = (message = "boom") => () => Promise.reject(new Error(message));

interface Scenario {
  /** Event types it must emit (with a subscriber that asked for calls). */
  readonly types: readonly string[];
  /** Call outcomes it must report. */
  readonly outcomes: readonly string[];
  /** Runs it with fresh policies; answers what the calls answered. */
  run(clock: FakeClock): Promise<string[]>;
}

const SCENARIOS: Record<string, Scenario> = {
  retry: {
    types: ["policy.created", "attempt", "retry", "call", "budget.refused"],
    outcomes: ["success", "failure"],
    async run(clock) {
      // The user's predicates are asked exactly as often whether or not anyone listens.
      let n = 0;
      let errorChecks = 0;
      let resultChecks = 0;
      const r = retry({
        name: "r",
        maxAttempts: 4,
        initialDelay: 10,
        jitter: false,
        clock,
        logger: silent,
        retryOn: () => (errorChecks++, true),
        retryOnResult: (v) => (resultChecks++, v === 2),
      });
      const first = await drive(
        clock,
        r.execute(() => ++n === 1 ? Promise.reject(new Error(`#${n}`)) : n),
      );
      const budget = retryBudget({ ratio: 0, minPerSecond: 0, clock, name: "b" });
      const stingy = retry({
        name: "s",
        maxAttempts: 3,
        initialDelay: 10,
        clock,
        logger: silent,
        budget,
      });
      return [first, await drive(clock, stingy.execute(fail())), `${errorChecks} ${resultChecks}`];
    },
  },
  circuitBreaker: {
    types: ["policy.created", "breaker.transition", "breaker.rejected", "call"],
    outcomes: ["failure", "rejected", "success"],
    async run(clock) {
      const b = circuitBreaker({ failureThreshold: 1, resetTimeout: 1_000, clock, logger: silent });
      const out = [await settle(b.execute(fail())), await settle(b.execute(() => 1))];
      clock.tick(1_000);
      out.push(await settle(b.execute(() => 2)), b.state);
      return out;
    },
  },
  "circuitBreaker (store)": {
    types: ["policy.created", "store.status"],
    outcomes: ["success"],
    async run(clock) {
      clearCircuitBreakers();
      const faulty = new FaultyStore(new MemoryStore({ clock }));
      const b = circuitBreaker({
        name: "stored",
        store: faulty,
        clock,
        logger: silent,
        storeOptions: { refreshInterval: 0, batchSize: 1, retryInterval: 100 },
      });
      const out = [await settle(b.execute(() => "before"))];
      await b.flush();
      faulty.fault = "throw";
      out.push(await settle(b.execute(() => "during")));
      await b.flush();
      faulty.heal();
      clock.tick(200);
      out.push(await settle(b.execute(() => "after")));
      await b.flush();
      out.push(String(b.getStats().storeAvailable));
      clearCircuitBreakers();
      return out;
    },
  },
  timeout: {
    types: ["policy.created", "timeout", "call"],
    outcomes: ["timeout", "success", "cancelled"],
    async run(clock) {
      const t = timeout(50, { clock, logger: silent });
      const hang = ({ signal }: { signal: AbortSignal }) =>
        new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      const out = [await drive(clock, t.execute(hang), 100), await settle(t.execute(() => 1))];
      const caller = new AbortController();
      const p = settle(t.execute(hang, caller.signal));
      caller.abort(new Error("caller left"));
      out.push(await p);
      return out;
    },
  },
  fallback: {
    types: ["policy.created", "fallback", "call"],
    outcomes: ["success"],
    async run() {
      const f = fallback(() => "fb", { name: "f", logger: silent });
      return [await settle(f.execute(fail())), await settle(f.execute(() => "primary"))];
    },
  },
  bulkhead: {
    types: ["policy.created", "bulkhead.rejected", "call"],
    outcomes: ["success", "rejected"],
    async run() {
      const b = bulkhead({ name: "bh", maxConcurrent: 1 });
      let open!: () => void;
      const first = settle(b.execute(() => new Promise<void>((r) => (open = r)).then(() => 1)));
      const second = await settle(b.execute(() => 2));
      open();
      return [await first, second];
    },
  },
  hedge: {
    types: ["policy.created", "hedge", "attempt", "call"],
    outcomes: ["success"],
    async run(clock) {
      const h = hedge({ name: "h", delay: 10, clock });
      let n = 0;
      const p = h.execute(({ signal }) =>
        ++n === 1
          ? new Promise((_, reject) =>
            signal.addEventListener("abort", () => reject(signal.reason))
          )
          : `attempt ${n}`
      );
      return [await drive(clock, p, 20)];
    },
  },
  rateLimiter: {
    types: ["policy.created", "rate_limit.acquired", "rate_limited", "call"],
    outcomes: ["success", "rejected"],
    async run(clock) {
      const l = rateLimiter({ name: "rl", limit: 1, interval: 1_000, clock, logger: silent });
      return [await settle(l.execute(() => 1)), await settle(l.execute(() => 2))];
    },
  },
  adaptiveConcurrency: {
    types: ["policy.created", "limit.changed", "adaptive.rejected", "call"],
    outcomes: ["success", "rejected"],
    async run(clock) {
      const a = adaptiveConcurrency({
        name: "ac",
        initialLimit: 4,
        clock,
        probeInterval: 0,
        logger: silent,
      });
      const out: string[] = [];
      for (let round = 0; round < 6; round++) {
        const k = a.getStats().limit;
        const calls = Array.from(
          { length: k + 1 },
          (_, i) =>
            settle(
              a.execute(() =>
                new Promise<number>((resolve) => clock.setTimeout(() => resolve(i), 50))
              ),
            ),
        );
        await clock.tickAsync(50);
        out.push((await Promise.all(calls)).join("|"));
      }
      return out;
    },
  },
  chaos: {
    types: ["policy.created", "chaos", "call"],
    outcomes: ["failure"],
    async run(clock) {
      const c = chaos({ name: "monkey", injectionRate: 1, fault: true, clock, random: () => 0 });
      return [await settle(c.execute(() => 1))];
    },
  },
};

/** Runs a scenario and the events it produced, with `listeners` subscribed meanwhile. */
async function observe(
  s: Scenario,
  listeners: ((e: TelemetryEvent) => void)[],
  calls: boolean,
): Promise<string[]> {
  const stops = listeners.map((l) => subscribe(l, { calls }));
  try {
    return await s.run(new FakeClock());
  } finally {
    for (const stop of stops) stop();
  }
}

for (const [kind, s] of Object.entries(SCENARIOS)) {
  test(`telemetry contract: ${kind} emits its events, builds none unobserved, ignores a throwing subscriber`, async () => {
    const log = recordingLogger();
    const previous = setDefaultLogger(log);
    try {
      // 1. No subscriber: one flag checked, no event built.
      assert.equal(flags.on, false);
      const before = built.count;
      const alone = await s.run(new FakeClock());
      assert.equal(built.count, before, `${kind}: events built without a subscriber`);

      // 2. A subscriber with call events: its events, the same answers.
      const seen: TelemetryEvent[] = [];
      const watched = await observe(s, [(e) => seen.push(e)], true);
      assert.deepEqual(watched, alone);
      const types = new Set<string>(seen.map((e) => e.type));
      for (const t of s.types) assert.ok(types.has(t), `${kind}: no '${t}' in ${[...types]}`);
      const outcomes = new Set<string>(seen.flatMap((e) => e.type === "call" ? [e.outcome] : []));
      for (const o of s.outcomes) {
        assert.ok(outcomes.has(o), `${kind}: no '${o}' in ${[...outcomes]}`);
      }
      for (const e of seen) {
        assert.equal(typeof e.kind, "string");
        assert.ok(e.name.length > 0, `${kind}: ${e.type} without a name`);
        // Held weakly: a WeakRef (its target may already be collected — Bun collects early).
        if (e.type === "policy.created") {
          assert.equal(typeof e.policy.deref, "function");
          const p = e.policy.deref();
          assert.ok(p === undefined || p instanceof Object);
        }
        if (e.type === "call" || e.type === "attempt") assert.ok(e.duration >= 0);
      }

      // 3. Without { calls: true }: the same events but no call or attempt events.
      const noCalls: TelemetryEvent[] = [];
      assert.deepEqual(await observe(s, [(e) => noCalls.push(e)], false), alone);
      const perCall = (e: TelemetryEvent) => e.type === "call" || e.type === "attempt";
      assert.ok(!noCalls.some(perCall));
      assert.deepEqual(
        noCalls.map((e) => e.type),
        seen.filter((e) => !perCall(e)).map((e) => e.type),
      );

      // 4. A subscriber that throws on every event: same answers, logged once, others still served.
      log.lines.length = 0;
      const after: TelemetryEvent[] = [];
      const thrower = () => {
        throw new Error("listener boom");
      };
      assert.deepEqual(await observe(s, [thrower, (e) => after.push(e)], true), alone);
      assert.equal(after.length, seen.length);
      const boom = log.lines.filter((l) => l.includes("listener boom"));
      assert.equal(boom.length, 1, log.lines.join("\n"));
      assert.equal(flags.on, false);
      assert.equal(built.count - before, seen.length + noCalls.length + after.length);
    } finally {
      setDefaultLogger(previous);
    }
  });
}

test("telemetry: policies() lists the live policies by kind, held weakly", () => {
  const b = bulkhead({ name: "listed", maxConcurrent: 1 });
  const l = rateLimiter({ name: "listed-rl", limit: 1, interval: 1_000 });
  const mine = policies("bulkhead").filter((p) => p.policy === b);
  assert.deepEqual(mine.map((p) => [p.kind, p.name]), [["bulkhead", "listed"]]);
  assert.ok(policies("rateLimiter").some((p) => p.policy === l && p.name === "listed-rl"));
  assert.ok(policies().some((p) => p.policy === b));
  assert.ok(!policies("retry").some((p) => p.policy === b));
});

test("telemetry: subscribe validates, unsubscribes once, and resets the flags", () => {
  assert.throws(() => subscribe(1 as never), /listener must be a function/);
  assert.throws(
    () => subscribe(() => {}, { call: true } as never),
    /unknown option 'call'.*'calls'/,
  );
  const a = subscribe(() => {});
  const b = subscribe(() => {}, { calls: true });
  assert.deepEqual({ ...flags }, { on: true, calls: true });
  b();
  b();
  assert.deepEqual({ ...flags }, { on: true, calls: false });
  a();
  assert.deepEqual({ ...flags }, { on: false, calls: false });
});

test("telemetry: outcomes and error types", () => {
  class MyError extends Error {}
  assert.equal(errorType(new MyError("x")), "MyError");
  assert.equal(errorType(new TypeError("x")), "TypeError");
  assert.equal(errorType("text"), "string");
  assert.equal(errorType(null), "object");
  assert.equal(outcomeOf(new Error("x"), true), "cancelled");
  for (
    const n of [
      "CircuitOpenError",
      "BulkheadRejectedError",
      "RateLimitedError",
      "AdaptiveConcurrencyRejectedError",
    ]
  ) {
    const e = Object.assign(new Error("x"), { name: n });
    assert.equal(outcomeOf(e, false), "rejected", n);
  }
  assert.equal(
    outcomeOf(Object.assign(new Error("x"), { name: "ResilienceTimeoutError" }), false),
    "timeout",
  );
  assert.equal(outcomeOf(new Error("x"), false), "failure");
});

test("hooks: a throwing onRetry or onInject is logged and never fails the call", async () => {
  const log = recordingLogger();
  const clock = new FakeClock();
  let n = 0;
  const r = retry({
    maxAttempts: 2,
    initialDelay: 10,
    clock,
    logger: log,
    onRetry: () => {
      throw new Error("onRetry boom");
    },
  });
  assert.equal(
    await drive(clock, r.execute(() => ++n === 1 ? Promise.reject(new Error("x")) : n)),
    "ok 2",
  );
  assert.ok(
    log.lines.some((l) => l.startsWith("ERROR") && l.includes("onRetry boom")),
    log.lines.join("\n"),
  );

  const previous = setDefaultLogger(log);
  try {
    const c = chaos({
      injectionRate: 1,
      latency: 1,
      clock,
      onInject: () => {
        throw new Error("onInject boom");
      },
    });
    assert.equal(await drive(clock, c.execute(() => 7)), "ok 7");
    assert.ok(log.lines.some((l) => l.includes("onInject boom")));
  } finally {
    setDefaultLogger(previous);
  }
});
