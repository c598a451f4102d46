// Span events of `instrument()`: added to the active span (when a context manager knows one);
// no span per policy.
import { type Attributes, trace } from "@opentelemetry/api";
import { errorType, type TelemetryEvent } from "../telemetry.ts";
import type { Enrich } from "./metrics.ts";

/** The span event for `e`, or `undefined` when it has none. */
function spanEvent(e: TelemetryEvent): [string, Attributes] | undefined {
  const base = { "policy.kind": e.kind, "policy.name": e.name };
  switch (e.type) {
    case "retry": {
      const a: Attributes = {
        ...base,
        "attempt.number": e.event.attempt,
        "retry.delay": e.event.delay / 1000,
      };
      if ("error" in e.event) a["error.type"] = errorType(e.event.error);
      return ["edge_resilience.retry", a];
    }
    case "breaker.rejected":
      return ["edge_resilience.circuit.rejected", {
        ...base,
        "circuit.time_until_reset": e.timeUntilReset / 1000,
      }];
    case "breaker.transition":
      return ["edge_resilience.circuit.transition", {
        ...base,
        from: e.event.from,
        to: e.event.to,
        reason: e.event.reason,
      }];
    case "timeout":
      return ["edge_resilience.timeout", { ...base, "timeout.duration": e.timeout / 1000 }];
    case "fallback":
      return ["edge_resilience.fallback", { ...base, "error.type": e.errorType }];
    case "hedge":
      return ["edge_resilience.hedge", { ...base, "attempt.number": e.attempt }];
    case "bulkhead.rejected":
      return ["edge_resilience.bulkhead.rejected", { ...base, reason: e.reason }];
    case "rate_limited":
      return ["edge_resilience.rate_limited", { ...base, "retry_after": e.retryAfter / 1000 }];
  }
  return undefined;
}

/** Adds `e` as an event of the active span, if there is one and it records. */
export function addSpanEvent(e: TelemetryEvent, enrich: Enrich): void {
  const span = trace.getActiveSpan();
  if (span === undefined || !span.isRecording()) return;
  const ev = spanEvent(e);
  if (ev !== undefined) span.addEvent(ev[0], enrich(e, ev[1]));
}
