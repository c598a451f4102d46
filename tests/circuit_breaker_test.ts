import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  CircuitState,
  clearCircuitBreakers,
  getCircuitBreaker,
  listCircuitBreakers,
  type StateChangeEvent,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, recordingLogger, silent, test } from "./_harness.ts";

const boom = () => Promise.reject(new Error("boom"));
const ok = () => Promise.resolve("ok");

function setup(extra: Parameters<typeof circuitBreaker>[0] = {}) {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const log = recordingLogger();
  const events: StateChangeEvent[] = [];
  const b = circuitBreaker({
    name: "api",
    failureThreshold: 3,
    resetTimeout: 1000,
    halfOpenMaxCalls: 2,
    clock,
    logger: log,
    onStateChange: (e) => events.push(e),
    ...extra,
  });
  return { b, clock, log, events };
}

test("breaker: opens after failureThreshold consecutive failures, logs the seed messages", async () => {
  const { b, clock, log, events } = setup();
  for (let i = 0; i < 2; i++) await assert.rejects(b.execute(boom), /boom/);
  assert.equal(b.state, CircuitState.CLOSED);
  await b.execute(ok); // a success resets the consecutive count
  for (let i = 0; i < 2; i++) await assert.rejects(b.execute(boom));
  assert.equal(b.state, "closed");
  await assert.rejects(b.execute(boom));
  assert.equal(b.state, "open");
  let ran = false;
  const err = await b.execute(() => (ran = true)).catch((e) => e);
  assert.equal(ran, false);
  assert.ok(err instanceof CircuitOpenError);
  assert.equal(err.breakerName, "api");
  assert.equal(err.timeUntilReset, 1000);
  assert.equal(err.message, "Circuit breaker 'api' is open. Resets in 1.0s");
  assert.ok(err instanceof Error);
  assert.equal(err.name, "CircuitOpenError");
  assert.equal(String(err), "CircuitOpenError: Circuit breaker 'api' is open. Resets in 1.0s");
  assert.match(String(err.stack), /^CircuitOpenError: Circuit breaker 'api' is open/);
  // A constructed one is an ordinary error with a stack trace.
  const built = new CircuitOpenError("x", 2000, "open");
  assert.equal(built.message, "Circuit breaker 'x' is open. Resets in 2.0s");
  assert.match(String(built.stack), /at /);
  clock.tick(400);
  assert.equal(b.getTimeUntilReset(), 600);
  clock.tick(600);
  // Reading the state has no side effects: it reports HALF_OPEN, logs nothing.
  assert.equal(b.state, "half_open");
  assert.deepEqual(log.lines, ["WARN Circuit breaker 'api' OPEN after 3 failures"]);
  await b.execute(ok);
  await b.execute(ok);
  assert.equal(b.state, "closed");
  assert.deepEqual(log.lines, [
    "WARN Circuit breaker 'api' OPEN after 3 failures",
    "INFO Circuit breaker 'api' transitioning to HALF_OPEN",
    "INFO Circuit breaker 'api' CLOSED - service recovered",
  ]);
  assert.deepEqual(events.map((e) => `${e.from}>${e.to}:${e.reason}`), [
    "closed>open:failure_threshold",
    "open>half_open:reset_timeout",
    "half_open>closed:recovered",
  ]);
});

