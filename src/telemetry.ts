/**
 * One event channel for every policy: {@linkcode subscribe} to typed
 * {@linkcode TelemetryEvent}s (policy created, call settled, attempt, breaker
 * transition, store status, retry, timeout, fallback, refusals, hedge, rate
 * limit, retry budget, adaptive limit, chaos). The live policies are found
 * by `policies` (src/live_policies.ts).
 *
 * With no subscriber a policy checks one flag and builds no event. A listener
 * that throws is logged once and never fails the call; events are frozen.
 *
 * @module
 */

import { getDefaultLogger } from "./logger.ts";
import { checkKnownOptions, optionNames } from "./validate.ts";
import type { CallOutcome, PolicyKind, TelemetryEvent } from "./telemetry_events.ts";

export type {
  AdaptiveRejectedEvent,
  AttemptEvent,
  BreakerRejectedEvent,
  BreakerTransitionEvent,
  BudgetRefusedEvent,
  BulkheadRejectedEvent,
  CallEvent,
  CallOutcome,
  ChaosTelemetryEvent,
  FallbackEvent,
  HedgeEvent,
  LimitChangedEvent,
  PolicyCreatedEvent,
  PolicyKind,
  RateLimitAcquiredEvent,
  RateLimitCanceledEvent,
  RateLimitedEvent,
  RetryTelemetryEvent,
  StoreStatusTelemetryEvent,
  TelemetryEvent,
  TelemetrySource,
  TimeoutEvent,
} from "./telemetry_events.ts";

/** Options of {@linkcode subscribe}. */
export interface SubscribeOptions {
  /**
   * Also receive a `call` event per settled call (outcome and duration) and
   * an `attempt` event per attempt of a retry or hedge. Default `false`: they
   * cost a timestamp and an event per call (and a promise per call).
   */
  calls?: boolean;
}

const SUBSCRIBE_OPTIONS = /* @__PURE__ */ optionNames<SubscribeOptions>({ calls: 1 });

interface Subscriber {
  readonly listener: (event: TelemetryEvent) => void;
  readonly calls: boolean;
}

/**
 * @internal What policies check on their hot paths: `on` while anyone is
 * subscribed, `calls` while anyone asked for call events.
 */
export const flags: { on: boolean; calls: boolean } = { on: false, calls: false };

let subscribers: readonly Subscriber[] = [];

/**
 * Receives every event of every policy until the returned function is
 * called. `call` and `attempt` events (per call) only with `{ calls: true }`.
 * Every listener receives the same event object, frozen (as is the hook event
 * it carries, which the policy's own hooks get too). A listener that throws
 * is logged once — to the emitting policy's `logger` for the events that
 * carry a hook event (retries, breaker transitions, store status, chaos) and
 * for fallbacks, else to the default logger — and never fails the call; it
 * keeps receiving events. A non-boolean `calls` is a `TypeError`.
 *
 * @example Count what goes wrong
 * ```ts
 * import { subscribe } from "edge-resilience";
 *
 * const counts = new Map<string, number>();
 * const unsubscribe = subscribe((event) => {
 *   if (event.type === "call" && event.outcome !== "success") {
 *     counts.set(event.name, (counts.get(event.name) ?? 0) + 1);
 *   }
 *   if (event.type === "breaker.transition") console.log(event.name, event.event.to);
 * }, { calls: true });
 * // … later
 * unsubscribe();
 * ```
 */
export function subscribe(
  listener: (event: TelemetryEvent) => void,
  options: SubscribeOptions = {},
): () => void {
  if (typeof listener !== "function") {
    throw new TypeError(`subscribe: listener must be a function, got ${typeof listener}`);
  }
  checkKnownOptions("subscribe", options, SUBSCRIBE_OPTIONS);
  if (options.calls !== undefined && typeof options.calls !== "boolean") {
    throw new TypeError(
      `subscribe: option 'calls' must be a boolean, got ${typeof options.calls}`,
    );
  }
  const s: Subscriber = { listener, calls: options.calls === true };
  subscribers = [...subscribers, s];
  update();
  let done = false;
  return () => {
    if (done) return;
    done = true;
    subscribers = subscribers.filter((x) => x !== s);
    update();
  };
}

