// What a fresh-eyes review of edge-resilience/otel found, each pinned: second-scale histogram
// buckets, namesake bulkheads and limiters summed (never replacing each other), transitions
// scoped by `breakers` and marked `circuit.remote`, resilientFetch never naming a URL.
import assert from "node:assert/strict";
import {
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
  MeterProvider,
  MetricReader,
  type SumMetricData,
} from "@opentelemetry/sdk-metrics";
import { trace } from "@opentelemetry/api";
import { bulkhead, circuitBreaker, rateLimiter, retry } from "../mod.ts";
import { resilientFetch, routeBulkhead } from "../src/hono/mod.ts";
import { instrument } from "../src/otel/mod.ts";
import { meterRecorder } from "../src/otel/metrics.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

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
  const collect = async () => {
    const { resourceMetrics, errors } = await reader.collect();
    assert.deepEqual(errors, []);
    const out = new Map<string, SumMetricData | HistogramMetricData>();
    for (const s of resourceMetrics.scopeMetrics) {
      for (const m of s.metrics) {
        out.set(m.descriptor.name, m as SumMetricData | HistogramMetricData);
      }
    }
    return out;
  };
  return { meterProvider, collect };
}

type Point = DataPoint<unknown>;
const find = (m: { dataPoints: Point[] } | undefined, attrs: Record<string, unknown>) =>
  (m?.dataPoints ?? []).filter((p) =>
    Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)
  );

test("otel: duration histograms use second-scale buckets (a 30 ms call lands in (0.025, 0.05])", async () => {
  const s = sdk();
  const rec = meterRecorder(s.meterProvider.getMeter("edge-resilience"), (_e, a) => a, {
    breakers: true,
    maxBreakers: 500,
  });
  try {
    rec.record({ type: "call", kind: "retry", name: "b30", outcome: "success", duration: 30 });
    rec.record({
      type: "attempt",
      kind: "retry",
      name: "b30",
      attempt: 1,
      outcome: "success",
      handled: false,
      duration: 30,
    });
    rec.record({ type: "rate_limit.acquired", kind: "rateLimiter", name: "b30", waited: 30 });
    const m = await s.collect();
    for (
      const metric of [
        "edge_resilience.call.duration",
        "edge_resilience.attempt.duration",
        "edge_resilience.rate_limiting.request.time_in_queue",
      ]
    ) {
      const [p] = find(m.get(metric), { "policy.name": "b30" });
      assert.ok(p, metric);
      const h = p.value as Histogram;
      assert.deepEqual(h.buckets.boundaries, [
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1,
        2.5,
        5,
        7.5,
        10,
      ], metric);
      const i = h.buckets.boundaries.indexOf(0.05); // bucket i counts (boundaries[i-1], boundaries[i]]
      assert.equal(h.buckets.boundaries[i - 1], 0.025);
      assert.equal(h.buckets.counts[i], 1, `${metric}: ${JSON.stringify(h.buckets.counts)}`);
      assert.equal(h.buckets.counts.reduce((a, b) => a + b, 0), 1);
    }
  } finally {
    rec.stop();
  }
});

test("otel: namesake bulkheads and rate limiters are summed, never replace each other", async () => {
  const s = sdk();
  const telemetry = instrument({ meterProvider: s.meterProvider });
  const clock = new FakeClock();
  // Two route middlewares' bulkheads: both named "route".
  const one = routeBulkhead({ maxConcurrent: 3, maxQueue: 2 });
  const two = routeBulkhead({ maxConcurrent: 1 });
  const idle = bulkhead({ name: "route", maxConcurrent: 1 });
  const r1 = rateLimiter({ name: "rl-same", limit: 1, interval: 1_000, maxWait: 1_000, clock });
  const r2 = rateLimiter({ name: "rl-same", limit: 1, interval: 1_000, maxWait: 1_000, clock });
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  const hold = () => gate;
  const running = [
    one.bulkhead.execute(hold),
    one.bulkhead.execute(hold),
    one.bulkhead.execute(hold),
    one.bulkhead.execute(hold), // queued
  ];
  try {
    await r1.execute(() => 1);
    const waiting = r1.execute(() => 2);
    const m = await s.collect();
    const value = (name: string) =>
      find(m.get(name), { "policy.name": "route" }).map((p) => p.value);
    assert.deepEqual(value("edge_resilience.bulkhead.running"), [3]);
    assert.deepEqual(value("edge_resilience.bulkhead.queued"), [1]);
    assert.deepEqual(
      find(m.get("edge_resilience.rate_limiting.queued_requests"), { "policy.name": "rl-same" })
        .map((p) => p.value),
      [1],
    );
    void two;
    void idle;
    void r2;
    await clock.tickAsync(1_000);
    assert.equal(await waiting, 2);
  } finally {
    telemetry.stop();
    open();
    await Promise.all(running);
  }
});

test("otel: with a `breakers` list, only the listed circuits' transitions count; circuit.remote says who made them", async () => {
  const s = sdk();
  const clock = new FakeClock();
  const mine = circuitBreaker({ name: "tenant-a", failureThreshold: 1, clock, logger: silent });
  const theirs = circuitBreaker({ name: "tenant-b", failureThreshold: 1, clock, logger: silent });
  const telemetry = instrument({ meterProvider: s.meterProvider, breakers: [mine] });
  try {
    await assert.rejects(mine.execute(() => Promise.reject(new Error("down"))));
    await assert.rejects(theirs.execute(() => Promise.reject(new Error("down"))));
    const m = await s.collect();
    const t = m.get("edge_resilience.circuit.transitions");
    assert.deepEqual(
      (t?.dataPoints ?? []).map((
        p,
      ) => [p.attributes["policy.name"], p.attributes["circuit.remote"]]),
      [["tenant-a", false]],
    );
    const opened = find(m.get("edge_resilience.events"), { "event.name": "circuit.opened" });
    assert.deepEqual(opened.map((p) => p.attributes["policy.name"]), ["tenant-a"]);
  } finally {
    telemetry.stop();
  }
});

