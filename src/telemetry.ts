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

import type { StateChangeEvent } from "./circuit_breaker/types.ts";
import type { ChaosEvent } from "./chaos.ts";
import { getDefaultLogger } from "./logger.ts";
import type { RetryEvent } from "./retry.ts";
import type { StoreStatusEvent } from "./shared/status.ts";

/** The kinds of policy that report to the channel (their factory's name). */
export type PolicyKind =
  | "retry"
  | "circuitBreaker"
  | "timeout"
  | "fallback"
  | "bulkhead"
  | "hedge"
  | "retryBudget"
  | "rateLimiter"
  | "adaptiveConcurrency"
  | "chaos";

/**
 * How a call ended. `rejected`: it did not run (`CircuitOpenError`,
 * `BulkheadRejectedError`, `RateLimitedError`,
 * `AdaptiveConcurrencyRejectedError`); `cancelled`: the caller's own signal
 * aborted it (neutral, as breakers count it); `timeout`: a
 * `ResilienceTimeoutError`; `failure`: any other error.
 */
export type CallOutcome = "success" | "failure" | "rejected" | "timeout" | "cancelled";

/** Fields every event has: which policy sent it. */
export interface TelemetrySource<K extends PolicyKind = PolicyKind> {
  /** The policy's kind. */
  readonly kind: K;
  /** The policy's name (its `name` option, or else the wrapped function's name). */
  readonly name: string;
}

/** A policy was created: `policy` holds it weakly (`deref()` is `undefined` once collected). */
export interface PolicyCreatedEvent extends TelemetrySource {
  /** Discriminant. */
  readonly type: "policy.created";
  /** The policy, held weakly. */
  readonly policy: WeakRef<object>;
}

/** A call through a policy settled (only to subscribers that asked for `{ calls: true }`). */
export interface CallEvent extends TelemetrySource {
  /** Discriminant. */
  readonly type: "call";
  /** How it ended. */
  readonly outcome: CallOutcome;
  /** How long it took, in milliseconds. */
  readonly duration: number;
  /** The error's class name, when it failed. */
  readonly errorType?: string;
}

/** One attempt of a retry or a hedge settled (only with `{ calls: true }`, as call events). */
export interface AttemptEvent extends TelemetrySource<"retry" | "hedge"> {
  /** Discriminant. */
  readonly type: "attempt";
  /** The attempt's number (1-based). */
  readonly attempt: number;
  /** How long it took, in milliseconds. */
  readonly duration: number;
  /** How it ended. */
  readonly outcome: CallOutcome;
  /** Whether the policy handles it by another attempt (a retried error or result). */
  readonly handled: boolean;
  /** The error's class name, when it failed. */
  readonly errorType?: string;
}

/** A circuit breaker changed state (the same event `onStateChange` receives). */
export interface BreakerTransitionEvent extends TelemetrySource<"circuitBreaker"> {
  /** Discriminant. */
  readonly type: "breaker.transition";
  /** The transition. */
  readonly event: StateChangeEvent;
}

/** A breaker's or rate limiter's store became unavailable or recovered. */
export interface StoreStatusTelemetryEvent
  extends TelemetrySource<"circuitBreaker" | "rateLimiter"> {
  /** Discriminant. */
  readonly type: "store.status";
  /** The same event `onStoreStatus` receives. */
  readonly event: StoreStatusEvent;
}

/** A retry is scheduled (the same event `onRetry` receives). */
export interface RetryTelemetryEvent extends TelemetrySource<"retry"> {
  /** Discriminant. */
  readonly type: "retry";
  /** The retry. */
  readonly event: RetryEvent;
}

/** A timeout's deadline passed. */
export interface TimeoutEvent extends TelemetrySource<"timeout"> {
  /** Discriminant. */
  readonly type: "timeout";
  /** The deadline, in milliseconds. */
  readonly timeout: number;
}

/** A fallback answered in place of the primary. */
export interface FallbackEvent extends TelemetrySource<"fallback"> {
  /** Discriminant. */
  readonly type: "fallback";
  /** The class name of the error the fallback replaced. */
  readonly errorType: string;
}

/** A bulkhead refused a call. */
export interface BulkheadRejectedEvent extends TelemetrySource<"bulkhead"> {
  /** Discriminant. */
  readonly type: "bulkhead.rejected";
  /** Why. */
  readonly reason: "queue-full" | "queue-timeout";
}