test("breaker: any failure in HALF_OPEN re-opens for a full resetTimeout", async () => {
  const { b, clock } = setup({ failureThreshold: 1 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  await assert.rejects(b.execute(boom), /boom/);
  assert.equal(b.state, "open");
  assert.equal(b.getTimeUntilReset(), 1000);
});

test("breaker: HALF_OPEN admits at most halfOpenMaxCalls concurrent trials", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 2 });
  await assert.rejects(b.execute(boom));
  clock.tick(1000);
  const gates = [deferred<string>(), deferred<string>()];
  let started = 0;
  const calls = Array.from({ length: 10 }, () =>
    b.execute(() => {
      return gates[started++].promise;
    }).catch((e) => e));
  await Promise.resolve();
  assert.equal(started, 2);
  assert.equal(b.getStats().halfOpenInFlight, 2);
  gates[0].resolve("a");
  gates[1].resolve("b");
  const results = await Promise.all(calls);
  assert.deepEqual(results.slice(0, 2), ["a", "b"]);
  for (const r of results.slice(2)) {
    assert.ok(r instanceof CircuitOpenError);
    assert.equal(r.state, "half_open");
    assert.equal(r.timeUntilReset, 0);
  }
  assert.equal(b.state, "closed");
  assert.equal(b.getStats().totalRejections, 8);
});

test("breaker: results of calls admitted before a transition are ignored", async () => {
  const { b, clock } = setup({ failureThreshold: 1, halfOpenMaxCalls: 1 });
  // A slow call admitted while CLOSED...
  const slow = deferred<string>();
  const slowCall = b.execute(() => slow.promise);
  await assert.rejects(b.execute(boom)); // ...the circuit opens meanwhile
  assert.equal(b.state, "open");
  slow.resolve("late");
  assert.equal(await slowCall, "late"); // the caller still gets its result
  assert.equal(b.state, "open"); // but a late success cannot close the circuit
  assert.equal(b.getStats().lateResults, 1);

  // A late failure cannot extend the open period either.
  clock.tick(1000);
  const trial = deferred<string>();
  const probe = b.execute(() => trial.promise);
  const old = deferred<string>();
  // old call from before: simulate by resetting and reopening
  trial.resolve("ok");
  await probe;
  assert.equal(b.state, "closed");
  const oldCall = b.execute(() => old.promise);
  b.open();
  old.reject(new Error("late failure"));
  await assert.rejects(oldCall);
  assert.equal(b.getTimeUntilReset(), 1000);
  assert.equal(b.getStats().failureCount, 0);
});

test("breaker: fallback is called with the same arguments when open, not when the call fails", async () => {
  clearCircuitBreakers();
  const seen: unknown[][] = [];
  const b = circuitBreaker({
    failureThreshold: 1,
    logger: silent,
    fallback: (...args: unknown[]): string => {
      seen.push(args);
      return "cached";
    },
  });
  const f = b(async (id: string, n: number) => {
    throw new Error(`fail ${id} ${n}`);
  });
  await assert.rejects(f("a", 1), /fail a 1/);
  assert.equal(await f("b", 2), "cached");
  assert.deepEqual(seen, [["b", 2]]);
});

test("breaker: excluded errors and isFailure do not count", async () => {
  class NotFound extends Error {}
  const { b } = setup({ failureThreshold: 1, excludedErrors: [NotFound] });
  await assert.rejects(b.execute(() => Promise.reject(new NotFound())), NotFound);
  assert.equal(b.state, "closed");
  const c = setup({
    failureThreshold: 1,
    isFailure: (e) => (e as Error).message !== "user error",
  }).b;
  await assert.rejects(c.execute(() => Promise.reject(new Error("user error"))));
  assert.equal(c.state, "closed");
  await assert.rejects(c.execute(boom));
  assert.equal(c.state, "open");
});

test("breaker: stats, timeUntilReset is 0 unless OPEN, reset() clears", async () => {
  const { b, clock } = setup({ failureThreshold: 2 });
  assert.equal(b.getTimeUntilReset(), 0);
  await b.execute(ok);
  await assert.rejects(b.execute(boom));
  let s = b.getStats();
  assert.equal(s.name, "api");
  assert.equal(s.state, "closed");
  assert.equal(s.failureCount, 1);
  assert.equal(s.successCount, 1);
  assert.equal(s.timeUntilReset, 0);
  assert.equal(s.totalCalls, 2);
  assert.equal("storeAvailable" in s, false); // no store, no store status
  await assert.rejects(b.execute(boom));
  clock.tick(100);
  s = b.getStats();
  assert.equal(s.state, "open");
  assert.equal(s.timeUntilReset, 900);
  b.reset();
  s = b.getStats();
  assert.equal(s.state, "closed");
  assert.equal(s.timeUntilReset, 0);
  assert.equal(s.failureCount, 0);
  assert.equal(s.totalCalls, 0);
});

