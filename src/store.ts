/**
 * Shared circuit state: the protocol between a breaker and a state store.
 *
 * A breaker keeps a local, in-isolate view and syncs it with a
 * {@linkcode CircuitStore}. *Authoritative* stores (Durable Objects, Deno KV,
 * {@linkcode MemoryStore}) count outcomes, perform transitions and grant
 * half-open trial permits atomically, with the pure functions below.
 * *Advisory* stores (Workers KV) only broadcast that a circuit is OPEN.
 *
 * This module is platform-free; the adapters live in `src/cloudflare/` and
 * `src/deno_kv/`.
 *
 * @module
 */

import { CircuitState } from "./circuit_state.ts";
import {
  countShared,
  isSavedWindow,
  loadWindow,
  type SavedWindow,
  type SharedRates,
  sharedRules,
  sharedVerdict,
} from "./circuit_breaker/shared_rules.ts";
import { CLOSE, REOPEN } from "./circuit_breaker/strategy.ts";
import type { SavedBuckets } from "./circuit_breaker/time_window.ts";

export type { SavedBuckets, SavedWindow, SharedRates };

/** The shared state of one breaker, as stored. Times are wall-clock ms. */
export interface SharedState {
  /** Current state. */
  state: CircuitState;
  /** Increments on every transition; outcomes of older generations are ignored. */
  generation: number;
  /** Consecutive failures counted while CLOSED. */
  failures: number;
  /** Successful trials while HALF_OPEN. */
  successes: number;
  /** When the circuit last opened (epoch ms; 0 if never). */
  openedAt: number;
  /** Expiry times (epoch ms) of the half-open trial permits handed out. */
  permits: number[];
  /**
   * Rate mode: the shared window of calls (all instances' CLOSED calls),
   * a count window's digits or a time window's buckets (wall time).
   */
  window?: SavedWindow;
  /** Rate mode, OPEN: which rate opened the circuit. */
  tripped?: "failure_rate" | "slow_call_rate";
  /** Rate mode, HALF_OPEN: failed trials (successful ones are `successes`). */
  trialFailures?: number;
  /** Rate mode, HALF_OPEN: slow trials. */
  trialSlow?: number;
  /**
   * The open duration in force (ms) when `maxResetTimeout` made it grow;
   * absent: `resetTimeout`.
   */
  openFor?: number;
  /**
   * Set only in the answer of the operation that found the stored entry
   * unreadable and replaced it with a fresh CLOSED state (why it was
   * unreadable); never stored. The breaker logs it once.
   */
  repaired?: string;
}

/** The settings a store needs to apply a breaker's rules. */
export interface SharedConfig {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /**
   * Rate mode: the breaker's rate rules; the store keeps one window of every
   * instance's calls and trips on it with the same rules as a local breaker.
   */
  rates?: SharedRates;
  /** Each reopening from HALF_OPEN doubles the open duration, up to this (ms). */
  maxResetTimeout?: number;
  /** Milliseconds OPEN before trial calls. */
  resetTimeout: number;
  /** Concurrent trials in HALF_OPEN, and successes needed to close. */
  halfOpenMaxCalls: number;
  /** Milliseconds after which an unreturned permit is reclaimed (a crashed isolate's). */
  permitTtl: number;
  /**
   * How long the breaker waits for this operation (ms; its
   * `storeOptions.timeout`). A store that retries contention (Deno KV's
   * "database is locked", a lost compare-and-set) gives up before it.
   */
  timeout?: number;
}

/** One call's outcome, reported to an authoritative store. */
export interface Outcome {
  /** Whether the call succeeded. */
  ok: boolean;
  /** The generation the call was admitted in. */
  generation: number;
  /** Whether the call held a half-open trial permit. */
  permit?: boolean;
  /** Whether the call was slow (it took at least the breaker's `slowCallDuration`). */
  slow?: boolean;
  /**
   * Which permit (its expiry, from {@linkcode PermitAnswer.permit}): only that
   * one is returned. A trial that reports after its permit expired returns
   * none, so it cannot free a permit another trial holds. Without it, the
   * oldest permit is returned.
   */
  permitId?: number;
  /**
   * The call says nothing about the service (its caller cancelled it): it
   * only returns its permit, counting neither as success nor as failure.
   */
  neutral?: boolean;
}

/** Answer of {@linkcode CircuitStore.acquire}. */
export interface PermitAnswer {
  /** Whether the call may run (a trial permit, or the circuit is CLOSED). */
  granted: boolean;
  /** The state after the request. */
  state: SharedState;
  /** When granted in HALF_OPEN: the permit's id (its expiry), to send back as `Outcome.permitId`. */
  permit?: number;
}

