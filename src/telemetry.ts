/**
 * One event channel for every policy: {@linkcode subscribe} to typed
 * {@linkcode TelemetryEvent}s (policy created, call settled, attempt, breaker
 * transition, store status, retry, timeout, fallback, refusals, hedge, rate
 * limit, retry budget, adaptive limit, chaos), and {@linkcode policies} to
 * find the live policies by kind without a registry.
 *
 * With no subscriber a policy checks one flag and builds no event. A listener
 * that throws is logged once and never fails the call.
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

/** A live policy, as {@linkcode policies} returns it. */
export interface PolicyEntry {
  /** Its kind. */
  readonly kind: PolicyKind;
  /** Its name (a breaker's current one: an unnamed breaker takes its first function's). */
  readonly name: string;
  /** The policy object (a breaker, a bulkhead, a rate limiter…). */
  readonly policy: object;
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
const threw = new WeakSet<object>();

/**
 * Receives every event of every policy until the returned function is
 * called. `call` and `attempt` events (per call) only with `{ calls: true }`.
 * A listener that throws is logged once (default logger) and never fails the
 * call; it keeps receiving events.
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

/** @internal Delivers `event` to every subscriber (guarded). Call only when `flags.on`. */
export function emit(event: TelemetryEvent): void {
  built.count++;
  const call = event.type === "call" || event.type === "attempt";
  for (const s of subscribers) {
    if (call && !s.calls) continue;
    try {
      settled(s.listener(event), (e) => {
        if (threw.has(s)) return;
        threw.add(s);
        hookThrew(undefined, "telemetry listener", e);
      });
    } catch (e) {
      if (threw.has(s)) continue;
      threw.add(s);
      hookThrew(undefined, "telemetry listener", e);
    }
  }
}

/**
 * @internal Logs a throwing hook (`onRetry`, `onStateChange`, a telemetry
 * listener…): the one rule for every hook is that it never fails the call.
 */
export function hookThrew(
  logger: { error(m: string, d?: Record<string, unknown>): void } | undefined,
  what: string,
  error: unknown,
): void {
  let text: string;
  try {
    text = String(error);
  } catch {
    text = "an error that cannot be printed";
  }
  try {
    (logger ?? getDefaultLogger()).error(`${what} threw: ${text}`, { error });
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
 * @internal Calls a user hook with `event`, guarded: a throw is logged, never
 * rethrown.
 */
export function callHook<E>(
  hook: ((event: E) => void) | undefined,
  event: E,
  logger: { error(m: string, d?: Record<string, unknown>): void } | undefined,
  what: string,
): void {
  if (hook === undefined) return;
  try {
    settled((hook as (event: E) => unknown)(event), (e) => hookThrew(logger, what, e));
  } catch (e) {
    hookThrew(logger, what, e);
  }
}

// ---- live policies, held weakly ----

interface Held {
  readonly kind: PolicyKind;
  readonly name: string;
  readonly ref: WeakRef<object>;
}
const held = new Set<Held>();
let pruneAt = 64;

function prune(): void {
  for (const h of held) if (h.ref.deref() === undefined) held.delete(h);
  pruneAt = Math.max(64, held.size * 2);
}

/** @internal Records a new policy (weakly) and tells subscribers. Call once per policy. */
export function created(kind: PolicyKind, name: string, policy: object): void {
  if (typeof WeakRef !== "function") return;
  const ref = new WeakRef(policy);
  held.add({ kind, name, ref });
  if (held.size >= pruneAt) prune();
  if (flags.on) emit({ type: "policy.created", kind, name, policy: ref });
}

/**
 * @internal Drops `policy` from {@linkcode policies} (a policy made only to
 * validate options, never used).
 */
export function forget<P extends object>(policy: P): P {
  for (const h of held) if (h.ref.deref() === policy) held.delete(h);
  return policy;
}

/**
 * The live policies (not yet garbage collected), oldest first; with `kind`,
 * only those of that kind. Nothing keeps a policy alive for this list:
 * exporters and status pages find bulkheads and limiters without a registry.
 *
 * @example Every bulkhead's load
 * ```ts
 * import { bulkhead, type BulkheadPolicy, policies } from "edge-resilience";
 *
 * const search = bulkhead({ name: "search", maxConcurrent: 10 });
 * for (const { policy } of policies("bulkhead")) {
 *   console.log((policy as BulkheadPolicy).getStats());
 * }
 * ```
 */
export function policies(kind?: PolicyKind): PolicyEntry[] {
  prune();
  const out: PolicyEntry[] = [];
  for (const h of held) {
    if (kind !== undefined && h.kind !== kind) continue;
    const policy = h.ref.deref();
    if (policy === undefined) continue;
    // A breaker made unnamed takes the name of the first function it wraps: read it now.
    const name = h.kind === "circuitBreaker" ? (policy as { name: string }).name : h.name;
    out.push({ kind: h.kind, name, policy });
  }
  return out;
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

/** @internal How a call that threw `e` ended; `aborted`: the caller's signal had aborted. */
export function outcomeOf(e: unknown, aborted: boolean): CallOutcome {
  if (aborted) return "cancelled";
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
 * @internal Emits a `call` event when `p` settles and passes its result on.
 * `parent` is the caller's scope (aborted: the call was cancelled).
 */
export function observeCall<T>(
  kind: PolicyKind,
  name: string,
  t0: number,
  p: Promise<T>,
  parent: { readonly aborted: boolean } | undefined,
): Promise<T> {
  return p.then(
    (v) => {
      if (flags.calls) {
        emit({ type: "call", kind, name, outcome: "success", duration: now() - t0 });
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
