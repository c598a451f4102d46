// The metrics of `instrument()`: instruments made once from a meter, a recorder per event,
// and the observable gauges read from the live policies at collection.
import type { Attributes, Meter, ObservableResult } from "@opentelemetry/api";
import type { BulkheadPolicy } from "../bulkhead.ts";
import type { CircuitBreaker } from "../circuit_breaker/types.ts";
import { listCircuitBreakers } from "../circuit_breaker/registry.ts";
import type { RateLimiter } from "../rate_limit/limiter.ts";
import { errorType, policies, type TelemetryEvent } from "../telemetry.ts";

/** Adds the user's attributes (the `attributes` option) to an event's own. */
export type Enrich = (event: TelemetryEvent, own: Attributes) => Attributes;

const STATES = ["closed", "open", "half_open"] as const;
const TRANSITIONS: Record<string, string> = {
  open: "circuit.opened",
  half_open: "circuit.half_opened",
  closed: "circuit.closed",
};

/**
 * What the `breakers` option of `instrument()` lists: a breaker, or a route
 * middleware (`routeCircuitBreaker`), whose breakers held now are read.
 *
 * @example One app's circuits only
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { instrument } from "edge-resilience/otel";
 *
 * const db = circuitBreaker({ name: "db" });
 * const telemetry = instrument({ breakers: [db] });
 * telemetry.stop();
 * ```
 */
export type BreakerSource = CircuitBreaker | {
  readonly breakers: ReadonlyMap<string, CircuitBreaker>;
};

/**
 * The breakers to report: with `true`, every one alive in this process (the
 * registry's, the unnamed ones, the route middlewares' held now); else those
 * of the list (a route middleware's held now).
 */
function liveBreakers(from: true | readonly BreakerSource[]): Iterable<CircuitBreaker> {
  const seen = new Set<CircuitBreaker>(from === true ? listCircuitBreakers() : []);
  if (from === true) {
    for (const p of policies("circuitBreaker")) seen.add(p.policy as CircuitBreaker);
    return seen;
  }
  for (const x of from) {
    const route = (x as { breakers?: unknown }).breakers;
    if (route instanceof Map) { for (const b of route.values()) seen.add(b); }
    else seen.add(x as CircuitBreaker);
  }
  return seen;
}

/** Which circuits `circuit.state` reports, and how many names at most. */
export interface StateScope {
  readonly breakers: true | readonly BreakerSource[];
  readonly maxBreakers: number;
}

const rank = (c: Record<string, number>) => (c.open > 0 ? 0 : c.half_open > 0 ? 1 : 2);

