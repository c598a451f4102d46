// edge-resilience/otel against the OpenTelemetry SDK's in-memory readers and exporters:
// metric names, units and attributes; circuit state read from live breakers; span events on
// the active span (and dropped quietly without a context manager); no provider logged once.
import { resetWarnings } from "../src/otel/warn_once.ts";
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Context,
  context,
  type ContextManager,
  ROOT_CONTEXT,
  trace,
} from "@opentelemetry/api";
import {
  type DataPoint,
  type HistogramMetricData,
  MeterProvider,
  MetricReader,
  type SumMetricData,
} from "@opentelemetry/sdk-metrics";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import {
  bulkhead,
  circuitBreaker,
  clearCircuitBreakers,
  fallback,
  hedge,
  policies,
  rateLimiter,
  retry,
  setDefaultLogger,
  timeout,
} from "../mod.ts";
import { Hono } from "hono";
import { routeCircuitBreaker } from "../src/hono/mod.ts";
import { instrument } from "../src/otel/mod.ts";
import { flags } from "../src/telemetry.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

/**
 * The active context in an AsyncLocalStorage: what the SDK's AsyncLocalStorageContextManager does,
 * in a few lines that also run in workerd (node:async_hooks under nodejs_compat).
 */
class AlsContextManager implements ContextManager {
  readonly #als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const f = target as unknown as (...a: unknown[]) => unknown;
    return ((...a: unknown[]) => this.with(ctx, f, undefined, ...a)) as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

class TestReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function sdk() {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  /** Every metric collected now, by name. */
  const collect = async () => {
    const { resourceMetrics, errors } = await reader.collect();
    assert.deepEqual(errors, []);
    const out = new Map<string, SumMetricData | HistogramMetricData>();
    for (const s of resourceMetrics.scopeMetrics) {
      assert.equal(s.scope.name, "edge-resilience");
      for (const m of s.metrics) {
        out.set(m.descriptor.name, m as SumMetricData | HistogramMetricData);
      }
    }
    return out;
  };
  return { meterProvider, tracerProvider, exporter, collect };
}

type Point = DataPoint<unknown>;
const points = (m: { dataPoints: Point[] } | undefined) => m?.dataPoints ?? [];
const find = (m: { dataPoints: Point[] } | undefined, attrs: Record<string, unknown>) =>
  points(m).filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v));

