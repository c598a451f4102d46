/**
 * OpenTelemetry for every policy: {@linkcode instrument} subscribes to the
 * event channel (`subscribe` in the core) and records metrics (call and
 * attempt durations, events, circuit state and transitions, bulkhead load,
 * rate limiting) and span events on the active span. `@opentelemetry/api`
 * (1.x) is an optional peer dependency: only this entry point imports it.
 *
 * @example After the SDK starts
 * ```ts
 * import { instrument } from "edge-resilience/otel";
 *
 * // … start the OpenTelemetry SDK first (it registers the global providers);
 * const telemetry = instrument();
 * // … at shutdown
 * telemetry.stop();
 * ```
 *
 * @module
 */

import {
  type Attributes,
  createNoopMeter,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  trace,
  type TracerProvider,
} from "@opentelemetry/api";
import { subscribe, type TelemetryEvent } from "../telemetry.ts";
import { warnOnce } from "./warn_once.ts";
import { checkFunction, checkKnownOptions, checkObject, optionNames } from "../validate.ts";
import { type BreakerSource, type Enrich, meterRecorder } from "./metrics.ts";

export type { BreakerSource } from "./metrics.ts";
import { addSpanEvent } from "./traces.ts";

/** Options of {@linkcode instrument}. */
export interface InstrumentOptions {
  /**
   * Where metrics go. Default: the global provider, resolved when
   * `instrument()` is called (so call it after the SDK starts: instruments
   * made from the API's no-op provider stay no-op forever).
   */
  meterProvider?: MeterProvider;
  /**
   * Whose spans receive the span events. Default: the global provider. Span
   * events go to the active span, which needs a context manager (Node: the
   * SDK's AsyncLocalStorage one; Deno and Bun; Workers only with
   * `nodejs_compat`): without one, they are dropped quietly.
   */
  tracerProvider?: TracerProvider;
  /**
   * Add span events to the active span. Default `true`; `false` records
   * metrics only: no tracer is looked up (and no "no TracerProvider" log).
   */
  spanEvents?: boolean;
  /**
   * Record `edge_resilience.call.duration` and `edge_resilience.attempt.duration`
   * (`call` and `attempt` events: a timestamp, an event and a promise more per
   * call). Default `true`.
   */
  callEvents?: boolean;
  /**
   * Attributes of your own for each event's measurements and span event
   * (they never replace the library's). Keep them low-cardinality.
   */
  attributes?: (event: TelemetryEvent) => Attributes | undefined;
  /**
   * The circuits reported by `edge_resilience.circuit.state`,
   * `edge_resilience.circuit.transitions` and the `circuit.*` events of
   * `edge_resilience.events`: `true` (default) every breaker alive in this
   * process (registered, unnamed, and those the route middlewares hold now),
   * or a list of breakers and `routeCircuitBreaker` middlewares — one app's
   * or one tenant's, when several share a process. Only those circuit
   * metrics are scoped (transitions by name: a namesake outside the list
   * counts too); every other metric and span event covers the whole process.
   */
  breakers?: true | readonly BreakerSource[];
  /**
   * The most circuits (names) `edge_resilience.circuit.state` reports, OPEN
   * first, then HALF_OPEN, then CLOSED. Default 500 (1,500 series: under the
   * SDK's default limit of 2,000 series per instrument, past which series
   * fall into one overflow series).
   */
  maxBreakers?: number;
}

/** What {@linkcode instrument} returns. */
export interface Instrumentation {
  /** Stops recording (unsubscribes, detaches the observable instruments). Idempotent. */
  stop(): void;
}

const W = "instrument";
const OPTIONS = optionNames<InstrumentOptions>({
  meterProvider: 1,
  tracerProvider: 1,
  callEvents: 1,
  spanEvents: 1,
  attributes: 1,
  breakers: 1,
  maxBreakers: 1,
});
const SCOPE = "edge-resilience";

/** True when `meter` is the API's no-op meter (no SDK registered). */
function isNoopMeter(meter: object): boolean {
  return meter.constructor === createNoopMeter().constructor;
}

/** True when the tracer provider is the API's proxy with no SDK behind it. */
function isNoopTracerProvider(p: TracerProvider): boolean {
  const delegate = (p as { getDelegate?: () => TracerProvider }).getDelegate?.();
  return delegate !== undefined && delegate === new ProxyTracerProvider().getDelegate();
}

