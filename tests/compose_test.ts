import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  compose,
  currentContext,
  fallback,
  getCircuitBreaker,
  ResilienceTimeoutError,
  retry,
  timeout,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

test("compose: the seed's stacked decorators run breaker → retry → timeout → fallback → fn", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const order: string[] = [];
  const cachedFallback = () => {
    order.push("fallback");
    return "last_known_good";
  };
  class Api {
    @circuitBreaker({ name: "api", failureThreshold: 5, clock, logger: silent })
    @retry({ maxAttempts: 3, initialDelay: 500, clock, logger: silent })
    @timeout(10_000, { clock, logger: silent })
    @fallback(cachedFallback, { logger: silent })
    async reliableApiCall(): Promise<string> {
      order.push(`fn attempt ${currentContext()!.attempt}`);
      throw new Error("external api down");
    }
  }
  // The fallback is innermost: it catches fn's error, so retry, timeout and
  // the breaker all see a success.
  assert.equal(await new Api().reliableApiCall(), "last_known_good");
  assert.deepEqual(order, ["fn attempt 1", "fallback"]);
  assert.equal(getCircuitBreaker("api")!.getStats().totalSuccesses, 1);
});

test("compose(a, b, c)(fn) equals the decorators @a @b @c, outermost first", async () => {
  const trace: string[] = [];
  const tracer = (name: string) =>
    fallback(() => {
      trace.push(`${name} fallback`);
      throw new Error(name);
    }, { logger: silent });
  const f = compose(tracer("outer"), tracer("inner"))(() => {
    trace.push("fn");
    throw new Error("fn");
  });
  await assert.rejects(f(), /outer/);
  assert.deepEqual(trace, ["fn", "inner fallback", "outer fallback"]);
});

test("compose: recommended order — fallback(breaker(retry(timeout(fn))))", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  let calls = 0;
  const signals: AbortSignal[] = [];
  const resilient = compose(
    fallback(() => "cached", { logger: silent }),
    circuitBreaker({ name: "upstream", failureThreshold: 2, clock, logger: silent }),
    retry({ maxAttempts: 3, initialDelay: 100, jitter: false, clock, logger: silent }),
    timeout(1000, { clock, logger: silent }),
  );
  const call = resilient(async (id: string) => {
    calls++;
    signals.push(currentContext()!.signal);
    await new Promise(() => {}); // hangs: every attempt times out
    return id;
  });
  const p = call("1");
  await clock.tickAsync(1000 + 100 + 1000 + 200 + 1000);
  assert.equal(await p, "cached");
  assert.equal(calls, 3);
  assert.ok(signals.every((s) => s.aborted && s.reason instanceof ResilienceTimeoutError));
  const b = getCircuitBreaker("upstream")!;
  assert.equal(b.getStats().failureCount, 1); // one logical failure after retries
  // Second logical failure opens the breaker; the third call is answered by the fallback at once.
  const p2 = call("2");
  await clock.tickAsync(3300);
  assert.equal(await p2, "cached");
  assert.equal(b.state, "open");
  const before = calls;
  assert.equal(await call("3"), "cached");
  assert.equal(calls, before);
  assert.equal(clock.pending, 0);
});

test("compose: execute passes context and caller signal through every layer", async () => {
  const ctl = new AbortController();
  const policy = compose(
    retry({ maxAttempts: 2, initialDelay: 0, logger: silent }),
    timeout(10_000),
  );
  let seen: AbortSignal | undefined;
  const p = policy.execute(({ signal, attempt }) => {
    seen = signal;
    assert.equal(attempt, 1);
    return new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  }, ctl.signal);
  ctl.abort(new Error("cancelled by caller"));
  await assert.rejects(p, /cancelled by caller/);
  assert.equal(seen!.aborted, true);
});

