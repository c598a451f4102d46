// A circuit's operations as a store runs them: restore the machine from the
// stored snapshot, run the operation, snapshot it again. Every authoritative
// store runs these (through applyOp, src/shared/port.ts); none re-implements
// a rule.
import { CircuitState } from "../circuit_state.ts";
import { type Command, FAILURE, NEUTRAL, SUCCESS } from "./machine.ts";
import {
  boundSharedState,
  type Outcome,
  type PermitAnswer,
  readStoredState,
  restoreMachine,
  type SharedConfig,
  type SharedState,
  skewAllowance,
  snapshot,
  withoutMark,
} from "./shared_data.ts";

/** A circuit's store operation (sent by a breaker's link, run by the store). */
export type CircuitOp =
  | {
    /** The circuit reducer. */
    readonly type: "circuit";
    /** Applies outcomes in order (none: a plain read). */
    readonly action: "sync";
    /** The outcomes to apply. */
    readonly outcomes: readonly Outcome[];
    /**
     * The sender's wall clock when it sent the operation. The times in the
     * operation (an outcome's `at`, a command's `at`) are on the sender's
     * clock: the store moves them onto its own by `now - sentAt`, so that
     * instances whose clocks disagree (with each other or with the store) are
     * ordered by how long ago each thing happened, not by their clocks (the
     * time in transit counts as age). Without it they are taken as they are.
     */
    readonly sentAt?: number;
    /** The breaker's settings. */
    readonly config: SharedConfig;
  }
  | {
    /** The circuit reducer. */
    readonly type: "circuit";
    /** A trial permit (moves OPEN → HALF_OPEN when due). */
    readonly action: "acquire";
    /** The breaker's settings. */
    readonly config: SharedConfig;
  }
  | {
    /** The circuit reducer. */
    readonly type: "circuit";
    /** An operator's command. */
    readonly action: "command";
    /** Which. */
    readonly command: Command;
    /**
     * When the operator gave it (wall ms; default: when the store runs it). A
     * command older than the circuit's last transition is stale — another
     * operator or the circuit's own rules acted since — and changes nothing.
     */
    readonly at?: number;
    /**
     * The sender's wall clock when it sent the operation. The times in the
     * operation (an outcome's `at`, a command's `at`) are on the sender's
     * clock: the store moves them onto its own by `now - sentAt`, so that
     * instances whose clocks disagree (with each other or with the store) are
     * ordered by how long ago each thing happened, not by their clocks (the
     * time in transit counts as age). Without it they are taken as they are.
     */
    readonly sentAt?: number;
    /** The breaker's settings. */
    readonly config: SharedConfig;
  };

const COMMANDS: readonly string[] = ["open", "reset", "isolate", "release"];

/** Throws a `TypeError` for a config no breaker sends (a store must not run garbage). */
export function checkConfig(c: SharedConfig): SharedConfig {
  const ok = (v: unknown, min: number) =>
    typeof v === "number" && Number.isFinite(v) && v >= min && v <= Number.MAX_SAFE_INTEGER;
  if (
    typeof c !== "object" || c === null || !ok(c.failureThreshold, 1) ||
    !ok(c.resetTimeout, 0) || !ok(c.halfOpenMaxCalls, 1) ||
    (c.maxResetTimeout !== undefined && !ok(c.maxResetTimeout, c.resetTimeout))
  ) {
    throw new TypeError("malformed breaker config");
  }
  return c;
}

function validOutcome(o: Outcome): boolean {
  return typeof o === "object" && o !== null && typeof o.ok === "boolean" &&
    Number.isSafeInteger(o.generation);
}

/**
 * Applies outcomes in the order given, each counted at the time it happened
 * (`at` + `shift`, bounded by the skew allowance): a success never resets a
 * failure that happened after it. `shift` moves the sender's times onto the
 * store's clock (`now - sentAt`, see `CircuitOp`; default 0). Pure: returns a new state. Used by every
 * authoritative store.
 *
 * @example
 * ```ts
 * import { applyOutcomes, initialSharedState } from "edge-resilience";
 *
 * const cfg = { failureThreshold: 2, resetTimeout: 1000, halfOpenMaxCalls: 1 };
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
  shift = 0,
): SharedState {
  const m = restoreMachine(boundSharedState(state, config, now), config, now);
  const latest = now + skewAllowance(config.resetTimeout);
  for (const o of outcomes) {
    if (!validOutcome(o)) continue;
    const result = o.neutral === true ? NEUTRAL : o.ok ? SUCCESS : FAILURE;
    // (Never before the epoch: 0 is "none" in the machine's times.)
    const at = typeof o.at === "number" && Number.isFinite(o.at)
      ? Math.max(0, Math.min(o.at + shift, latest))
      : now;
    if (o.permit === true) {
      // A trial: its permit (the oldest when it names none) goes back, then it counts.
      const permit = typeof o.permitId === "number" ? o.permitId : m.permits[0];
      if (permit !== undefined) {
        // Judged at the time it settled: a trial that settled before its permit expired
        // counts (as locally), however late its report arrives.
        m.now = Math.min(at, now);
        m.settle({ gen: o.generation, permit }, result, o.slow === true, at);
        m.now = now;
      } else if (m.state === CircuitState.HALF_OPEN) {
        m.record(o.generation, result, o.slow === true, at, true);
      }
    } else if (m.state !== CircuitState.CLOSED) {
      // A CLOSED call of the current generation cannot exist otherwise: a stray report.
      continue;
    } else m.record(o.generation, result, o.slow === true, at, false);
  }
  return withMark(snapshot(m), state);
}

/**
 * Grants a call: always while CLOSED; while OPEN only once the open duration
 * passed (moving to HALF_OPEN); in HALF_OPEN while fewer than
 * `halfOpenMaxCalls` permits are held (a permit expires `resetTimeout` after
 * it was granted, inclusive). Pure.
 *
 * @example
 * ```ts
 * import { acquirePermit, initialSharedState } from "edge-resilience";
 *
 * const cfg = { failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 1 };
 * const { granted } = acquirePermit(initialSharedState(), cfg, Date.now());
 * console.log(granted); // true
 * ```
 */