/**
 * Where a breaker's state is shared. Implement it to add a backend; every
 * method may throw or hang: the breaker bounds each call with its own
 * timeout and falls back to local state.
 *
 * @example A store that shares state between breakers of one process
 * ```ts
 * import { circuitBreaker, MemoryStore } from "edge-resilience";
 *
 * const store = new MemoryStore();
 * const a = circuitBreaker({ name: "api-a", store, storeKey: "api" });
 * const b = circuitBreaker({ name: "api-b", store, storeKey: "api" });
 * ```
 */
export interface CircuitStore {
  /**
   * `"authoritative"`: the store counts outcomes and decides transitions
   * (`sync` applies outcomes, `acquire` grants permits). `"advisory"`: the
   * store only relays OPEN (`sync` reads, `publish` writes).
   */
  readonly kind: "authoritative" | "advisory";
  /**
   * Applies `outcomes` in order (authoritative stores) and returns the state,
   * or `undefined` when nothing is stored for `key`.
   */
  sync(
    key: string,
    outcomes: readonly Outcome[],
    config: SharedConfig,
  ): Promise<SharedState | undefined>;
  /** Authoritative stores: moves OPEN → HALF_OPEN when due and grants a trial permit. */
  acquire?(key: string, config: SharedConfig): Promise<PermitAnswer>;
  /** Advisory stores: publishes a local transition. */
  publish?(key: string, state: SharedState): Promise<void>;
  /**
   * Optional: throws (a `RangeError` naming the limit) when a breaker's key
   * cannot be stored (too long, invalid). Called once, when the breaker is
   * built, so that a key that cannot work is refused there rather than
   * showing up as a store outage at the first call.
   */
  checkKey?(key: string): void;
}

/**
 * A fresh CLOSED state.
 *
 * @example
 * ```ts
 * import { initialSharedState } from "edge-resilience";
 *
 * console.log(initialSharedState().state); // "closed"
 * ```
 */
export function initialSharedState(): SharedState {
  return {
    state: CircuitState.CLOSED,
    generation: 0,
    failures: 0,
    successes: 0,
    openedAt: 0,
    permits: [],
  };
}

function go(s: SharedState, to: CircuitState, now: number, config?: SharedConfig): void {
  const from = s.state;
  s.state = to;
  s.generation++;
  s.successes = 0;
  s.permits = [];
  delete s.trialFailures;
  delete s.trialSlow;
  delete s.tripped;
  // A close (or a half-open period) starts a fresh window; OPEN keeps the one that tripped.
  if (to !== CircuitState.OPEN) delete s.window;
  if (to === CircuitState.OPEN) {
    s.openedAt = now;
    // Reopened by its trials without a close in between: the open duration doubles.
    const max = config?.maxResetTimeout;
    if (from === CircuitState.HALF_OPEN && max !== undefined) {
      s.openFor = Math.min((s.openFor ?? config!.resetTimeout) * 2, max);
    }
  } else {
    s.failures = 0;
    if (to === CircuitState.CLOSED) delete s.openFor;
  }
}

/** The open duration in force of a shared state. */
export function openDuration(s: SharedState, config: SharedConfig): number {
  return s.openFor ?? config.resetTimeout;
}

/**
 * Applies outcomes in order; outcomes of another generation are ignored.
 * Pure: returns a new state. Used by every authoritative store.
 *
 * @example
 * ```ts
 * import { applyOutcomes, initialSharedState } from "edge-resilience";
 *
 * const cfg = { failureThreshold: 2, resetTimeout: 1000, halfOpenMaxCalls: 1, permitTtl: 1000 };
 * const s = applyOutcomes(initialSharedState(), [
 *   { ok: false, generation: 0 },
 *   { ok: false, generation: 0 },
 * ], cfg, Date.now());
 * console.log(s.state); // "open"
 * ```
 */