test("compose: open breaker as the outermost layer fails fast without calling fn", async () => {
  clearCircuitBreakers();
  const b = circuitBreaker({ name: "x", failureThreshold: 1, logger: silent });
  b.open();
  let calls = 0;
  const f = compose(b, retry({ initialDelay: 0, logger: silent }))(() => calls++);
  await assert.rejects(f(), CircuitOpenError);
  assert.equal(calls, 0);
});

test("compose: rejects non-policies", () => {
  assert.throws(() => compose(), TypeError);
  assert.throws(() => compose((() => {}) as never), /argument #1 is not a policy/);
});

test("compose: wrapped functions keep their name, so every layer logs the operation", async () => {
  const { recordingLogger } = await import("./_harness.ts");
  const log = recordingLogger();
  const f = compose(retry({ maxAttempts: 2, initialDelay: 0, logger: log }), timeout(1000))(
    function loadProfile() {
      throw new Error("x");
    },
  );
  assert.equal(f.name, "loadProfile");
  await assert.rejects(f());
  assert.ok(log.lines.every((l) => l.includes("loadProfile")), log.lines.join("\n"));
});

test("retry does not hammer an open circuit: it stops when the reset is beyond maxDelay", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const b = circuitBreaker({ name: "hammer", resetTimeout: 60_000, clock, logger: silent });
  b.open();
  let calls = 0;
  const retries: number[] = [];
  const f = retry({
    maxAttempts: 5,
    initialDelay: 10,
    maxDelay: 1000,
    clock,
    logger: silent,
    onRetry: (e) => retries.push(e.delay),
  })(b(() => calls++));
  const err = await f().catch((e) => e);
  assert.ok(err instanceof CircuitOpenError);
  assert.equal(err.timeUntilReset, 60_000);
  assert.equal(b.getStats().totalRejections, 1); // one breaker call, not five
  assert.deepEqual(retries, []);
  assert.equal(calls, 0);
  assert.equal(clock.pending, 0);
});

test("retry waits out CircuitOpenError.timeUntilReset when it fits within maxDelay", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const b = circuitBreaker({ name: "wait", resetTimeout: 1000, clock, logger: silent });
  b.open();
  let calls = 0;
  const retries: number[] = [];
  const f = retry({
    maxAttempts: 3,
    initialDelay: 10,
    maxDelay: 2000,
    jitter: false,
    clock,
    logger: silent,
    onRetry: (e) => retries.push(e.delay),
  })(b(() => ++calls));
  const p = f();
  await clock.tickAsync(999);
  assert.equal(calls, 0);
  assert.deepEqual(retries, [1000]);
  await clock.tickAsync(1);
  assert.equal(await p, 1); // the trial call, once the circuit half-opened
  assert.equal(b.getStats().totalRejections, 1);
});

test("compose (recommended order): a recovering upstream sees at most halfOpenMaxCalls calls per trial period", async () => {
  for (const order of ["recommended", "retry inside breaker"] as const) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    let upstream = 0;
    const breaker = circuitBreaker({
      name: `order ${order}`,
      failureThreshold: 1,
      resetTimeout: 1000,
      halfOpenMaxCalls: 3,
      clock,
      logger: silent,
    });
    const r = retry({
      maxAttempts: 3,
      initialDelay: 100,
      maxDelay: 500,
      jitter: false,
      clock,
      logger: silent,
    });
    const total = timeout(60_000, { clock, logger: silent });
    const attempt = timeout(1000, { clock, logger: silent });
    const policy = order === "recommended"
      ? compose(total, r, breaker, attempt)
      : compose(breaker, r, attempt);
    const call = policy(async () => {
      upstream++;
      await Promise.resolve();
      throw new Error("still down");
    });
    breaker.open();
    await clock.tickAsync(1000); // half-open: a trial period starts
    let settled = 0;
    const calls = Array.from({ length: 6 }, () =>
      call().catch((e) => {
        settled++;
        return e;
      }));
    await clock.tickAsync(100);
    if (order === "recommended") {
      // Each attempt is one breaker call: 3 trials reach the upstream, they fail and re-open
      // the circuit; every retry then meets a reset 900 ms away (> maxDelay) and stops.
      assert.equal(upstream, 3);
      assert.equal(settled, 6);
      const errors = await Promise.all(calls);
      assert.equal(errors.filter((e) => e instanceof CircuitOpenError).length, 6);
      assert.ok(breaker.getStats().totalRejections <= 2 * 6);
    } else {
      // What the old recommendation gave: each trial permit runs a whole retry loop.
      await clock.tickAsync(1000);
      await Promise.all(calls);
      assert.equal(upstream, 9); // halfOpenMaxCalls × maxAttempts
    }
    assert.equal(clock.pending, 0);
  }
});

