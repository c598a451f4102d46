// The metrics of `instrument()`: instruments made once from a meter, a recorder per event,
// and the observable gauges read from the live policies at collection.
import type { Attributes, Meter, ObservableResult } from "@opentelemetry/api";
import type { BulkheadPolicy } from "../bulkhead.ts";
import type { CircuitBreaker } from "../circuit_breaker/types.ts";
import { listCircuitBreakers } from "../circuit_breaker/registry.ts";
import type { RateLimiter } from "../rate_limit/limiter.ts";
import { errorType, type TelemetryEvent } from "../telemetry.ts";
import { policies } from "../live_policies.ts";

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

/** The names of the listed breakers (read now: a route middleware's change). */
function listedNames(from: readonly BreakerSource[]): Set<string> {
  const names = new Set<string>();
  for (const b of liveBreakers(from)) {
    try {
      names.add(b.name);
    } catch {
      // a breaker that cannot tell its name: not listed
    }
  }
  return names;
}

/** Which circuits `circuit.state` reports, and how many names at most. */
export interface StateScope {
  readonly breakers: true | readonly BreakerSource[];
  readonly maxBreakers: number;
}

/**
 * Second-scale bucket boundaries (OpenTelemetry's HTTP semantic conventions): the SDK's default
 * ones (0, 5, 10, 25 … 10000) are meant for milliseconds and would put every call in one bucket.
 */
export const SECONDS_BUCKETS: readonly number[] = [
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
];
const advice = { explicitBucketBoundaries: [...SECONDS_BUCKETS] };

/** Observes the sum of `value` per policy name: namesakes count together, never replace. */
function observeSums(
  r: ObservableResult,
  kind: "bulkhead" | "rateLimiter",
  value: (policy: object) => number,
): void {
  const sums = new Map<string, number>();
  for (const p of policies(kind)) {
    let v: number;
    try {
      v = value(p.policy);
    } catch {
      continue;
    }
    sums.set(p.name, (sums.get(p.name) ?? 0) + v);
  }
  for (const [name, v] of sums) r.observe(v, { "policy.name": name });
}

const rank = (c: Record<string, number>) => (c.open > 0 ? 0 : c.half_open > 0 ? 1 : 2);

/** The metric instruments; `record(event)` updates them; `stop()` detaches the observers. */
export function meterRecorder(meter: Meter, enrich: Enrich, scope: StateScope) {
  const callDuration = meter.createHistogram("edge_resilience.call.duration", {
    unit: "s",
    advice,
    description: "Duration of calls through a resilience policy, by outcome.",
  });
  const events = meter.createCounter("edge_resilience.events", {
    unit: "{event}",
    description: "Resilience events: retries, timeouts, fallbacks, hedges, circuit transitions, " +
      "rejections, rate limits, retry budget refusals.",
  });
  const attemptDuration = meter.createHistogram("edge_resilience.attempt.duration", {
    unit: "s",
    advice,
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
    advice,
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
  // Summed per name (route middlewares' policies are all "route", unnamed ones share their kind):
  // one observation per attribute set, or each namesake would replace the last.
  const observeRunning = (r: ObservableResult) =>
    observeSums(r, "bulkhead", (p) => (p as BulkheadPolicy).getStats().running);
  const observeQueued = (r: ObservableResult) =>
    observeSums(r, "bulkhead", (p) => (p as BulkheadPolicy).getStats().queued);
  const observeRlQueued = (r: ObservableResult) =>
    observeSums(r, "rateLimiter", (p) => (p as RateLimiter).getStats().waiting);
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
          // With a `breakers` list, only the listed circuits' transitions (by name).
          if (scope.breakers !== true && !listedNames(scope.breakers).has(e.name)) return;
          count(e, TRANSITIONS[t.to]);
          transitions.add(
            1,
            enrich(e, {
              "policy.name": e.name,
              from: t.from,
              to: t.to,
              reason: t.reason,
              // A shared circuit's transition is seen by every instance: `true` where it was
              // learned from the store, so a fleet-wide sum can count each one once.
              "circuit.remote": t.remote === true,
            }),
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