export function applyOutcomes(
  state: SharedState,
  outcomes: readonly Outcome[],
  config: SharedConfig,
  now: number,
): SharedState {
  const s = boundSharedState(state, config, now);
  // Rate mode: the same rules and windows as a local breaker, on the shared window.
  const rate = config.rates === undefined
    ? undefined
    : sharedRules(config.rates, config.failureThreshold);
  let loaded = false;
  for (const o of outcomes) {
    if (o.generation !== s.generation) continue;
    const half = s.state === CircuitState.HALF_OPEN;
    if (half) {
      if (!o.permit) continue;
      if (o.permitId === undefined) s.permits.shift();
      else {
        const i = s.permits.indexOf(o.permitId);
        if (i >= 0) s.permits.splice(i, 1);
      }
      if (o.neutral === true) continue;
      if (rate) {
        if (o.ok) s.successes++;
        else s.trialFailures = (s.trialFailures ?? 0) + 1;
        if (o.slow === true) s.trialSlow = (s.trialSlow ?? 0) + 1;
        const f = s.trialFailures ?? 0;
        const v = sharedVerdict(
          rate.rules,
          config.halfOpenMaxCalls,
          s.successes + f,
          f,
          s.trialSlow ?? 0,
        );
        if (v === REOPEN) go(s, CircuitState.OPEN, now, config);
        else if (v === CLOSE) go(s, CircuitState.CLOSED, now, config);
      } else if (!o.ok) go(s, CircuitState.OPEN, now, config);
      else if (++s.successes >= config.halfOpenMaxCalls) go(s, CircuitState.CLOSED, now, config);
    } else if (s.state === CircuitState.CLOSED) {
      if (o.neutral === true) continue;
      if (o.ok) s.failures = 0;
      else if (++s.failures >= config.failureThreshold) {
        go(s, CircuitState.OPEN, now, config);
        continue;
      }
      if (rate) {
        if (!loaded) {
          loadWindow(rate.window, s.window);
          loaded = true;
        }
        const why = countShared(rate.rules, rate.window, !o.ok, o.slow === true, now);
        s.window = rate.window.save();
        if (why !== undefined) {
          go(s, CircuitState.OPEN, now, config);
          s.tripped = why;
        }
      }
    }
  }
  return s;
}

/**
 * Grants a call: always while CLOSED; while OPEN only once the reset timeout
 * passed (moving to HALF_OPEN); in HALF_OPEN while fewer than
 * `halfOpenMaxCalls` permits are out (expired permits are reclaimed). Pure.
 *
 * @example
 * ```ts
 * import { acquirePermit, initialSharedState } from "edge-resilience";
 *
 * const cfg = { failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 1, permitTtl: 1000 };
 * const { granted } = acquirePermit(initialSharedState(), cfg, Date.now());
 * console.log(granted); // true
 * ```
 */
export function acquirePermit(
  state: SharedState,
  config: SharedConfig,
  now: number,
): PermitAnswer {
  const s = boundSharedState(state, config, now);
  s.permits = s.permits.filter((t) => t > now);
  if (s.state === CircuitState.CLOSED) return { granted: true, state: s };
  if (s.state === CircuitState.OPEN) {
    if (now - s.openedAt < openDuration(s, config)) return { granted: false, state: s };
    go(s, CircuitState.HALF_OPEN, now, config);
  }
  if (s.permits.length >= config.halfOpenMaxCalls) return { granted: false, state: s };
  const permit = now + config.permitTtl;
  s.permits.push(permit);
  return { granted: true, state: s, permit };
}

/**
 * How far in the future a stored time may lie, for a breaker with this
 * `resetTimeout`: clock skew between instances and the store (or a corrupt
 * entry). `min(resetTimeout, 5000)` ms.
 *
 * @example
 * ```ts
 * import { skewAllowance } from "edge-resilience";
 *
 * console.log(skewAllowance(60_000)); // 5000
 * console.log(skewAllowance(1000)); // 1000
 * ```
 */
export function skewAllowance(resetTimeout: number): number {
  return Math.min(resetTimeout, MAX_SKEW);
}

const MAX_SKEW = 5000;

/**
 * Validates a state against the breaker's own config at `now` (epoch ms):
 * an `openedAt` or a permit expiry further in the future than the
 * {@linkcode skewAllowance} is brought back to it. So no stored state keeps
 * a circuit OPEN longer than `resetTimeout + skewAllowance`, nor a trial
 * permit longer than `permitTtl + skewAllowance`. Pure: returns a copy. {@linkcode applyOutcomes} and
 * {@linkcode acquirePermit} apply it; the breaker applies it to every state
 * it reads.
 *
 * @example
 * ```ts
 * import { boundSharedState, initialSharedState } from "edge-resilience";
 *
 * const cfg = { failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 1, permitTtl: 1000 };
 * const future = { ...initialSharedState(), state: "open" as const, openedAt: 1e15 };
 * console.log(boundSharedState(future, cfg, 0).openedAt); // 1000
 * ```
 */
export function boundSharedState(
  state: SharedState,
  config: SharedConfig,
  now: number,
): SharedState {
  const skew = skewAllowance(config.resetTimeout);
  const latestPermit = now + config.permitTtl + skew;
  const s: SharedState = {
    state: state.state,
    generation: state.generation,
    failures: state.failures,
    successes: state.successes,
    openedAt: Math.min(state.openedAt, now + skew),
    permits: state.permits.map((t) => Math.min(t, latestPermit)),
  };
  copyRateFields(state, s);
  if (s.openFor !== undefined && config.maxResetTimeout !== undefined) {
    s.openFor = Math.min(s.openFor, config.maxResetTimeout);
  }
  if (state.repaired !== undefined) s.repaired = state.repaired;
  return s;
}