/** A hedge launched another attempt. */
export interface HedgeEvent extends TelemetrySource<"hedge"> {
  /** Discriminant. */
  readonly type: "hedge";
  /** The number of the attempt launched (2 for the first hedge). */
  readonly attempt: number;
}

/** A rate limiter refused a call (never the client key: it is unbounded). */
export interface RateLimitedEvent extends TelemetrySource<"rateLimiter"> {
  /** Discriminant. */
  readonly type: "rate_limited";
  /** Milliseconds until a permit is expected. */
  readonly retryAfter: number;
}

/** A rate limiter granted a permit (after waiting `waited` ms when it queues). */
export interface RateLimitAcquiredEvent extends TelemetrySource<"rateLimiter"> {
  /** Discriminant. */
  readonly type: "rate_limit.acquired";
  /** Milliseconds the call waits for its permit (0: at once). */
  readonly waited: number;
}

/** A call waiting for a rate limiter's permit was cancelled by its caller. */
export interface RateLimitCanceledEvent extends TelemetrySource<"rateLimiter"> {
  /** Discriminant. */
  readonly type: "rate_limit.canceled";
}

/** An open (or isolated) circuit breaker refused a call. */
export interface BreakerRejectedEvent extends TelemetrySource<"circuitBreaker"> {
  /** Discriminant. */
  readonly type: "breaker.rejected";
  /** Milliseconds until it lets a trial call through (`Infinity` while isolated). */
  readonly timeUntilReset: number;
}

/** An adaptive concurrency limiter refused a call. */
export interface AdaptiveRejectedEvent extends TelemetrySource<"adaptiveConcurrency"> {
  /** Discriminant. */
  readonly type: "adaptive.rejected";
  /** Why. */
  readonly reason: "limit" | "queue-full" | "queue-timeout";
}

/** A retry budget refused a retry. */
export interface BudgetRefusedEvent extends TelemetrySource<"retryBudget"> {
  /** Discriminant. */
  readonly type: "budget.refused";
}

/** An adaptive concurrency limit changed. */
export interface LimitChangedEvent extends TelemetrySource<"adaptiveConcurrency"> {
  /** Discriminant. */
  readonly type: "limit.changed";
  /** The new limit. */
  readonly limit: number;
  /** The limit before. */
  readonly previous: number;
}

/** A chaos policy injected a fault (the same event its `onInject` receives). */
export interface ChaosTelemetryEvent extends TelemetrySource<"chaos"> {
  /** Discriminant. */
  readonly type: "chaos";
  /** The injection. */
  readonly event: ChaosEvent;
}

/** Every event of the channel: a union discriminated by `type`. */
export type TelemetryEvent =
  | PolicyCreatedEvent
  | CallEvent
  | AttemptEvent
  | BreakerTransitionEvent
  | BreakerRejectedEvent
  | StoreStatusTelemetryEvent
  | RetryTelemetryEvent
  | TimeoutEvent
  | FallbackEvent
  | BulkheadRejectedEvent
  | HedgeEvent
  | RateLimitedEvent
  | RateLimitAcquiredEvent
  | RateLimitCanceledEvent
  | BudgetRefusedEvent
  | LimitChangedEvent
  | AdaptiveRejectedEvent
  | ChaosTelemetryEvent;

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
  /** Its name at creation. */
  readonly name: string;
  /** The policy object (a breaker, a bulkhead, a rate limiter…). */
  readonly policy: object;
}

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
  if (options === null || typeof options !== "object") {
    throw new TypeError("subscribe: options must be an object");
  }
  for (const k of Object.keys(options)) {
    if (k !== "calls") {
      throw new TypeError(`subscribe: unknown option '${k}' (did you mean 'calls'?)`);
    }
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

/** @internal Delivers `event` to every subscriber (guarded). Call only when `flags.on`. */
export function emit(event: TelemetryEvent): void {
  built.count++;
  const call = event.type === "call" || event.type === "attempt";
  for (const s of subscribers) {
    if (call && !s.calls) continue;
    try {
      s.listener(event);
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
  try {
    (logger ?? getDefaultLogger()).error(`${what} threw: ${String(error)}`, { error });
  } catch {
    // A logger that throws too: nothing more to do.
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
    hook(event);
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
    if (policy !== undefined) out.push({ kind: h.kind, name: h.name, policy });
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