test(
  "otel: call and attempt durations in seconds, events, transitions, circuit state",
  async () => {
    clearCircuitBreakers();
    const s = sdk();
    const telemetry = instrument({
      meterProvider: s.meterProvider,
      tracerProvider: s.tracerProvider,
      attributes: (e) => ({ "service.tier": "edge", "policy.kind": "overridden?" + e.kind }),
    });
    try {
      const clock = new FakeClock();
      let n = 0;
      const r = retry({
        name: "fetch-user",
        maxAttempts: 3,
        initialDelay: 10,
        jitter: false,
        clock,
        logger: silent,
      });
      const p = r.execute(() => ++n < 3 ? Promise.reject(new TypeError("flaky")) : "ok");
      await clock.tickAsync(100);
      assert.equal(await p, "ok");

      const b = circuitBreaker({
        name: "otel-api",
        failureThreshold: 1,
        resetTimeout: 1_000,
        clock,
        logger: silent,
      });
      const unnamed = circuitBreaker({ failureThreshold: 1, clock, logger: silent });
      await assert.rejects(b.execute(() => Promise.reject(new Error("down"))));
      await assert.rejects(b.execute(() => 1), { name: "CircuitOpenError" });
      const t = timeout(5, { clock, logger: silent });
      const hung = assert.rejects(
        t.execute(({ signal }) =>
          new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)))
        ),
        { name: "ResilienceTimeoutError" },
      );
      await clock.tickAsync(10);
      await hung;

      const m = await s.collect();
      const calls = m.get("edge_resilience.call.duration") as HistogramMetricData;
      assert.equal(calls.descriptor.unit, "s");
      const ok = find(calls, {
        "policy.kind": "retry",
        "policy.name": "fetch-user",
        outcome: "success",
      });
      assert.equal(ok.length, 1);
      assert.equal((ok[0].value as { count: number }).count, 1);
      assert.equal(ok[0].attributes["service.tier"], "edge", "the user's attributes are added");
      assert.equal(
        find(calls, {
          "policy.name": "otel-api",
          outcome: "rejected",
          "error.type": "CircuitOpenError",
        }).length,
        1,
      );
      assert.equal(
        find(calls, { "policy.name": "otel-api", outcome: "failure", "error.type": "Error" })
          .length,
        1,
      );
      assert.equal(find(calls, { "policy.kind": "timeout", outcome: "timeout" }).length, 1);

      const attempts = m.get("edge_resilience.attempt.duration") as HistogramMetricData;
      assert.equal(attempts.descriptor.unit, "s");
      assert.deepEqual(
        points(attempts).map((
          p,
        ) => [
          p.attributes["attempt.number"],
          p.attributes["attempt.handled"],
          p.attributes["error.type"] ?? null,
        ]).sort(),
        [[1, true, "TypeError"], [2, true, "TypeError"], [3, false, null]],
      );

      const events = m.get("edge_resilience.events") as SumMetricData;
      assert.equal(events.descriptor.unit, "{event}");
      const count = (attrs: Record<string, unknown>) =>
        find(events, attrs).reduce((a, p) => a + (p.value as number), 0);
      assert.equal(
        count({ "event.name": "retry", "policy.name": "fetch-user", "error.type": "TypeError" }),
        2,
      );
      assert.equal(count({ "event.name": "circuit.opened", "policy.name": "otel-api" }), 1);
      assert.equal(count({ "event.name": "rejected", "policy.kind": "circuitBreaker" }), 1);
      assert.equal(count({ "event.name": "timeout" }), 1);

      const tr = m.get("edge_resilience.circuit.transitions") as SumMetricData;
      assert.deepEqual(
        find(tr, { "policy.name": "otel-api" }).map((
          p,
        ) => [p.attributes.from, p.attributes.to, p.attributes.reason]),
        [["closed", "open", "failure_threshold"]],
      );

      const state = m.get("edge_resilience.circuit.state") as SumMetricData;
      assert.equal(state.descriptor.unit, "{circuit}");
      const of = (name: string) =>
        Object.fromEntries(
          find(state, { "policy.name": name }).map((p) => [p.attributes["circuit.state"], p.value]),
        );
      // Every live breaker of the process by default: an OPEN one is reported first (other files'
      // breakers may be alive in this process: Bun runs every file in one).
      assert.deepEqual(of("otel-api"), { closed: 0, open: 1, half_open: 0 });

      // Scoped to this test's breakers: exactly them, the unnamed one (not in the registry) and
      // CLOSED ones included.
      const mine = sdk();
      const scoped = instrument({
        meterProvider: mine.meterProvider,
        tracerProvider: mine.tracerProvider,
        breakers: [b, unnamed],
      });
      try {
        const st = (await mine.collect()).get("edge_resilience.circuit.state") as SumMetricData;
        const series = points(st).map((p) =>
          `${p.attributes["policy.name"]} ${p.attributes["circuit.state"]} ${p.value}`
        ).sort();
        assert.deepEqual(series, [
          "anonymous closed 1",
          "anonymous half_open 0",
          "anonymous open 0",
          "otel-api closed 0",
          "otel-api half_open 0",
          "otel-api open 1",
        ]);
        assert.equal(unnamed.name, "anonymous");
      } finally {
        scoped.stop();
      }
    } finally {
      telemetry.stop();
      telemetry.stop();
      clearCircuitBreakers();
    }
  },
);