export function acquirePermit(
  state: SharedState,
  config: SharedConfig,
  now: number,
): PermitAnswer {
  const m = restoreMachine(boundSharedState(state, config, now), config, now);
  const token = m.admit();
  const s = withMark(snapshot(m), state);
  if (typeof token === "number") return { granted: token >= 0, state: s };
  return { granted: true, state: s, permit: token.permit };
}

/**
 * Runs an operator's command on a shared circuit: `"open"` (open now),
 * `"reset"` (close, clear counts, end a fleet isolation), `"isolate"` (hold
 * OPEN for every instance until `"release"` or `"reset"`). Pure.
 *
 * @example
 * ```ts
 * import { applyCommand, initialSharedState } from "edge-resilience";
 *
 * const cfg = { failureThreshold: 5, resetTimeout: 1000, halfOpenMaxCalls: 1 };
 * console.log(applyCommand(initialSharedState(), "open", cfg, Date.now()).state); // "open"
 * ```
 */
export function applyCommand(
  state: SharedState,
  command: Command,
  config: SharedConfig,
  now: number,
): SharedState {
  if (!COMMANDS.includes(command)) throw new TypeError("unknown circuit command");
  const m = restoreMachine(boundSharedState(state, config, now), config, now);
  m.command(command);
  return withMark(snapshot(m), state);
}

function withMark(s: SharedState, from: SharedState): SharedState {
  if (from.repaired !== undefined) s.repaired = from.repaired;
  return s;
}

/**
 * Runs a circuit operation on a stored value: what to store (`value`,
 * without the repair mark), whether anything changed (`write`), and the
 * answer to give.
 */
export function circuitReducer(
  stored: unknown,
  op: CircuitOp,
  now: number,
): { value: SharedState; answer: SharedState | PermitAnswer; write: boolean } {
  const config = checkConfig(op.config);
  const read = readStoredState(stored);
  // The sender's times, moved onto this clock (see `sentAt`).
  const sentAt = (op as { sentAt?: unknown }).sentAt;
  const shift = typeof sentAt === "number" && Number.isFinite(sentAt) ? now - sentAt : 0;
  if (op.action === "sync") {
    if (!Array.isArray(op.outcomes)) throw new TypeError("malformed outcomes");
    if (op.outcomes.length === 0) {
      // A read. A time too far in the future is brought back (and saved, so that the bound
      // counts from now, not from every read); a repair is saved and said once.
      const b = boundSharedState(read, config, now);
      const moved = b.openedAt !== read.openedAt ||
        b.permits.some((t, i) => t !== read.permits[i]) ||
        (typeof b.window === "object" && typeof read.window === "object" &&
          b.window.at !== read.window.at);
      return { value: withoutMark(b), answer: b, write: moved || read.repaired !== undefined };
    }
    const next = applyOutcomes(read, op.outcomes, config, now, shift);
    return { value: withoutMark(next), answer: next, write: true };
  }
  if (op.action === "acquire") {
    const r = acquirePermit(read, config, now);
    return { value: withoutMark(r.state), answer: r, write: true };
  }
  if (op.action === "command") {
    const at = typeof op.at === "number" && Number.isFinite(op.at)
      ? Math.max(0, Math.min(op.at + shift, now))
      : now;
    const last = read.changedAt ?? 0;
    if (at < last && last <= now) {
      // Stale (given before the circuit's last transition, e.g. kept through an outage or
      // delivered late by a client's queue): the later word stands. Answered as a read.
      // (A transition dated after this clock's now was dated by a clock ahead of it — Deno KV
      // runs on each process's clock, a store's clock may step back: it cannot be ordered
      // against this command, which stands; else an instance 10 s behind another could not
      // reset or open the circuit for 10 s.)
      return circuitReducer(stored, { type: "circuit", action: "sync", outcomes: [], config }, now);
    }
    const next = applyCommand(read, op.command, config, now);
    // Dated when the operator gave it (a transition or not: a reset of a CLOSED circuit is a
    // word too), so that a command given before it, and delivered after, is seen as older.
    next.changedAt = at;
    return { value: withoutMark(next), answer: next, write: true };
  }
  throw new TypeError("unknown circuit operation");
}