test("otel: a transition learned from the shared store has circuit.remote true", async () => {
  const s = sdk();
  const rec = meterRecorder(s.meterProvider.getMeter("edge-resilience"), (_e, a) => a, {
    breakers: true,
    maxBreakers: 500,
  });
  try {
    for (const remote of [true, false]) {
      rec.record({
        type: "breaker.transition",
        kind: "circuitBreaker",
        name: "fleet",
        event: {
          name: "fleet",
          from: "closed",
          to: "open",
          reason: "failure_threshold",
          failureCount: 5,
          generation: 1,
          remote,
        },
      });
    }
    const m = await s.collect();
    const t = find(m.get("edge_resilience.circuit.transitions"), { "policy.name": "fleet" });
    assert.deepEqual(t.map((p) => [p.attributes["circuit.remote"], p.value]).sort(), [
      [false, 1],
      [true, 1],
    ]);
  } finally {
    rec.stop();
  }
});

test("resilientFetch: its policies are named by the `name` option or 'resilientFetch', never by the URL", async () => {
  const s = sdk();
  const telemetry = instrument({ meterProvider: s.meterProvider });
  const log = {
    lines: [] as string[],
    info() {},
    warn(m: string) {
      log.lines.push(m);
    },
    error(m: string) {
      log.lines.push(m);
    },
  };
  // (No credentials in the URL: Node's Request refuses them; the name never reads the URL anyway.)
  const url = "https://api.example/v1/items/42?api_key=SECRET";
  let n = 0;
  const upstream = () => Promise.resolve(new Response("x", { status: ++n === 1 ? 503 : 200 }));
  try {
    for (const name of [undefined, "quotes"]) {
      const res = await resilientFetch(url, {
        fetch: upstream,
        initialDelay: 0,
        logger: log,
        ...(name ? { name } : {}),
      });
      assert.equal(res.status, n === 2 ? 200 : res.status);
      n = 0;
    }
    const m = await s.collect();
    const names = new Set<unknown>();
    for (const metric of m.values()) {
      for (const p of metric.dataPoints) names.add(p.attributes["policy.name"]);
    }
    names.delete(undefined);
    const text = JSON.stringify([...names]) + log.lines.join("\n");
    for (const secret of ["SECRET", "api.example", "/v1/items"]) {
      assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
    }
    assert.ok(names.has("resilientFetch") && names.has("quotes"), JSON.stringify([...names]));
    assert.ok(log.lines.length >= 2, "the retries were logged");
  } finally {
    telemetry.stop();
  }
});

test("otel: spanEvents: false records metrics only (no span event, no tracer needed)", async () => {
  const added: string[] = [];
  const fakeSpan = { isRecording: () => true, addEvent: (n: string) => void added.push(n) };
  const original = trace.getActiveSpan;
  (trace as { getActiveSpan: unknown }).getActiveSpan = () => fakeSpan;
  try {
    const clock = new FakeClock();
    const run = async () => {
      const p = retry({ maxAttempts: 2, initialDelay: 1, jitter: false, clock, logger: silent })
        .execute(() => Promise.reject(new Error("x")));
      const done = assert.rejects(p);
      await clock.tickAsync(5);
      await done;
    };
    for (const spanEvents of [true, false]) {
      const s = sdk();
      const t = instrument({
        meterProvider: s.meterProvider,
        spanEvents,
        ...(spanEvents ? { tracerProvider: trace.getTracerProvider() } : {}),
      });
      added.length = 0;
      try {
        await run();
      } finally {
        t.stop();
      }
      assert.deepEqual(added, spanEvents ? ["edge_resilience.retry"] : []);
      const m = await s.collect();
      assert.ok(m.has("edge_resilience.events"), "metrics are recorded either way");
    }
  } finally {
    (trace as { getActiveSpan: unknown }).getActiveSpan = original;
  }
  assert.throws(
    () => instrument({ spanEvents: "no" as unknown as boolean }),
    /'spanEvents' must be a boolean/,
  );
  assert.throws(
    () => instrument({ spanEvents: false, tracerProvider: trace.getTracerProvider() }),
    /'tracerProvider' is unused/,
  );
});

test("resilientFetch: its deadline's error and log name the policy, not the URL; a bad `name` is refused", async () => {
  const clock = new FakeClock();
  const log = recordingLogger();
  const hang = (r: Request) =>
    new Promise<Response>((_, reject) =>
      r.signal.addEventListener("abort", () => reject(r.signal.reason))
    );
  const p = resilientFetch("https://api.example/v1/q?api_key=SECRET", {
    fetch: hang,
    totalTimeout: 10,
    attemptTimeout: 5,
    maxAttempts: 1,
    logger: log,
    clock,
  });
  const caught = p.then(() => undefined, (e: unknown) => e);
  await clock.tickAsync(20);
  const e = await caught as { name: string; operation: string; message: string };
  assert.equal(e.name, "GatewayTimeoutError");
  const text = `${e.operation} ${e.message} ${log.lines.join("\n")}`;
  assert.ok(!/SECRET|api\.example/.test(text), text);
  assert.match(e.operation, /^resilientFetch/);
  await assert.rejects(
    resilientFetch("https://api.example/", { name: "" }),
    /'name' must be a non-empty string/,
  );
});