test("otel: route breakers are read live for circuit.state, by their route names", async () => {
  clearCircuitBreakers();
  const s = sdk();
  const telemetry = instrument({
    meterProvider: s.meterProvider,
    tracerProvider: s.tracerProvider,
  });
  const anonymous = () => policies("circuitBreaker").filter((p) => p.name === "anonymous").length;
  try {
    const before = anonymous();
    const app = new Hono();
    const mw = routeCircuitBreaker({ name: "orders", failureThreshold: 1, logger: silent });
    app.use("/api/*", mw);
    app.get("/api/down", (c) => c.text("broken", 502));
    app.get("/api/up", (c) => c.text("fine"));
    assert.equal((await app.request("/api/down")).status, 502);
    assert.equal((await app.request("/api/down")).status, 503);
    assert.equal((await app.request("/api/up")).status, 200);
    const state = (await s.collect()).get("edge_resilience.circuit.state") as SumMetricData;
    const of = (name: string) =>
      Object.fromEntries(
        find(state, { "policy.name": name }).map((p) => [p.attributes["circuit.state"], p.value]),
      );
    // By default (every breaker of the process): the OPEN one, reported first (a namesake of
    // another file alive in this process would add its own counts).
    assert.ok(of("orders:GET /api/down").open >= 1, JSON.stringify(of("orders:GET /api/down")));
    // Scoped to this middleware: exactly its two circuits.
    const mine = sdk();
    const scoped = instrument({
      meterProvider: mine.meterProvider,
      tracerProvider: mine.tracerProvider,
      breakers: [mw],
    });
    try {
      const st = (await mine.collect()).get("edge_resilience.circuit.state") as SumMetricData;
      assert.deepEqual(
        points(st).filter((p) => p.value === 1).map((p) =>
          `${p.attributes["policy.name"]} ${p.attributes["circuit.state"]}`
        ).sort(),
        ["orders:GET /api/down open", "orders:GET /api/up closed"],
      );
      assert.equal(points(st).length, 6);
    } finally {
      scoped.stop();
    }
    // The breaker made at setup only to check the options is not reported (earlier tests' unnamed
    // breakers may still be alive: none more than before).
    assert.ok(anonymous() <= before);
  } finally {
    telemetry.stop();
  }
});

/** The series of `edge_resilience.circuit.state` with value 1, as "name state" lines. */
async function stateLines(s: ReturnType<typeof sdk>): Promise<string[]> {
  const st = (await s.collect()).get("edge_resilience.circuit.state") as SumMetricData;
  return points(st).filter((p) => p.value === 1).map((p) =>
    `${p.attributes["policy.name"]} ${p.attributes["circuit.state"]}`
  ).sort();
}

test("otel: two apps (tenants) in one process, each instrumented with its own breakers, see only theirs", async () => {
  // (Route middlewares sharing a name share their circuits: each tenant names its own.)
  const tenant = (name: string, upstream: number) => {
    const mw = routeCircuitBreaker({ name, failureThreshold: 1, logger: silent });
    const app = new Hono();
    app.use("/api/*", mw);
    app.get("/api/items", (c) => c.text("", upstream as 200));
    // And an unnamed breaker of its own: every tenant's is "anonymous".
    const own = circuitBreaker({ failureThreshold: 1, logger: silent });
    return { app, mw, own, s: sdk() };
  };
  const a = tenant("orders-a", 502);
  const b = tenant("orders-b", 200);
  const scope = (t: typeof a) =>
    instrument({
      meterProvider: t.s.meterProvider,
      tracerProvider: t.s.tracerProvider,
      breakers: [t.mw, t.own],
    });
  const ta = scope(a);
  const tb = scope(b);
  try {
    for (let i = 0; i < 2; i++) await a.app.request("/api/items");
    await b.app.request("/api/items");
    await assert.rejects(a.own.execute(() => Promise.reject(new Error("down"))));
    // Each tenant's gauge reads its own breakers only (both unnamed ones are "anonymous").
    assert.deepEqual(await stateLines(a.s), ["anonymous open", "orders-a:GET /api/items open"]);
    assert.deepEqual(await stateLines(b.s), [
      "anonymous closed",
      "orders-b:GET /api/items closed",
    ]);
  } finally {
    ta.stop();
    tb.stop();
  }
  assert.throws(
    () => instrument({ breakers: [{}] as never }),
    /'breakers' must be true or an array/,
  );
  assert.throws(() => instrument({ maxBreakers: -1 }), /'maxBreakers'/);
});