/**
 * Records every policy's telemetry with OpenTelemetry until `stop()`:
 *
 * - `edge_resilience.call.duration` (histogram, s, second-scale buckets
 *   from 5 ms to 10 s): `policy.kind`,
 *   `policy.name`, `outcome` (`success`, `failure`, `rejected`, `timeout`,
 *   `cancelled`), `error.type`;
 * - `edge_resilience.events` (counter, `{event}`): `event.name` (`retry`,
 *   `timeout`, `fallback`, `hedge`, `circuit.opened`, `circuit.half_opened`,
 *   `circuit.closed`, `rejected`, `rate_limited`, `budget_refused`, `chaos`),
 *   `policy.kind`, `policy.name`, `error.type`;
 * - `edge_resilience.attempt.duration` (histogram, s): `attempt.number`,
 *   `attempt.handled`, `outcome`, `error.type`;
 * - `edge_resilience.circuit.state` (observable up-down counter, `{circuit}`):
 *   per live breaker (route breakers included) and `circuit.state`, 1 for the
 *   current state and 0 for the others;
 * - `edge_resilience.circuit.transitions` (counter): `from`, `to`, `reason`,
 *   `circuit.remote` (`true` where a shared circuit's transition was learned
 *   from the store: sum `false` only for a fleet-wide count);
 * - `edge_resilience.bulkhead.running` and `.queued` (observable up-down
 *   counters, `{call}`);
 * - `edge_resilience.rate_limiting.requests` (`result`: `acquired`,
 *   `limited`, `canceled`), `….request.time_in_queue` (s),
 *   `….queued_requests` — never a client key;
 * - span events on the active span: retries, circuit rejections and
 *   transitions, timeouts, fallbacks, hedges, bulkhead and rate-limit refusals.
 *
 * Providers are resolved when it is called (log once when there is none):
 * call it after the SDK starts. Deno registers its own under `OTEL_DENO=true`.
 * Route breakers' names come from their keys, bounded by their `maxKeys`.
 *
 * @example With explicit providers and an attribute of your own
 * ```ts
 * import { metrics, trace } from "@opentelemetry/api";
 * import { instrument } from "edge-resilience/otel";
 *
 * const { stop } = instrument({
 *   meterProvider: metrics.getMeterProvider(),
 *   tracerProvider: trace.getTracerProvider(),
 *   attributes: () => ({ "service.tier": "edge" }),
 * });
 * stop();
 * ```
 */
export function instrument(options: InstrumentOptions = {}): Instrumentation {
  checkKnownOptions(W, options, OPTIONS);
  checkObject(W, "meterProvider", options.meterProvider);
  checkObject(W, "tracerProvider", options.tracerProvider);
  checkFunction(W, "attributes", options.attributes);
  const breakers = options.breakers ?? true;
  if (
    breakers !== true &&
    !(Array.isArray(breakers) &&
      breakers.every((x) =>
        typeof (x as { getStats?: unknown })?.getStats === "function" ||
        (x as { breakers?: unknown })?.breakers instanceof Map
      ))
  ) {
    throw new TypeError(
      `${W}: option 'breakers' must be true or an array of breakers and route middlewares`,
    );
  }
  const maxBreakers = options.maxBreakers ?? 500;
  if (!Number.isInteger(maxBreakers) || maxBreakers < 0) {
    throw new RangeError(`${W}: option 'maxBreakers' must be an integer >= 0, got ${maxBreakers}`);
  }
  for (const k of ["callEvents", "spanEvents"] as const) {
    if (options[k] !== undefined && typeof options[k] !== "boolean") {
      throw new TypeError(`${W}: option '${k}' must be a boolean, got ${typeof options[k]}`);
    }
  }
  if (options.spanEvents === false && options.tracerProvider !== undefined) {
    throw new TypeError(`${W}: option 'tracerProvider' is unused with 'spanEvents: false'`);
  }
  const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
  const meter = meterProvider.getMeter(SCOPE);
  const noMeter = options.meterProvider === undefined && isNoopMeter(meter);
  const noTracer = options.spanEvents === false ||
    (options.tracerProvider === undefined && isNoopTracerProvider(trace.getTracerProvider()));
  if (noMeter) {
    warnOnce(
      "meter",
      "edge-resilience/otel: no MeterProvider is registered: metrics are not recorded " +
        "(call instrument() after the OpenTelemetry SDK starts, or pass meterProvider)",
    );
  }
  if (noTracer && options.spanEvents !== false) {
    warnOnce(
      "tracer",
      "edge-resilience/otel: no TracerProvider is registered: span events are not recorded " +
        "(call instrument() after the OpenTelemetry SDK starts, pass tracerProvider, or pass " +
        "spanEvents: false for metrics only)",
    );
  }
  // Nothing to record to: no subscription, so the policies keep their uninstrumented cost.
  if (noMeter && noTracer) return { stop() {} };
  const user = options.attributes;
  const enrich: Enrich = user === undefined ? (_e, own) => own : (e, own) => {
    try {
      const extra = user(e);
      return extra ? { ...extra, ...own } : own;
    } catch (err) {
      warnOnce("attributes", `edge-resilience/otel: option 'attributes' threw: ${String(err)}`);
      return own;
    }
  };
  const recorder = noMeter ? undefined : meterRecorder(meter, enrich, { breakers, maxBreakers });
  const spans = !noTracer;
  const unsubscribe = subscribe((e) => {
    recorder?.record(e);
    if (spans) addSpanEvent(e, enrich);
  }, { calls: recorder !== undefined && options.callEvents !== false });
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      recorder?.stop();
    },
  };
}