function update(): void {
  flags.on = subscribers.length > 0;
  flags.calls = subscribers.some((s) => s.calls);
}

/** @internal Events built so far (the contract test checks none is built without a subscriber). */
export const built: { count: number } = { count: 0 };

/**
 * @internal Delivers `event`, frozen (every subscriber receives the same
 * object), to every subscriber (guarded: a throw is logged once to `logger`,
 * the emitting policy's, else the default logger). Call only when `flags.on`.
 */
export function emit(event: TelemetryEvent, logger?: Log): void {
  built.count++;
  Object.freeze(event);
  const call = event.type === "call" || event.type === "attempt";
  for (const s of subscribers) {
    if (call && !s.calls) continue;
    guarded(s.listener, event, logger, "telemetry listener", event.name);
  }
}

/** Hooks (and subscribers) that threw or rejected once: logged the first time only. */
const threw = new WeakSet<object>();

/**
 * @internal The one rule for every hook (`onRetry`, `onStateChange`,
 * `onStoreStatus`, `onInject`, a breaker's listeners, a subscriber): called
 * with `event`; a throw or a rejection never fails the call and is logged
 * once per hook (the first time), with `what` and the error.
 */
export function guarded<E>(
  hook: (event: E) => unknown,
  event: E,
  logger: Log | undefined,
  what: string,
  name?: string,
): void {
  let r: unknown;
  try {
    r = hook(event);
  } catch (e) {
    return failedOnce(hook, logger, what, e, name);
  }
  // An async hook: its rejection is handled as a throw (never unhandled, which ends Deno).
  if (r !== null && typeof r === "object" && typeof (r as { then?: unknown }).then === "function") {
    settled(r, (e) => failedOnce(hook, logger, what, e, name));
  }
}

type Log = { error(m: string, d?: Record<string, unknown>): void };

function failedOnce(
  hook: object,
  logger: Log | undefined,
  what: string,
  error: unknown,
  name: string | undefined,
): void {
  if (threw.has(hook)) return;
  threw.add(hook);
  hookThrew(logger, what, error, name);
}

/**
 * @internal Publishes one occurrence to its listeners, from one emission: the
 * channel (as `{ type, kind, name, event }`, only while anyone is
 * subscribed), then the policy's own `hook` (the `onRetry`, `onStateChange`,
 * `onStoreStatus` or `onInject` option) and `more` listeners, all under
 * {@linkcode guarded}'s rule (a throw logged once to `logger`). `event` is
 * frozen first: every listener gets the same object, which none can change
 * for the others (nor for the policy, which may keep it: `lastTransition`).
 * Builds nothing when no one listens.
 */
export function publish<E>(
  type: Published["type"],
  kind: Published["kind"],
  name: string,
  event: E,
  hook: ((e: E) => unknown) | undefined,
  more: Iterable<(e: E) => unknown> | undefined,
  logger: Log | undefined,
  what: string,
): void {
  Object.freeze(event);
  if (flags.on) emit({ type, kind, name, event } as TelemetryEvent, logger);
  if (hook !== undefined) guarded(hook, event, logger, what, name);
  if (more !== undefined) { for (const l of more) guarded(l, event, logger, what, name); }
}

/** The events that carry a hook's own event (`onRetry`, `onStateChange`, …). */
type Published = Extract<TelemetryEvent, { event: unknown }>;

/**
 * @internal Logs a throwing hook (`onRetry`, `onStateChange`, a telemetry
 * listener…): the one rule for every hook is that it never fails the call.
 */
export function hookThrew(
  logger: Log | undefined,
  what: string,
  error: unknown,
  name?: string,
): void {
  let text: string;
  try {
    text = String(error);
  } catch {
    text = "an error that cannot be printed";
  }
  try {
    (logger ?? getDefaultLogger()).error(
      `${what} threw: ${text}`,
      name === undefined ? { error } : { name, error },
    );
  } catch {
    // A logger that throws too: nothing more to do.
  }
}

/**
 * @internal A hook may be an `async` function: its rejection is handled like
 * a throw (logged), never left unhandled (which ends a Deno process).
 */