test("otel: circuit.state stays under the SDK's cardinality limit, OPEN circuits first (3,000 breakers)", async () => {
  clearCircuitBreakers();
  const s = sdk();
  const telemetry = instrument({
    meterProvider: s.meterProvider,
    tracerProvider: s.tracerProvider,
  });
  try {
    for (let i = 0; i < 3_000; i++) circuitBreaker({ name: `many-${i}`, logger: silent });
    const needle = circuitBreaker({ name: "needle", failureThreshold: 1, logger: silent });
    await assert.rejects(needle.execute(() => Promise.reject(new Error("down"))));
    const st = (await s.collect()).get("edge_resilience.circuit.state") as SumMetricData;
    // 500 names by default: 1,500 series, none in the SDK's overflow series (past 2,000).
    assert.equal(points(st).length, 1_500);
    assert.ok(!points(st).some((p) => p.attributes["otel.metric.overflow"] === true));
    assert.deepEqual(
      find(st, { "policy.name": "needle", "circuit.state": "open" }).map((p) => p.value),
      [1],
    );
    const few = sdk();
    const capped = instrument({
      meterProvider: few.meterProvider,
      tracerProvider: few.tracerProvider,
      maxBreakers: 1,
    });
    try {
      assert.deepEqual(await stateLines(few), ["needle open"]);
    } finally {
      capped.stop();
    }
  } finally {
    telemetry.stop();
    clearCircuitBreakers();
  }
});

test("otel: a route breaker its middleware evicted leaves circuit.state at once (not when collected)", async () => {
  const s = sdk();
  const mw = routeCircuitBreaker({
    name: "evicting",
    key: (c) => c.req.query("k") ?? "",
    maxKeys: 2,
    logger: silent,
  });
  const app = new Hono();
  app.get("/k", mw, (c) => c.text("ok"));
  const telemetry = instrument({
    meterProvider: s.meterProvider,
    tracerProvider: s.tracerProvider,
  });
  try {
    for (const k of ["a", "b", "c"]) assert.equal((await app.request(`/k?k=${k}`)).status, 200);
    assert.deepEqual([...mw.breakers.keys()], ["b", "c"]);
    const names = policies("circuitBreaker").map((p) => p.name).filter((n) =>
      n.startsWith("evicting:")
    );
    assert.deepEqual(names.sort(), ["evicting:b", "evicting:c"]);
    const st = (await s.collect()).get("edge_resilience.circuit.state") as SumMetricData;
    assert.deepEqual(find(st, { "policy.name": "evicting:a" }), []);
  } finally {
    telemetry.stop();
  }
});