/** The metric instruments; `record(event)` updates them; `stop()` detaches the observers. */
export function meterRecorder(meter: Meter, enrich: Enrich, scope: StateScope) {
  const callDuration = meter.createHistogram("edge_resilience.call.duration", {
    unit: "s",
    description: "Duration of calls through a resilience policy, by outcome.",
  });
  const events = meter.createCounter("edge_resilience.events", {
    unit: "{event}",
    description: "Resilience events: retries, timeouts, fallbacks, hedges, circuit transitions, " +
      "rejections, rate limits, retry budget refusals.",
  });
  const attemptDuration = meter.createHistogram("edge_resilience.attempt.duration", {
    unit: "s",
    description: "Duration of each attempt of a retry or a hedge.",
  });
  const transitions = meter.createCounter("edge_resilience.circuit.transitions", {
    unit: "{transition}",
    description: "Circuit breaker state transitions.",
  });
  const rlRequests = meter.createCounter("edge_resilience.rate_limiting.requests", {
    unit: "{request}",
    description: "Requests that asked a rate limiter for a permit, by result.",
  });
  const rlQueue = meter.createHistogram("edge_resilience.rate_limiting.request.time_in_queue", {
    unit: "s",
    description: "Time a request waited for a rate limiter's permit.",
  });
  const state = meter.createObservableUpDownCounter("edge_resilience.circuit.state", {
    unit: "{circuit}",
    description: "Circuit breaker state: 1 for the current state, 0 for the others.",
  });
  const running = meter.createObservableUpDownCounter("edge_resilience.bulkhead.running", {
    unit: "{call}",
    description: "Calls running in a bulkhead.",
  });
  const queued = meter.createObservableUpDownCounter("edge_resilience.bulkhead.queued", {
    unit: "{call}",
    description: "Calls waiting for a bulkhead's slot.",
  });
  const rlQueued = meter.createObservableUpDownCounter(
    "edge_resilience.rate_limiting.queued_requests",
    { unit: "{request}", description: "Requests waiting for a rate limiter's permit." },
  );

  const observeState = (r: ObservableResult) => {
    // One series per name and state: breakers sharing a name (unnamed ones are all
    // "anonymous") count together, so an OPEN one is never hidden by a CLOSED namesake.
    const counts = new Map<string, Record<string, number>>();
    for (const b of liveBreakers(scope.breakers)) {
      let name: string;
      let st: string;
      try {
        name = b.name;
        st = b.state;
      } catch {
        continue; // a breaker whose clock throws: no series, the others still report
      }
      if (typeof name !== "string" || !STATES.includes(st as typeof STATES[number])) continue;
      const c = counts.get(name) ?? Object.fromEntries(STATES.map((s) => [s, 0]));
      c[st]++;
      counts.set(name, c);
    }
    // At most `maxBreakers` names, OPEN first, then HALF_OPEN: past the SDK's cardinality limit
    // (2,000 series per instrument by default) series fall into one overflow series, and an OPEN
    // circuit must never be the one hidden there.
    let listed = [...counts];
    if (listed.length > scope.maxBreakers) {
      listed = listed.sort((a, b) => rank(a[1]) - rank(b[1])).slice(0, scope.maxBreakers);
    }
    for (const [name, c] of listed) {
      for (const s of STATES) r.observe(c[s], { "policy.name": name, "circuit.state": s });
    }
  };
  const observeRunning = (r: ObservableResult) => {
    for (const p of policies("bulkhead")) {
      r.observe((p.policy as BulkheadPolicy).getStats().running, { "policy.name": p.name });
    }
  };
  const observeQueued = (r: ObservableResult) => {
    for (const p of policies("bulkhead")) {
      r.observe((p.policy as BulkheadPolicy).getStats().queued, { "policy.name": p.name });
    }
  };
  const observeRlQueued = (r: ObservableResult) => {
    for (const p of policies("rateLimiter")) {
      r.observe((p.policy as RateLimiter).getStats().waiting, { "policy.name": p.name });
    }
  };
  state.addCallback(observeState);
  running.addCallback(observeRunning);
  queued.addCallback(observeQueued);
  rlQueued.addCallback(observeRlQueued);

  const count = (e: TelemetryEvent, name: string, type?: string) => {
    const a: Attributes = { "event.name": name, "policy.kind": e.kind, "policy.name": e.name };
    if (type !== undefined) a["error.type"] = type;
    events.add(1, enrich(e, a));
  };

  return {
    record(e: TelemetryEvent): void {
      switch (e.type) {
        case "call": {
          const a: Attributes = {
            "policy.kind": e.kind,
            "policy.name": e.name,
            outcome: e.outcome,
          };
          if (e.errorType !== undefined) a["error.type"] = e.errorType;
          callDuration.record(e.duration / 1000, enrich(e, a));
          return;
        }
        case "attempt": {
          const a: Attributes = {
            "policy.kind": e.kind,
            "policy.name": e.name,
            "attempt.number": e.attempt,
            "attempt.handled": e.handled,
            outcome: e.outcome,
          };
          if (e.errorType !== undefined) a["error.type"] = e.errorType;
          attemptDuration.record(e.duration / 1000, enrich(e, a));
          return;
        }
        case "retry":
          return count(e, "retry", "error" in e.event ? errorType(e.event.error) : undefined);
        case "timeout":
          return count(e, "timeout", "ResilienceTimeoutError");
        case "fallback":
          return count(e, "fallback", e.errorType);
        case "hedge":
          return count(e, "hedge");
        case "breaker.transition": {
          const t = e.event;
          count(e, TRANSITIONS[t.to]);
          transitions.add(
            1,
            enrich(e, { "policy.name": e.name, from: t.from, to: t.to, reason: t.reason }),
          );
          return;
        }
        case "breaker.rejected":
          return count(e, "rejected", "CircuitOpenError");
        case "bulkhead.rejected":
          return count(e, "rejected", "BulkheadRejectedError");
        case "adaptive.rejected":
          return count(e, "rejected", "AdaptiveConcurrencyRejectedError");
        case "rate_limited":
          count(e, "rate_limited", "RateLimitedError");
          rlRequests.add(1, enrich(e, { "policy.name": e.name, result: "limited" }));
          return;
        case "rate_limit.acquired":
          rlRequests.add(1, enrich(e, { "policy.name": e.name, result: "acquired" }));
          if (e.waited > 0) {
            rlQueue.record(
              e.waited / 1000,
              enrich(e, { "policy.name": e.name, result: "acquired" }),
            );
          }
          return;
        case "rate_limit.canceled":
          rlRequests.add(1, enrich(e, { "policy.name": e.name, result: "canceled" }));
          return;
        case "budget.refused":
          return count(e, "budget_refused");
        case "chaos":
          return count(e, "chaos");
      }
    },
    stop(): void {
      state.removeCallback(observeState);
      running.removeCallback(observeRunning);
      queued.removeCallback(observeQueued);
      rlQueued.removeCallback(observeRlQueued);
    },
  };
}
