// An outage must not become a log storm: messages a policy repeats on every
// call are aggregated (the first at once, then one count per interval), state
// transitions are always logged and print the pending counts first.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  circuitBreaker,
  clearCircuitBreakers,
  compose,
  fallback,
  ResilienceTimeoutError,
  retry,
  setDefaultLogger,
  setLogRepeatInterval,
  timeout,
} from "../mod.ts";
import { flushRepeats, logRepeated } from "../src/logger.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { FC_RUNS, recordingLogger, silent, test } from "./_harness.ts";

const N = 1_000;
const never = () => new Promise<never>(() => {});
const ok = () => Promise.resolve(42);
const boom = () => Promise.reject(new Error("upstream down"));

test("log storm: a fallback answering 1,000 calls while the breaker is open logs once, then a count", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const log = recordingLogger();
  const breaker = circuitBreaker({
    name: "storm",
    failureThreshold: 1,
    resetTimeout: 60_000,
    clock,
    logger: log,
  });
  const f = compose(fallback(() => 0, { logger: log, name: "getUser" }), breaker)(() => {
    return boom();
  });
  assert.equal(await f(), 0); // the failure that opens the circuit
  for (let i = 0; i < N; i++) assert.equal(await f(), 0);
  assert.deepEqual(log.lines, [
    "WARN Circuit breaker 'storm' OPEN after 1 failure",
    "WARN Fallback 'getUser': option 1/2 failed: Error: upstream down",
  ]);
  // The breaker half-opens: the transition prints the count first, then itself.
  clock.tick(60_000);
  const before = log.lines.length;
  assert.equal(await f(), 0); // the trial call fails: OPEN again
  const after = log.lines.slice(before);
  assert.match(
    after[0],
    /^WARN Fallback 'getUser': option 1\/2 failed: CircuitOpenError.* \(repeated 1000 times in the last \d+(\.\d)?s\)$/,
  );
  assert.equal(after[1], "INFO Circuit breaker 'storm' transitioning to HALF_OPEN");
  assert.equal(after[2], "WARN Circuit breaker 'storm' OPEN after a failed trial call");
  clearCircuitBreakers();
});

test("log storm: the default logger gets the same aggregation", async () => {
  clearCircuitBreakers();
  const log = recordingLogger();
  const prev = setDefaultLogger(log);
  try {
    const breaker = circuitBreaker({ name: "storm-default", resetTimeout: 60_000 });
    breaker.open();
    const f = compose(fallback(() => 0), breaker)(ok);
    for (let i = 0; i < N; i++) assert.equal(await f(), 0);
    assert.deepEqual(log.lines.filter((l) => l.includes("Fallback")).length, 1);
    breaker.reset(); // a transition: the count is printed
    assert.match(log.lines.at(-2)!, /\(repeated 999 times in the last \d+(\.\d)?s\)$/);
  } finally {
    setDefaultLogger(prev);
    clearCircuitBreakers();
  }
});

test("log storm: 1,000 timeouts log once, then one count per interval (FakeClock)", async () => {
  const clock = new FakeClock();
  const log = recordingLogger();
  // (Named by option: a bundler may rename the function.)
  const t = timeout(100, { clock, logger: log, fallback: () => "late", name: "search" });
  const search = t(() => {
    return never();
  });
  const burst = async (n: number) => {
    const calls = Array.from({ length: n }, () => search());
    await clock.tickAsync(100);
    assert.ok((await Promise.all(calls)).every((r) => r === "late"));
  };
  await burst(N);
  assert.deepEqual(log.lines, ["WARN Timeout after 100ms: search"]);
  await clock.tickAsync(5_000);
  await burst(1); // within the interval: counted only
  assert.equal(log.lines.length, 1);
  await clock.tickAsync(4_800);
  await burst(1); // the interval is over: this timeout prints the count, itself included
  assert.deepEqual(log.lines.slice(1), [
    "WARN Timeout after 100ms: search (repeated 1001 times in the last 10s)",
  ]);
  // Quiet for a whole interval after the count: the next one is printed at once.
  await clock.tickAsync(10_000);
  await burst(1);
  assert.deepEqual(log.lines.slice(2), ["WARN Timeout after 100ms: search"]);
});