export function settled(result: unknown, onError: (e: unknown) => void): void {
  if (
    result !== null && (typeof result === "object" || typeof result === "function") &&
    typeof (result as { then?: unknown }).then === "function"
  ) {
    try {
      (result as PromiseLike<unknown>).then(undefined, onError);
    } catch (e) {
      onError(e);
    }
  }
}

/**
 * @internal Calls a user hook with `event` under {@linkcode guarded}'s rule
 * (nothing when there is no hook).
 */
export function callHook<E>(
  hook: ((event: E) => void) | undefined,
  event: E,
  logger: { error(m: string, d?: Record<string, unknown>): void } | undefined,
  what: string,
): void {
  if (hook !== undefined) guarded(hook, event, logger, what);
}

// ---- outcomes ----

const REJECTIONS = new Set([
  "CircuitOpenError",
  "BulkheadRejectedError",
  "RateLimitedError",
  "AdaptiveConcurrencyRejectedError",
]);

/** @internal The class name of an error (its literal `name`, or its constructor's). */
export function errorType(e: unknown): string {
  if (e === null || typeof e !== "object") return typeof e;
  const n = (e as { name?: unknown }).name;
  if (typeof n === "string" && n !== "" && n !== "Error") return n;
  const c = (e as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof c === "string" && c !== "" ? c : typeof n === "string" ? n : "Error";
}

/**
 * @internal Marks a thrown value as a cancellation by the caller (a route's
 * client that went away), whatever the scope says: its call is `cancelled`.
 */
export const CANCELLED: unique symbol = Symbol("cancelled");

/** @internal How a call that threw `e` ended; `aborted`: the caller's signal had aborted. */
export function outcomeOf(e: unknown, aborted: boolean): CallOutcome {
  if (aborted) return "cancelled";
  if (e !== null && typeof e === "object" && (e as { [CANCELLED]?: unknown })[CANCELLED] === true) {
    return "cancelled";
  }
  const n = errorType(e);
  if (REJECTIONS.has(n)) return "rejected";
  if (n === "ResilienceTimeoutError") return "timeout";
  return "failure";
}

const perf = (globalThis as { performance?: { now(): number } }).performance;

/** @internal A monotonic time in ms for durations. */
export const now: () => number = perf && typeof perf.now === "function"
  ? () => perf.now()
  : () => Date.now();

/**
 * @internal The `error.type` of a returned value a breaker's `isFailureResult`
 * counted as a failure: its HTTP status as text (`"503"`, as OpenTelemetry's
 * HTTP conventions do) when it has one, else `"FailureResult"`.
 */
export function resultErrorType(v: unknown): string {
  const status = (v as { status?: unknown } | null | undefined)?.status;
  return Number.isInteger(status) ? String(status) : "FailureResult";
}

/**
 * @internal Emits a `call` event when `p` settles and passes its result on.
 * `parent` is the caller's scope (aborted: the call was cancelled);
 * `failedResult`, a breaker's `isFailureResult`: a value it counts as a
 * failure is a `failure` (see {@linkcode resultErrorType}).
 */
export function observeCall<T>(
  kind: PolicyKind,
  name: string,
  t0: number,
  p: Promise<T>,
  parent: { readonly aborted: boolean } | undefined,
  failedResult?: (value: unknown) => unknown,
): Promise<T> {
  return p.then(
    (v) => {
      if (flags.calls) {
        let type: string | undefined;
        try {
          if (failedResult?.(v)) type = resultErrorType(v);
        } catch {
          // the breaker itself reports a predicate that throws
        }
        emit(
          type === undefined
            ? { type: "call", kind, name, outcome: "success", duration: now() - t0 }
            : {
              type: "call",
              kind,
              name,
              outcome: "failure",
              duration: now() - t0,
              errorType: type,
            },
        );
      }
      return v;
    },
    (e) => {
      if (flags.calls) {
        emit({
          type: "call",
          kind,
          name,
          outcome: outcomeOf(e, parent?.aborted === true),
          duration: now() - t0,
          errorType: errorType(e),
        });
      }
      throw e;
    },
  );
}