test("breaker: open() trips now; isolate() holds open until released", async () => {
  const { b, clock, events } = setup();
  b.open();
  assert.equal(b.state, "open");
  const release = b.isolate();
  clock.tick(10_000);
  assert.equal(b.state, "open");
  assert.equal(b.getTimeUntilReset(), Infinity);
  await assert.rejects(b.execute(ok), CircuitOpenError);
  release(); // trial calls may start at once
  assert.equal(b.getTimeUntilReset(), 0);
  assert.equal(b.state, "half_open");
  assert.equal(await b.execute(ok), "ok");
  assert.deepEqual(events.map((e) => e.reason), ["manual_open", "reset_timeout"]);
});

test("breaker: registry returns the same breaker; different options throw", () => {
  clearCircuitBreakers();
  const opts = { name: "payments", failureThreshold: 5, logger: silent };
  const a = circuitBreaker(opts);
  assert.equal(circuitBreaker({ ...opts }), a);
  assert.equal(getCircuitBreaker("payments"), a);
  assert.deepEqual(listCircuitBreakers(), [a]);
  assert.throws(
    () => circuitBreaker({ ...opts, failureThreshold: 3 }),
    (e: Error) =>
      e instanceof TypeError && /payments/.test(e.message) &&
      /failureThreshold: 5 vs 3/.test(e.message),
  );
  clearCircuitBreakers();
  assert.equal(getCircuitBreaker("payments"), undefined);
});

test("breaker: unnamed breaker takes the wrapped function's name and is not registered", async () => {
  clearCircuitBreakers();
  const b = circuitBreaker({ failureThreshold: 1, logger: silent });
  const f = b(async function loadUser() {
    throw new Error("x");
  });
  assert.equal(b.name, "loadUser");
  await assert.rejects(f());
  const e = await f().catch((e) => e);
  assert.equal(e.breakerName, "loadUser");
  assert.deepEqual(listCircuitBreakers(), []);
});

test("breaker: listener errors are logged, never break the call; unsubscribe works", async () => {
  const { b, log } = setup({ failureThreshold: 1 });
  const seen: string[] = [];
  const off = b.onStateChange((e) => {
    seen.push(e.to);
    throw new Error("listener bug");
  });
  await assert.rejects(b.execute(boom), /boom/);
  off();
  b.reset();
  assert.deepEqual(seen, ["open"]);
  assert.ok(log.lines.some((l) => l.startsWith("ERROR") && l.includes("listener bug")));
});

test("breaker: decorator with the seed's options on a class method", async () => {
  clearCircuitBreakers();
  class Api {
    calls = 0;
    @circuitBreaker({
      name: "external_api",
      failureThreshold: 5,
      resetTimeout: 60_000,
      halfOpenMaxCalls: 3,
      logger: silent,
    })
    async call(): Promise<string> {
      this.calls++;
      throw new Error("down");
    }
  }
  const api = new Api();
  for (let i = 0; i < 5; i++) await assert.rejects(api.call(), /down/);
  await assert.rejects(api.call(), CircuitOpenError);
  assert.equal(api.calls, 5);
  const cb = getCircuitBreaker("external_api")!;
  assert.equal(cb.state, "open");
  assert.equal(cb.getStats().failureCount, 5);
  assert.ok(cb.getTimeUntilReset() > 59_000);
});

test("breaker: a synchronously throwing function counts as a failure", async () => {
  const { b } = setup({ failureThreshold: 1 });
  const f = b((): number => {
    throw new Error("sync");
  });
  await assert.rejects(f(), /sync/);
  assert.equal(b.state, "open");
});
