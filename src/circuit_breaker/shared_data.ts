// A circuit as plain data: the snapshot of a CircuitMachine that stores keep,
// its validation (anything read from a store is checked and repaired), the
// skew bound on the times it holds, and snapshot/restore of the machine.
import { CircuitState } from "../circuit_state.ts";
import { CircuitMachine, type MachineSettings } from "./machine.ts";
import { TripRules } from "./rules.ts";
import {
  isSavedWindow,
  loadWindow,
  type SavedWindow,
  type SharedRates,
  sharedRules,
} from "./shared_rules.ts";
import type { SavedBuckets } from "./time_window.ts";
import type { TransitionReason } from "./types.ts";

export type { SavedBuckets, SavedWindow, SharedRates };

/** The shared state of one breaker, as stored: a snapshot of its state machine. */
export interface SharedState {
  /** Current state. */
  state: CircuitState;
  /** Increments on every transition; outcomes of older generations are ignored. */
  generation: number;
  /** Consecutive failures counted while CLOSED (failed trials add to it). */
  failures: number;
  /** Successes since the last transition (HALF_OPEN: successful trials). */
  successes: number;
  /** When the circuit last opened (epoch ms; 0 if never). */
  openedAt: number;
  /** Expiry times (epoch ms) of the half-open trial permits handed out; also their ids. */
  permits: number[];
  /**
   * Rate mode: the shared window of calls (all instances' CLOSED calls),
   * a count window's digits or a time window's buckets (wall time).
   */
  window?: SavedWindow;
  /** HALF_OPEN: failed trials (successful ones are `successes`). */
  trialFailures?: number;
  /** HALF_OPEN: slow trials. */
  trialSlow?: number;
  /** The open duration in force (ms) when `maxResetTimeout` made it grow; absent: `resetTimeout`. */
  openFor?: number;
  /** Held OPEN by a fleet-wide isolation until released or reset. */
  held?: boolean;
  /** Why the last transition happened, and when (epoch ms). */
  reason?: TransitionReason;
  /** When the last transition happened (epoch ms). */
  changedAt?: number;
  /** When the latest counted failure and success happened (epoch ms): the order of reports. */
  lastFailureAt?: number;
  /** See `lastFailureAt`. */
  lastSuccessAt?: number;
  /**
   * Set only in the answer of the operation that found the stored entry
   * unreadable and replaced it with a fresh CLOSED state (why it was
   * unreadable); never stored. The breaker logs it once.
   */
  repaired?: string;
}

/** The settings a store needs to run a breaker's state machine. */
export interface SharedConfig {
  /** Consecutive failures that open the circuit (rate mode only: `Number.MAX_SAFE_INTEGER`). */
  failureThreshold: number;
  /** Rate mode: the breaker's rate rules; the store keeps one window of every instance's calls. */
  rates?: SharedRates;
  /** Each reopening from HALF_OPEN doubles the open duration, up to this (ms). */
  maxResetTimeout?: number;
  /** Milliseconds OPEN before trial calls; also the longest a trial holds its permit. */
  resetTimeout: number;
  /** Concurrent trials in HALF_OPEN, and successes needed to close. */
  halfOpenMaxCalls: number;
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
  /** Which permit (its id from {@linkcode PermitAnswer.permit}); without it, the oldest. */
  permitId?: number;
  /** The call says nothing about the service: it only returns its permit, counting nothing. */
  neutral?: boolean;
  /**
   * When the call ended (epoch ms, the reporting instance's clock): outcomes
   * count in the order they happened, not the order they were reported. Absent:
   * the store's time.
   */
  at?: number;
}