test("compose: an already aborted caller signal runs no layer and rejects with its reason", async () => {
  clearCircuitBreakers();
  const reason = new Error("client went away");
  const ctl = new AbortController();
  ctl.abort(reason);
  const b = circuitBreaker({ name: "aborted-before", failureThreshold: 1, logger: silent });
  let calls = 0;
  const policy = compose(b, retry({ initialDelay: 0, logger: silent }), timeout(1000));
  await assert.rejects(policy.execute(() => calls++, ctl.signal), (e) => e === reason);
  assert.equal(calls, 0);
  assert.equal(b.getStats().totalCalls, 0);
  assert.equal(b.getStats().failureCount, 0);
});

test("compose (recommended order): the caller aborting during each step rejects with its reason, no fallback", async () => {
  for (const when of ["attempt 1", "backoff", "attempt 2", "after"] as const) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const ctl = new AbortController();
    const reason = new Error(`gone during ${when}`);
    let calls = 0;
    const signals: AbortSignal[] = [];
    const policy = compose(
      fallback({ fallbackValue: "stale", logger: silent }),
      timeout(10_000, { clock, logger: silent }),
      retry({ maxAttempts: 3, initialDelay: 100, jitter: false, clock, logger: silent }),
      circuitBreaker({ name: `abort ${when}`, failureThreshold: 5, clock, logger: silent }),
      timeout(1000, { clock, logger: silent }),
    );
    const p = policy.execute(({ signal }) => {
      calls++;
      signals.push(signal);
      if (when === "after") return "live";
      // The first attempt fails after 50 ms; the second hangs until aborted.
      return new Promise((resolve, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason));
        if (calls === 1) clock.setTimeout(() => reject(new Error("flaky")), 50);
        else void resolve;
      });
    }, ctl.signal);
    const at = { "attempt 1": 10, backoff: 100, "attempt 2": 200, after: 10 }[when];
    await clock.tickAsync(at);
    ctl.abort(reason);
    if (when === "after") {
      assert.equal(await p, "live");
    } else {
      await assert.rejects(p, (e) => e === reason, when);
      // The running attempt's work is cancelled with the caller's reason.
      if (when !== "backoff") assert.equal(signals.at(-1)!.reason, reason, when);
    }
    assert.equal(calls, when === "attempt 2" ? 2 : 1, when);
    await clock.tickAsync(20_000);
    assert.equal(calls, when === "attempt 2" ? 2 : 1, `${when}: nothing runs after the abort`);
    assert.equal(clock.pending, 0, when);
  }
});

test("retry gives up at once on a breaker held open by hand (isolate)", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const b = circuitBreaker({ name: "isolated", resetTimeout: 10, clock, logger: silent });
  const release = b.isolate();
  let calls = 0;
  const f = retry({ maxAttempts: 5, initialDelay: 1, maxDelay: 60_000, clock, logger: silent })(
    b(() => calls++),
  );
  await assert.rejects(f(), (e) => e instanceof CircuitOpenError && e.isolated);
  assert.equal(b.getStats().totalRejections, 1);
  assert.equal(calls, 0);
  assert.equal(clock.pending, 0);
  release();
});