const STATES: readonly string[] = [CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN];
const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const time = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;

/**
 * Checks data read from a store; throws a `TypeError` if it is not a
 * {@linkcode SharedState}. Anything read from a store goes through it.
 *
 * @example
 * ```ts
 * import { parseSharedState } from "edge-resilience";
 *
 * parseSharedState({ state: "open" }); // throws TypeError
 * ```
 */
export function parseSharedState(data: unknown): SharedState {
  const d = data as Partial<SharedState> | null;
  if (
    typeof d !== "object" || d === null || !STATES.includes(d.state as string) ||
    !count(d.generation) || !count(d.failures) || !count(d.successes) || !time(d.openedAt) ||
    !Array.isArray(d.permits) || d.permits.length > 10_000 || !d.permits.every(time)
  ) {
    throw new TypeError("malformed circuit state from the store");
  }
  const s: SharedState = {
    state: d.state as CircuitState,
    generation: d.generation!,
    failures: d.failures!,
    successes: d.successes!,
    openedAt: d.openedAt!,
    permits: d.permits.slice(),
  };
  if (
    (d.window !== undefined && !isSavedWindow(d.window)) ||
    (d.trialFailures !== undefined && !count(d.trialFailures)) ||
    (d.trialSlow !== undefined && !count(d.trialSlow)) ||
    (d.openFor !== undefined && !time(d.openFor)) ||
    (d.tripped !== undefined && d.tripped !== "failure_rate" && d.tripped !== "slow_call_rate")
  ) {
    throw new TypeError("malformed circuit state from the store");
  }
  copyRateFields(d as SharedState, s);
  if (typeof d.repaired === "string") s.repaired = d.repaired.slice(0, 200);
  return s;
}

/** Copies the rate-mode fields that are present (windows are copied, not shared). */
function copyRateFields(from: SharedState, to: SharedState): void {
  const w = from.window;
  if (w !== undefined) {
    to.window = typeof w === "string" ? w : { at: w.at, counts: w.counts.slice() };
  }
  if (from.trialFailures !== undefined) to.trialFailures = from.trialFailures;
  if (from.trialSlow !== undefined) to.trialSlow = from.trialSlow;
  if (from.openFor !== undefined) to.openFor = from.openFor;
  if (from.tripped !== undefined) to.tripped = from.tripped;
}

/**
 * Reads an entry as stored: `undefined`/`null` is a fresh CLOSED state; an
 * unreadable value (corrupt, another version's) is **repaired**: a fresh
 * CLOSED state with `repaired` saying why. The store then writes the state
 * (without the mark) and returns it with the mark, so the breaker that
 * triggered the repair logs it once and every instance is back on the
 * shared circuit at once instead of running locally until the entry expires.
 *
 * @example
 * ```ts
 * import { readStoredState } from "edge-resilience";
 *
 * console.log(readStoredState("{garbage").repaired); // "malformed circuit state from the store"
 * ```
 */
export function readStoredState(raw: unknown): SharedState {
  if (raw === undefined || raw === null) return initialSharedState();
  try {
    const s = parseSharedState(raw);
    delete s.repaired;
    return s;
  } catch (e) {
    return { ...initialSharedState(), repaired: (e as Error).message };
  }
}

/**
 * The state to store and the answer to give, from a state computed after a
 * {@linkcode readStoredState}: the stored copy never carries `repaired`.
 *
 * @example
 * ```ts
 * import { readStoredState, withoutMark } from "edge-resilience";
 *
 * const s = readStoredState(42);
 * console.log(withoutMark(s).repaired); // undefined
 * ```
 */
export function withoutMark(s: SharedState): SharedState {
  if (s.repaired === undefined) return s;
  const { repaired: _, ...rest } = s;
  return rest;
}

/**
 * Validates a breaker name for use in a store key: a non-empty string of at
 * most `maxBytes` UTF-8 bytes once prefixed. Names are encoded
 * (`encodeURIComponent`), so they cannot escape the prefix.
 *
 * @example
 * ```ts
 * import { storeKey } from "edge-resilience";
 *
 * console.log(storeKey("er:cb:", "api/../x")); // "er:cb:api%2F..%2Fx"
 * ```
 */
export function storeKey(prefix: string, name: string, maxBytes = 512): string {
  if (typeof name !== "string" || name === "") {
    throw new TypeError("store key: the breaker name must be a non-empty string");
  }
  const encoded = encodeURIComponent(name); // ASCII only: one byte per character
  const key = prefix + encoded;
  const size = encoded.length + new TextEncoder().encode(prefix).length;
  if (size > maxBytes) {
    throw new RangeError(
      `store key '${
        key.slice(0, 40)
      }…' is ${size} bytes once prefixed and encoded; the limit is ${maxBytes} bytes`,
    );
  }
  return key;
}
