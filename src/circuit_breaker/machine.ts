// The one state machine of a circuit: admission (CLOSED, OPEN, HALF_OPEN
// with trial permits), outcomes, operator commands, transitions. Its fields
// are plain data, so the same machine runs in place in a local breaker and,
// restored from a stored snapshot, inside every authoritative store
// (shared_data.ts: the snapshot; reducer.ts: the store's operations). Time is
// whatever clock the owner runs it on (`time()`): a local breaker's monotonic
// clock, or wall time for a shared circuit.
import { CircuitState } from "../circuit_state.ts";
import type { TripRules } from "./rules.ts";
import { CLOSE, REOPEN } from "./strategy.ts";
import type { TransitionReason } from "./types.ts";

/** `admit()`'s answer for a call that must be rejected. */
export const REJECT = -1;

/** A half-open trial: holds a permit until it settles or the permit expires. */
export interface Trial {
  /** The generation that admitted it. */
  readonly gen: number;
  /** The permit: its expiry (`time()` when admitted + the permit lifetime), also its id. */
  readonly permit: number;
}

/** What `admit()` hands an admitted call: its generation (CLOSED), or its trial. */
export type Token = number | Trial;

/** A call's outcome, classified once by the breaker before it reaches any machine. */
export const SUCCESS = 0;
/** The call failed (counts). */
export const FAILURE = 1;
/** The call says nothing about the service (excluded error, caller's abort): counts nothing. */
export const NEUTRAL = 2;
/** {@linkcode SUCCESS}, {@linkcode FAILURE} or {@linkcode NEUTRAL}. */
export type Result = typeof SUCCESS | typeof FAILURE | typeof NEUTRAL;

/** An operator's command: `open()`, `reset()`, a fleet isolation and its release. */
export type Command = "open" | "reset" | "isolate" | "release";

/** The settings of a machine (from a breaker's options, or the config a store is sent). */
export interface MachineSettings {
  /** Option `resetTimeout`: ms OPEN before trials; also the longest a trial holds its permit. */
  readonly resetTimeout: number;
  /** Option `maxResetTimeout` (`resetTimeout` when the open duration never grows). */
  readonly maxReset: number;
  /** Option `halfOpenMaxCalls`. */
  readonly halfOpenMax: number;
}

/**
 * How long a trial holds its permit: `resetTimeout` (at least 1 ms, so that
 * a permit exists at all with `resetTimeout: 0`). One rule, with and without
 * a store: a trial that has not settled by then gives its permit back.
 */
export function permitLifetime(resetTimeout: number): number {
  return Math.max(1, resetTimeout);
}

export class CircuitMachine {
  readonly resetTimeout: number;
  readonly maxReset: number;
  readonly halfOpenMax: number;
  /** When CLOSED opens and when trials close it (the failure count of stats and events). */
  readonly strategy: TripRules;
  state: CircuitState = CircuitState.CLOSED;
  /** Increments on every transition: outcomes of calls admitted earlier are ignored. */
  gen = 0;
  /** When the circuit last opened (`time()`). */
  openedAt = 0;
  /** The open duration in force: doubles on each reopen from HALF_OPEN, up to maxReset. */
  openFor: number;
  /** Successes since the last transition (HALF_OPEN: successful trials). */
  successes = 0;
  /** Expiries of the permits held by trials (any generation; expired ones dropped lazily). */
  permits: number[] = [];
  /** Held OPEN by a fleet-wide isolation (a shared circuit's `isolate({ scope: "fleet" })`). */
  held = false;
  /** The reason of the last transition, and when it happened (`time()`; 0: never). */
  reason: TransitionReason | undefined;
  changedAt = 0;
  /** Time of the latest counted failure and success (a shared circuit's report order). */
  lastFailureAt = 0;
  lastSuccessAt = 0;
  /** Results ignored because they arrived after a transition or after their permit expired. */
  late = 0;
  /** Milliseconds until reset computed by the last rejecting `admit()`. */
  left = 0;
  /** The current time of a store's operation (see `time()`). */
  now = 0;

  constructor(s: MachineSettings, strategy: TripRules) {
    this.resetTimeout = s.resetTimeout;
    this.maxReset = s.maxReset;
    this.halfOpenMax = s.halfOpenMax;
    this.openFor = s.resetTimeout;
    this.strategy = strategy;
  }

  /** The machine's clock. A store sets `now` per operation; a breaker overrides this. */
  time(): number {
    return this.now;
  }

  /**
   * A transition happened (a breaker announces it; a store's machine does
   * nothing). `remote`: learned from the store, not made by this machine.
   */
  changed(
    _from: CircuitState,
    _to: CircuitState,
    _reason: TransitionReason,
    _failures: number,
    _remote?: boolean,
  ): void {}

  /** Milliseconds left in OPEN at `now` (0 once elapsed, Infinity while held). */
  remaining(now: number): number {
    if (this.state !== CircuitState.OPEN) return 0;
    if (this.held) return Infinity;
    return Math.max(0, this.openFor - (now - this.openedAt));
  }

