// The breaker's rules as the Redis engine applies them: the pure functions
// of src/store.ts, on the entry read with the server's time.
import {
  acquirePermit,
  applyOutcomes,
  boundSharedState,
  type Outcome,
  readStoredState,
  type SharedConfig,
  skewAllowance,
  withoutMark,
} from "../store.ts";
import type { Applied } from "./store.ts";

/** One breaker operation: report outcomes (none: a read), or ask for a permit. */
export type CircuitOp =
  | { type: "sync"; outcomes: readonly Outcome[]; config: SharedConfig }
  | { type: "acquire"; config: SharedConfig };

/** Applies a breaker operation to the stored value at the server's time `now`. */
export function applyCircuitOp(stored: unknown, op: CircuitOp, now: number): Applied {
  const s = readStoredState(stored);
  const { config } = op;
  if (op.type === "acquire") {
    const r = acquirePermit(s, config, now);
    return { value: withoutMark(r.state), answer: r, write: true };
  }
  if (op.outcomes.length === 0) {
    // A read; only an unreadable entry, or a time too far in the future, makes it a write: the
    // repair, and the bound saved so that it counts from now rather than from every read.
    const skew = skewAllowance(config.resetTimeout);
    const wild = s.openedAt > now + skew ||
      s.permits.some((t) => t > now + config.permitTtl + skew);
    if (s.repaired === undefined && !wild) return { value: s, answer: s, write: false };
    const b = boundSharedState(s, config, now);
    return { value: withoutMark(b), answer: b, write: true };
  }
  const next = applyOutcomes(s, op.outcomes, config, now);
  return { value: withoutMark(next), answer: next, write: true };
}
