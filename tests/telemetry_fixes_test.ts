// What a fresh-eyes review of the event channel found, each pinned: one name per policy in every
// event (adaptive limiters too), a route breaker's real error type and a client that went away as
// `cancelled`, a breaker's `isFailureResult` as a failure, the `Fallback` class announced and
// observed, a throwing listener logged to the policy's logger, frozen events, any thrown value
// described, `calls` checked.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  adaptiveConcurrency,
  circuitBreaker,
  Fallback,
  policies,
  retry,
  setDefaultLogger,
  subscribe,
  type TelemetryEvent,
} from "../mod.ts";
import { routeAdaptiveConcurrency, routeCircuitBreaker } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, recordingLogger, silent, test } from "./_harness.ts";

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
const calls = (seen: TelemetryEvent[]) =>
  seen.flatMap((e) =>
    e.type === "call" ? [`${e.kind} ${e.name} ${e.outcome} ${e.errorType ?? ""}`.trim()] : []
  );

test("adaptiveConcurrency: call events carry its name (given, or 'adaptive'), as every other event", async () => {
  const seen = await watch(async () => {
    await adaptiveConcurrency({ name: "search", logger: silent }).execute(() => 1);
    await adaptiveConcurrency({ logger: silent })(() => 2)();
  });
  assert.deepEqual(calls(seen), [
    "adaptiveConcurrency search success",
    "adaptiveConcurrency adaptive success",
  ]);
  const created = seen.flatMap((e) => e.type === "policy.created" ? [e.name] : []);
  assert.deepEqual(created, ["search", "adaptive"]);
});

test("routeAdaptiveConcurrency: call events carry the middleware's limiter name ('route', or route:key)", async () => {
  const app = new Hono();
  app.get("/a", routeAdaptiveConcurrency({ logger: silent }), (c) => c.text("a"));
  app.get(
    "/b",
    routeAdaptiveConcurrency({ name: "api", key: () => "t1", logger: silent }),
    (c) => c.text("b"),
  );
  const seen = await watch(async () => {
    await app.request("/a");
    await app.request("/b");
  });
  assert.deepEqual(
    calls(seen).filter((c) => c.startsWith("adaptiveConcurrency")),
    ["adaptiveConcurrency route success", "adaptiveConcurrency api:t1 success"],
  );
});

test("routeCircuitBreaker: error.type is the thrown error's or the status; a client gone is cancelled", async () => {
  const mw = routeCircuitBreaker({ failureThreshold: 5, logger: silent });
  const app = new Hono();
  const release = deferred();
  app.get("/503", mw, (c) => c.text("x", 503));
  app.get("/throw", mw, () => {
    throw new RangeError("boom");
  });
  app.get("/500ex", mw, () => {
    throw new HTTPException(500);
  });
  app.get("/slow", mw, async (c) => {
    await release.promise;
    return c.text("x", 503);
  });
  app.onError((e, c) => c.text(String(e), 500));
  const seen = await watch(async () => {
    assert.equal((await app.request("/503")).status, 503);
    assert.equal((await app.request("/throw")).status, 500);
    assert.equal((await app.request("/500ex")).status, 500);
    const client = new AbortController();
    const res = app.request(new Request("http://x/slow", { signal: client.signal }));
    client.abort();
    release.resolve();
    await Promise.resolve(res).catch(() => undefined);
  });
  assert.deepEqual(calls(seen), [
    "circuitBreaker route:GET /503 failure 503",
    "circuitBreaker route:GET /throw failure RangeError",
    "circuitBreaker route:GET /500ex failure HTTPException",
    "circuitBreaker route:GET /slow cancelled AbortError",
  ]);
  // The client that went away is still no failure of the route.
  assert.equal(mw.breakers.get("GET /slow")?.getStats().failureCount, 0);
});

test("circuitBreaker: a value isFailureResult counts as a failure is a failure call (status or FailureResult)", async () => {
  const b = circuitBreaker({
    name: "result-rule",
    failureThreshold: 10,
    isFailureResult: (r) => (r as { status?: number } | null)?.status === 503 || r === "bad",
    logger: silent,
  });
  const seen = await watch(async () => {
    await b.execute(() => new Response("x", { status: 503 }));
    await b.execute(() => "bad");
    await b.execute(() => "good");
  });
  assert.deepEqual(calls(seen), [
    "circuitBreaker result-rule failure 503",
    "circuitBreaker result-rule failure FailureResult",
    "circuitBreaker result-rule success",
  ]);
  assert.equal(b.getStats().totalFailures, 2);
});