test("log storm: retry messages aggregate per attempt and per giving up; one call still logs each", async () => {
  const clock = new FakeClock();
  const log = recordingLogger();
  const f = retry({ maxAttempts: 3, initialDelay: 0, clock, logger: log, name: "load" })(() => {
    return boom();
  });
  for (let i = 0; i < N; i++) await assert.rejects(f(), /upstream down/);
  assert.deepEqual(log.lines, [
    "WARN Attempt 1/3 failed for load: Error: upstream down. Retrying in 0.00s",
    "WARN Attempt 2/3 failed for load: Error: upstream down. Retrying in 0.00s",
    "ERROR All 2 retries failed for load: Error: upstream down",
  ]);
  clock.tick(10_000);
  await assert.rejects(f(), /upstream down/);
  assert.deepEqual(log.lines.slice(3), [
    "WARN Attempt 1/3 failed for load: Error: upstream down. Retrying in 0.00s (repeated 1000 times in the last 10s)",
    // Any message ends every interval that is over: the other two kinds' counts come with it.
    "WARN Attempt 2/3 failed for load: Error: upstream down. Retrying in 0.00s (repeated 999 times in the last 10s)",
    "ERROR All 2 retries failed for load: Error: upstream down (repeated 999 times in the last 10s)",
  ]);
});

test("log storm: setLogRepeatInterval(0) prints every message; bad values are refused", async () => {
  const clock = new FakeClock();
  const log = recordingLogger();
  const prev = setLogRepeatInterval(0);
  try {
    for (let i = 0; i < 10; i++) logRepeated(log, clock, "warn", "same");
    assert.equal(log.lines.length, 10);
  } finally {
    assert.equal(setLogRepeatInterval(prev), 0);
  }
  for (const bad of [-1, NaN, Infinity, "10" as unknown as number]) {
    assert.throws(() => setLogRepeatInterval(bad), RangeError);
  }
  assert.equal(setLogRepeatInterval(prev), prev);
});

test("log storm: messages, data and kinds: the summary carries the latest message and its data", () => {
  const clock = new FakeClock();
  const lines: [string, string, Record<string, unknown> | undefined][] = [];
  const log = {
    info: (m: string, d?: Record<string, unknown>) => void lines.push(["info", m, d]),
    warn: (m: string, d?: Record<string, unknown>) => void lines.push(["warn", m, d]),
    error: (m: string, d?: Record<string, unknown>) => void lines.push(["error", m, d]),
  };
  logRepeated(log, clock, "warn", "a failed: 1", { n: 1 }, "a");
  logRepeated(log, clock, "error", "b failed", { n: 1 }, "b");
  clock.tick(3);
  logRepeated(log, clock, "warn", "a failed: 2", { n: 2 }, "a");
  clock.tick(4);
  logRepeated(log, clock, "warn", "a failed: 3", { n: 3 }, "a");
  assert.equal(lines.length, 2);
  flushRepeats(log);
  assert.deepEqual(lines[2], [
    "warn",
    "a failed: 3 (repeated 2 times in the last 0s)",
    { n: 3, repeated: 2, repeatedOverMs: 7 },
  ]);
  flushRepeats(log); // nothing waiting: nothing printed
  assert.equal(lines.length, 3);
  clock.tick(9_999);
  logRepeated(log, clock, "error", "b failed", undefined, "b"); // b's interval ended 9 ms ago, quiet
  assert.deepEqual(lines[3], ["error", "b failed", undefined]);
  logRepeated(log, clock, "warn", "a failed: 4", undefined, "a"); // a restarted at the flush: counted
  assert.equal(lines.length, 4);
  clock.tick(1);
  logRepeated(silent, clock, "warn", "other logger"); // other loggers do not sweep this one
  assert.equal(lines.length, 4);
  logRepeated(log, clock, "info", "c", undefined, "c"); // any message sweeps the logger's kinds
  assert.deepEqual(lines.slice(4).map((l) => l[1]), [
    "a failed: 4 (repeated once in the last 10s)",
    "c",
  ]);
});

// The model: per kind, the time of its last printed line and the messages counted since.
type Ev = { kind: number; dt: number } | { flush: true; dt: number };