test("otel: bulkhead load and rate limiting, never a client key", async () => {
  const s = sdk();
  const telemetry = instrument({
    meterProvider: s.meterProvider,
    tracerProvider: s.tracerProvider,
  });
  try {
    const bh = bulkhead({ name: "otel-bh", maxConcurrent: 1, maxQueue: 1 });
    let open!: () => void;
    const first = bh.execute(() => new Promise<void>((r) => (open = r)));
    const second = bh.execute(() => 2);
    const clock = new FakeClock();
    const rl = rateLimiter({ name: "otel-rl", limit: 1, interval: 1_000, clock, logger: silent });
    await rl.execute(() => 1);
    await assert.rejects(rl.execute(() => 2), { name: "RateLimitedError" });
    await rl.take("client-42");
    await rl.take("client-42");

    let m = await s.collect();
    const running = m.get("edge_resilience.bulkhead.running") as SumMetricData;
    assert.equal(running.descriptor.unit, "{call}");
    assert.deepEqual(find(running, { "policy.name": "otel-bh" }).map((p) => p.value), [1]);
    assert.deepEqual(
      find(m.get("edge_resilience.bulkhead.queued"), { "policy.name": "otel-bh" }).map((p) =>
        p.value
      ),
      [1],
    );
    const req = m.get("edge_resilience.rate_limiting.requests") as SumMetricData;
    const byResult = Object.fromEntries(
      find(req, { "policy.name": "otel-rl" }).map((p) => [p.attributes.result, p.value]),
    );
    assert.deepEqual(byResult, { acquired: 2, limited: 2 });
    assert.ok(
      !JSON.stringify([...m.values()].map((x) => points(x).map((p) => p.attributes))).includes(
        "client-42",
      ),
      "a rate-limit key is never an attribute",
    );
    assert.deepEqual(
      find(m.get("edge_resilience.rate_limiting.queued_requests"), { "policy.name": "otel-rl" })
        .map((p) => p.value),
      [0],
    );
    open();
    await first;
    assert.equal(await second, 2);
    m = await s.collect();
    assert.deepEqual(
      find(m.get("edge_resilience.bulkhead.running"), { "policy.name": "otel-bh" }).map((p) =>
        p.value
      ),
      [0],
    );
  } finally {
    telemetry.stop();
  }
  // Stopped: the observers are detached (the SDK may keep the last value, never a new one).
  let release!: () => void;
  const held = bulkhead({ name: "otel-bh-after", maxConcurrent: 1 })
    .execute(() => new Promise<void>((r) => (release = r)));
  const after = await s.collect();
  assert.deepEqual(
    find(after.get("edge_resilience.bulkhead.running"), { "policy.name": "otel-bh-after" }),
    [],
  );
  release();
  await held;
});

test("otel: span events on the active span; none without a context manager, quietly", async () => {
  const s = sdk();
  const tracer = s.tracerProvider.getTracer("test");
  const telemetry = instrument({
    meterProvider: s.meterProvider,
    tracerProvider: s.tracerProvider,
    callEvents: false,
  });
  const clock = new FakeClock();
  const work = async () => {
    let n = 0;
    const r = retry({
      name: "span-retry",
      maxAttempts: 2,
      initialDelay: 10,
      jitter: false,
      clock,
      logger: silent,
    });
    const p = r.execute(() => ++n < 2 ? Promise.reject(new RangeError("x")) : "ok");
    await clock.tickAsync(20);
    return await p;
  };
  const log = recordingLogger();
  const previous = setDefaultLogger(log);
  try {
    // No context manager: the span is not active inside the callback; nothing breaks.
    context.disable();
    await tracer.startActiveSpan("no-manager", async (span) => {
      assert.equal(await work(), "ok");
      span.end();
    });
    assert.deepEqual(s.exporter.getFinishedSpans()[0].events, []);
    assert.deepEqual(log.lines, []);

    context.setGlobalContextManager(new AlsContextManager());
    s.exporter.reset();
    await tracer.startActiveSpan("with-manager", async (span) => {
      assert.equal(await work(), "ok");
      span.end();
    });
    const [span] = s.exporter.getFinishedSpans();
    assert.deepEqual(span.events.map((e) => e.name), ["edge_resilience.retry"]);
    assert.deepEqual(span.events[0].attributes, {
      "policy.kind": "retry",
      "policy.name": "span-retry",
      "attempt.number": 1,
      "retry.delay": 0.01,
      "error.type": "RangeError",
    });
    // callEvents: false: no call durations.
    assert.equal(
      (await s.collect()).get("edge_resilience.call.duration")?.dataPoints.length ?? 0,
      0,
    );
  } finally {
    setDefaultLogger(previous);
    context.disable();
    telemetry.stop();
  }
});