test("Fallback class: announced, listed by policies('fallback'), and observed like fallback()", async () => {
  const seen = await watch(async () => {
    const chain = new Fallback<string>({
      name: "data_source",
      fallbackValue: "offline",
      logger: silent,
    });
    chain.add(() => Promise.reject(new RangeError("a")));
    chain.add(() => Promise.reject(new TypeError("b")));
    assert.equal(await chain.execute(), "offline");
    assert.ok(policies("fallback").some((p) => p.policy === chain && p.name === "data_source"));
    const failing = new Fallback({ name: "no-default", logger: silent });
    failing.add(() => Promise.reject(new TypeError("c")));
    await assert.rejects(failing.execute(), TypeError);
  });
  assert.deepEqual(
    seen.filter((e) => e.kind === "fallback").map((e) =>
      e.type === "call"
        ? `call ${e.name} ${e.outcome} ${e.errorType ?? ""}`.trim()
        : `${e.type} ${e.name}`
    ),
    [
      "policy.created data_source",
      "fallback data_source",
      "call data_source success",
      "policy.created no-default",
      "fallback no-default",
      "call no-default failure TypeError",
    ],
  );
});

test("a throwing listener is logged to the emitting policy's logger (else the default one)", async () => {
  const mine = recordingLogger();
  const fallbackDefault = recordingLogger();
  const before = setDefaultLogger(fallbackDefault);
  const stop = subscribe((e) => {
    if (e.type === "retry" || e.type === "breaker.transition") {
      throw new Error(`listener ${e.type}`);
    }
  });
  try {
    const clock = new FakeClock();
    const p = retry({
      name: "r-log",
      maxAttempts: 2,
      initialDelay: 1,
      jitter: false,
      clock,
      logger: mine,
    })
      .execute(() => Promise.reject(new Error("x")));
    const done = assert.rejects(p);
    await clock.tickAsync(5);
    await done;
    const b = circuitBreaker({ name: "b-log", failureThreshold: 1, logger: mine });
    await assert.rejects(b.execute(() => Promise.reject(new Error("down"))));
  } finally {
    stop();
    setDefaultLogger(before);
  }
  const threw = (l: { lines: string[] }) =>
    l.lines.filter((x) => x.includes("telemetry listener threw"));
  assert.equal(threw(mine).length, 1, mine.lines.join("\n")); // once per listener
  assert.match(threw(mine)[0], /listener retry/);
  assert.deepEqual(threw(fallbackDefault), []);
});

test("events are frozen: a listener cannot change what the policy, its hooks or other listeners see", async () => {
  const hookSaw: string[] = [];
  const b = circuitBreaker({
    name: "frozen",
    failureThreshold: 1,
    logger: silent,
    onStateChange: (e) => void hookSaw.push(e.to),
  });
  const otherSaw: string[] = [];
  const stop1 = subscribe((e) => {
    if (e.type === "breaker.transition") {
      (e.event as { to: string }).to = "closed"; // strict mode: throws, logged, ignored
    }
    if (e.type === "call") (e as { outcome: string }).outcome = "success";
  }, { calls: true });
  const stop2 = subscribe((e) => {
    if (e.type === "breaker.transition") otherSaw.push(e.event.to);
    if (e.type === "call") otherSaw.push(e.outcome);
  }, { calls: true });
  try {
    await assert.rejects(b.execute(() => Promise.reject(new Error("down"))));
  } finally {
    stop1();
    stop2();
  }
  assert.deepEqual(hookSaw, ["open"]);
  assert.deepEqual(otherSaw, ["open", "failure"]);
  assert.equal(b.getStats().lastTransition?.to, "open");
  assert.equal(b.state, "open");
});

test("retry passes any thrown value on unchanged (a null-prototype object, null, a string)", async () => {
  for (const logger of [silent, recordingLogger()]) {
    for (const maxAttempts of [1, 2]) {
      for (const thrown of [Object.create(null), null, "a string", undefined]) {
        const clock = new FakeClock();
        const p = retry({ maxAttempts, initialDelay: 1, jitter: false, clock, logger })
          .execute(() => Promise.reject(thrown));
        const caught = p.then(() => "resolved", (e) => e);
        await clock.tickAsync(5);
        assert.equal(await caught, thrown);
      }
    }
  }
});

test("subscribe: a non-boolean `calls` is a TypeError naming it", () => {
  for (const calls of ["yes", 1, null, {}]) {
    assert.throws(
      () => subscribe(() => {}, { calls: calls as unknown as boolean }),
      (e: unknown) => e instanceof TypeError && /'calls'/.test(e.message),
    );
  }
  subscribe(() => {}, { calls: false })();
  subscribe(() => {}, { calls: undefined })();
});