test("log storm: every message is printed or counted exactly once; at most one line per kind per interval", () => {
  const INTERVAL = 100;
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          { weight: 9, arbitrary: fc.record({ kind: fc.nat(3), dt: fc.nat(60) }) },
          {
            weight: 1,
            arbitrary: fc.record({ flush: fc.constant(true as const), dt: fc.nat(60) }),
          },
        ),
        { maxLength: 80 },
      ),
      (evs: Ev[]) => {
        const prev = setLogRepeatInterval(INTERVAL);
        try {
          const clock = new FakeClock();
          const printed: { kind: number; n: number; at: number }[] = [];
          const log = {
            info() {},
            error() {},
            warn: (m: string, d?: Record<string, unknown>) =>
              void printed.push({
                kind: parseInt(m),
                n: (d?.repeated as number) ?? 1,
                at: clock.now(),
              }),
          };
          const logged = [0, 0, 0, 0];
          const lastLine = new Map<number, number>();
          for (const e of evs) {
            clock.tick(e.dt);
            const before = printed.length;
            const lastBefore = "flush" in e ? undefined : lastLine.get(e.kind);
            if ("flush" in e) flushRepeats(log);
            else {
              logged[e.kind]++;
              logRepeated(log, clock, "warn", String(e.kind));
            }
            for (const p of printed.slice(before)) {
              const last = lastLine.get(p.kind);
              if (!("flush" in e) && last !== undefined) {
                assert.ok(
                  p.at - last >= INTERVAL,
                  `kind ${p.kind} printed twice within an interval`,
                );
              }
              lastLine.set(p.kind, p.at);
            }
            if (!("flush" in e)) {
              // A message whose kind printed nothing in the last interval is printed at once.
              const printedNow = printed.slice(before).some((p) => p.kind === e.kind);
              const last = lastBefore;
              assert.ok(
                printedNow || (last !== undefined && clock.now() - last < INTERVAL),
                "a message after a quiet interval is printed at once",
              );
              // Nothing counted waits past the end of its interval once a message comes.
              for (let k = 0; k < 4; k++) {
                const shown = printed.filter((p) => p.kind === k).reduce((a, p) => a + p.n, 0);
                if (shown < logged[k]) {
                  assert.ok(clock.now() - lastLine.get(k)! < INTERVAL, `kind ${k} waits too long`);
                }
              }
            }
          }
          flushRepeats(log);
          for (let k = 0; k < 4; k++) {
            const sum = printed.filter((p) => p.kind === k).reduce((a, p) => a + p.n, 0);
            assert.equal(sum, logged[k], `kind ${k}: printed + counted = logged`);
          }
        } finally {
          setLogRepeatInterval(prev);
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});

test("a logger that throws never fails the call it logs (retry, timeout, fallback; aggregated or not)", async () => {
  const throwing = {
    info(): void {
      throw new Error("logger down");
    },
    warn(): void {
      throw new Error("logger down");
    },
    error(): void {
      throw new Error("logger down");
    },
  };
  for (const repeat of [10_000, 0]) {
    const prev = setLogRepeatInterval(repeat);
    try {
      const clock = new FakeClock();
      let n = 0;
      const retried = retry({
        maxAttempts: 3,
        initialDelay: 1,
        jitter: false,
        clock,
        logger: throwing,
      })
        .execute(() => {
          if (n++ < 2) throw new Error("flaky");
          return "ok";
        });
      await clock.tickAsync(10);
      assert.equal(await retried, "ok");
      const own = new Error("own");
      const failed = retry({
        maxAttempts: 2,
        initialDelay: 1,
        jitter: false,
        clock,
        logger: throwing,
      })
        .execute(() => Promise.reject(own)).catch((e) => e);
      await clock.tickAsync(10);
      assert.equal(await failed, own);
      const timed = timeout(5, { clock, logger: throwing }).execute(() => new Promise(() => {}))
        .catch((e) => e);
      await clock.tickAsync(5);
      assert.ok((await timed) instanceof ResilienceTimeoutError);
      assert.equal(
        await fallback(() => "fb", { logger: throwing }).execute(() => Promise.reject(own)),
        "fb",
      );
    } finally {
      setLogRepeatInterval(prev);
    }
  }
});