  /** Permits held at `now`: a permit is given back at its expiry (inclusive). */
  running(now: number): number {
    const p = this.permits;
    if (p.length > 0 && p.some((t) => t <= now)) this.permits = p.filter((t) => t > now);
    return this.permits.length;
  }

  /** Admits a call: its token (generation or trial), or REJECT (`left` says for how long). */
  admit(): Token {
    if (this.state === CircuitState.CLOSED) return this.gen;
    const now = this.time();
    if (this.state === CircuitState.OPEN) {
      const left = this.remaining(now);
      if (left > 0) {
        this.left = left;
        return REJECT;
      }
      this.transition(CircuitState.HALF_OPEN, "reset_timeout");
    }
    // HALF_OPEN: trials of earlier half-open periods still holding a permit count too.
    if (this.running(now) >= this.halfOpenMax) {
      this.left = 0;
      return REJECT;
    }
    const permit = now + permitLifetime(this.resetTimeout);
    this.permits.push(permit);
    return { gen: this.gen, permit };
  }

  /**
   * Counts a settled call: a trial gives its permit back first (past its
   * expiry it had given it back already, and its result is ignored). `at`:
   * when the outcome happened, for the order of reports (0 when the machine
   * sees outcomes in the order they happen: a local breaker).
   */
  settle(token: Token, result: Result, slow: boolean, at: number): void {
    if (typeof token === "number") {
      this.record(token, result, slow, at, false);
      return;
    }
    const i = this.permits.indexOf(token.permit);
    if (i >= 0) this.permits.splice(i, 1);
    if (this.time() >= token.permit) {
      this.late++;
      return;
    }
    this.record(token.gen, result, slow, at, true);
  }

  /**
   * Counts the outcome of a call admitted in generation `gen` (`half`: a
   * trial). The strategy decides; the machine only moves.
   */
  record(gen: number, result: Result, slow: boolean, at: number, half: boolean): void {
    if (gen !== this.gen) {
      this.late++;
      return;
    }
    if (result === NEUTRAL) return;
    const failed = result === FAILURE;
    if (!failed) this.successes++;
    if (half) {
      const verdict = this.strategy.trial(failed, slow, this.halfOpenMax);
      if (verdict === REOPEN) this.transition(CircuitState.OPEN, "half_open_failure");
      else if (verdict === CLOSE) this.transition(CircuitState.CLOSED, "recovered");
      return;
    }
    let why;
    // Reports can arrive out of order (instances report in batches): a success never
    // ends a run of failures that happened after it, nor a failure extends a run that a
    // later success ended.
    if (failed ? at < this.lastSuccessAt : at < this.lastFailureAt) {
      why = this.strategy.late(failed, slow, at);
    } else {
      if (failed) this.lastFailureAt = at;
      else this.lastSuccessAt = at;
      why = this.strategy.record(failed, slow, at);
    }
    if (why !== undefined) this.transition(CircuitState.OPEN, why);
  }

  /** An operator's command (see {@linkcode Command}). */
  command(c: Command): void {
    if (c === "open") {
      if (this.state !== CircuitState.OPEN) this.transition(CircuitState.OPEN, "manual_open");
      else this.openedAt = this.time();
    } else if (c === "isolate") {
      this.held = true;
      if (this.state !== CircuitState.OPEN) this.transition(CircuitState.OPEN, "isolated");
    } else if (c === "release") {
      if (!this.held) return;
      this.held = false;
      // Released: trial calls may start at once.
      if (this.state === CircuitState.OPEN) this.openedAt = this.time() - this.openFor;
    } else {
      this.held = false;
      if (this.state !== CircuitState.CLOSED) this.transition(CircuitState.CLOSED, "reset");
      this.strategy.reset();
      this.successes = 0;
      this.lastFailureAt = this.lastSuccessAt = 0;
    }
  }

  transition(to: CircuitState, reason: TransitionReason): void {
    const from = this.state;
    const failures = this.strategy.failures;
    const now = this.time();
    this.state = to;
    this.gen++;
    this.successes = 0;
    this.reason = reason;
    this.changedAt = now;
    if (to === CircuitState.OPEN) {
      // Reopened without a close in between: the open duration doubles, up to maxResetTimeout.
      if (reason === "half_open_failure") this.openFor = Math.min(this.openFor * 2, this.maxReset);
      this.openedAt = now;
    } else {
      if (to === CircuitState.CLOSED) this.openFor = this.resetTimeout;
      this.strategy.reset();
    }
    this.changed(from, to, reason, failures);
  }

  /** The state as seen at `now`: OPEN reads HALF_OPEN once its time is up. */
  viewState(now: number): CircuitState {
    return this.state === CircuitState.OPEN && this.remaining(now) === 0
      ? CircuitState.HALF_OPEN
      : this.state;
  }
}