test("otel: span events for breaker rejections and transitions, timeouts, fallbacks, hedges, refusals", async () => {
  clearCircuitBreakers();
  const s = sdk();
  const tracer = s.tracerProvider.getTracer("test");
  const telemetry = instrument({
    meterProvider: s.meterProvider,
    tracerProvider: s.tracerProvider,
  });
  context.setGlobalContextManager(new AlsContextManager());
  try {
    const clock = new FakeClock();
    const hang = ({ signal }: { signal: AbortSignal }) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
    await tracer.startActiveSpan("request", async (span) => {
      const b = circuitBreaker({ name: "span-cb", failureThreshold: 1, clock, logger: silent });
      await assert.rejects(b.execute(() => Promise.reject(new Error("down"))));
      await assert.rejects(b.execute(() => 1), { name: "CircuitOpenError" });
      const late = assert.rejects(
        timeout(5, { name: "span-t", clock, logger: silent }).execute(hang),
      );
      await clock.tickAsync(10);
      await late;
      assert.equal(
        await fallback(() => "fb", { name: "span-fb", logger: silent }).execute(() =>
          Promise.reject(new TypeError("x"))
        ),
        "fb",
      );
      let n = 0;
      const hedged = hedge({ name: "span-h", delay: 10, clock }).execute((ctx) =>
        ++n === 1 ? hang(ctx) : "second"
      );
      await clock.tickAsync(10);
      assert.equal(await hedged, "second");
      const bh = bulkhead({ name: "span-bh", maxConcurrent: 1 });
      let open!: () => void;
      const held = bh.execute(() => new Promise<void>((r) => (open = r)));
      await assert.rejects(bh.execute(() => 1), { name: "BulkheadRejectedError" });
      open();
      await held;
      span.end();
    });
    const [span] = s.exporter.getFinishedSpans();
    assert.deepEqual(span.events.map((e) => [e.name, e.attributes?.["policy.name"]]), [
      ["edge_resilience.circuit.transition", "span-cb"],
      ["edge_resilience.circuit.rejected", "span-cb"],
      ["edge_resilience.timeout", "span-t"],
      ["edge_resilience.fallback", "span-fb"],
      ["edge_resilience.hedge", "span-h"],
      ["edge_resilience.bulkhead.rejected", "span-bh"],
    ]);
    assert.deepEqual(span.events[0].attributes, {
      "policy.kind": "circuitBreaker",
      "policy.name": "span-cb",
      from: "closed",
      to: "open",
      reason: "failure_threshold",
    });
    assert.equal(span.events[2].attributes?.["timeout.duration"], 0.005);
    assert.equal(span.events[3].attributes?.["error.type"], "TypeError");
  } finally {
    context.disable();
    telemetry.stop();
    clearCircuitBreakers();
  }
});

test("otel: no provider registered: logged once, nothing recorded; options checked", () => {
  const log = recordingLogger();
  const previous = setDefaultLogger(log);
  try {
    trace.disable();
    resetWarnings(); // another file in this process (Bun runs them all in one) may have warned
    const a = instrument();
    const b = instrument();
    // Nothing to record to: no subscription, the policies keep their uninstrumented cost.
    assert.equal(flags.on, false);
    a.stop();
    b.stop();
    const lines = log.lines.filter((l) => l.includes("edge-resilience/otel"));
    assert.equal(lines.length, 2, log.lines.join("\n"));
    assert.match(lines[0], /no MeterProvider/);
    assert.match(lines[1], /no TracerProvider/);
  } finally {
    setDefaultLogger(previous);
  }
  assert.throws(() => instrument({ callEvent: true } as never), /callEvents/);
  assert.throws(() => instrument({ callEvents: 1 as never }), /'callEvents' must be a boolean/);
  assert.throws(() => instrument({ attributes: 1 as never }), /'attributes'/);
});