/** Answer of a permit request (see {@linkcode acquirePermit}). */
export interface PermitAnswer {
  /** Whether the call may run (a trial permit, or the circuit is CLOSED). */
  granted: boolean;
  /** The state after the request. */
  state: SharedState;
  /** When granted in HALF_OPEN: the permit's id, to send back as `Outcome.permitId`. */
  permit?: number;
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

/** The machine settings of a config. */
function settings(config: SharedConfig): MachineSettings {
  return {
    resetTimeout: config.resetTimeout,
    maxReset: config.maxResetTimeout ?? config.resetTimeout,
    halfOpenMax: config.halfOpenMaxCalls,
  };
}

/** The trip rules of a config: the same TripRules a local breaker runs. */
function rulesFor(config: SharedConfig): TripRules {
  if (config.rates === undefined) {
    return new TripRules(undefined, {
      failureRate: undefined,
      slowRate: undefined,
      minCalls: 1,
      consecutive: config.failureThreshold,
    });
  }
  const { rules, window } = sharedRules(config.rates, config.failureThreshold);
  return new TripRules(window, rules);
}

/** A machine for `config` in the state `s` (see {@linkcode loadState}), at `now`. */
export function restoreMachine(s: SharedState, config: SharedConfig, now: number): CircuitMachine {
  const m = new CircuitMachine(settings(config), rulesFor(config));
  m.now = now;
  loadState(m, s);
  return m;
}

/** Puts a (parsed, bounded) state into a machine's fields. */
export function loadState(m: CircuitMachine, s: SharedState): void {
  m.state = s.state;
  m.gen = s.generation;
  m.successes = s.successes;
  m.openedAt = s.openedAt;
  m.permits = s.permits.slice();
  m.openFor = Math.min(s.openFor ?? m.resetTimeout, m.maxReset);
  m.held = s.held === true;
  m.reason = s.reason;
  m.changedAt = s.changedAt ?? 0;
  m.lastFailureAt = s.lastFailureAt ?? 0;
  m.lastSuccessAt = s.lastSuccessAt ?? 0;
  const r = m.strategy;
  r.inARow = s.failures;
  if (r.calls !== undefined) loadWindow(r.calls as Parameters<typeof loadWindow>[0], s.window);
  const half = s.state === CircuitState.HALF_OPEN;
  r.tFailures = half ? s.trialFailures ?? 0 : 0;
  r.tSlow = half ? s.trialSlow ?? 0 : 0;
  r.tCalls = half ? s.successes + r.tFailures : 0;
}

/** The state of a machine, as stored. */
export function snapshot(m: CircuitMachine): SharedState {
  const r = m.strategy;
  const s: SharedState = {
    state: m.state,
    generation: m.gen,
    failures: r.inARow,
    successes: m.successes,
    openedAt: m.openedAt,
    permits: m.permits.slice(),
  };
  const w = r.calls as { calls: number; save(): SavedWindow } | undefined;
  if (w !== undefined && w.calls > 0) s.window = w.save();
  if (m.state === CircuitState.HALF_OPEN) {
    if (r.tFailures > 0) s.trialFailures = r.tFailures;
    if (r.tSlow > 0) s.trialSlow = r.tSlow;
  }
  if (m.openFor !== m.resetTimeout) s.openFor = m.openFor;
  if (m.held) s.held = true;
  if (m.reason !== undefined) {
    s.reason = m.reason;
    s.changedAt = m.changedAt;
  }
  if (m.lastFailureAt !== 0) s.lastFailureAt = m.lastFailureAt;
  if (m.lastSuccessAt !== 0) s.lastSuccessAt = m.lastSuccessAt;
  return s;
}

/**
 * Validates a state against the breaker's own config at `now` (epoch ms):
 * any time further in the future than the {@linkcode skewAllowance} (an
 * `openedAt`, a permit expiry, a time window's newest bucket, a report's
 * time) is brought back to it. So no stored state keeps a circuit OPEN
 * longer than `resetTimeout + skewAllowance`, a trial permit longer than
 * `resetTimeout + skewAllowance`, nor calls in a time window longer than the
 * window + skewAllowance. Pure: returns a copy.
 *
 * @example
 * ```ts
 * import { boundSharedState, initialSharedState } from "edge-resilience";
 *
 * const cfg = { failureThreshold: 1, resetTimeout: 1000, halfOpenMaxCalls: 1 };
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
  const latest = now + skew;
  const latestPermit = latest + Math.max(1, config.resetTimeout);
  const s: SharedState = { ...state, permits: state.permits.map((t) => Math.min(t, latestPermit)) };
  s.openedAt = Math.min(state.openedAt, latest);
  if (s.changedAt !== undefined) s.changedAt = Math.min(s.changedAt, latest);
  if (s.lastFailureAt !== undefined) s.lastFailureAt = Math.min(s.lastFailureAt, latest);
  if (s.lastSuccessAt !== undefined) s.lastSuccessAt = Math.min(s.lastSuccessAt, latest);
  const w = state.window;
  if (typeof w === "object") {
    s.window = { at: w.at, counts: w.counts.slice() };
    const d = config.rates?.windowDuration;
    const n = config.rates?.windowBuckets;
    if (d !== undefined && n !== undefined) {
      // A time window's newest bucket no later than the skew allows (a fast clock's buckets).
      s.window.at = Math.min(w.at, Math.floor(latest / (d / n)));
    }
  }
  if (s.openFor !== undefined) {
    s.openFor = Math.min(s.openFor, config.maxResetTimeout ?? config.resetTimeout);
  }
  return s;
}

const STATES: readonly string[] = [CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN];
const REASONS: readonly string[] = [
  "failure_threshold",
  "failure_rate",
  "slow_call_rate",
  "reset_timeout",
  "half_open_failure",
  "recovered",
  "manual_open",
  "isolated",
  "reset",
  "shared",
];
const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const time = (v: unknown) => typeof v === "number" && Number.isFinite(v);
const optional = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || ok(v);

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
    !Array.isArray(d.permits) || d.permits.length > 10_000 || !d.permits.every(time) ||
    !optional(d.window, isSavedWindow) || !optional(d.trialFailures, count) ||
    !optional(d.trialSlow, count) || !optional(d.openFor, (v) => time(v) && (v as number) >= 0) ||
    !optional(d.held, (v) => typeof v === "boolean") ||
    !optional(d.reason, (v) => REASONS.includes(v as string)) || !optional(d.changedAt, time) ||
    !optional(d.lastFailureAt, time) || !optional(d.lastSuccessAt, time)
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
  const w = d.window;
  if (w !== undefined) {
    s.window = typeof w === "string" ? w : { at: w.at, counts: w.counts.slice() };
  }
  for (
    const k of [
      "trialFailures",
      "trialSlow",
      "openFor",
      "held",
      "reason",
      "changedAt",
      "lastFailureAt",
      "lastSuccessAt",
    ] as const
  ) {
    if (d[k] !== undefined) (s as unknown as Record<string, unknown>)[k] = d[k];
  }
  if (typeof d.repaired === "string") s.repaired = d.repaired.slice(0, 200);
  return s;
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
