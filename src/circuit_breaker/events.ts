// Transitions made visible: the log line (seed wording) and the listeners.
import { CircuitState } from "../circuit_state.ts";
import { flushRepeats, type Logger } from "../logger.ts";
import { publish } from "../telemetry.ts";
import type { CircuitBreakerOptions, StateChangeEvent, TransitionReason } from "./types.ts";

/** What announcing a transition needs of a breaker. */
export interface Announcer {
  readonly name: string;
  readonly opts: CircuitBreakerOptions;
  readonly listeners: Set<(e: StateChangeEvent) => void> | undefined;
  logger(): Logger;
}

/** Logs a transition and tells `onStateChange` and the subscribed listeners (errors logged). */
export function announce(
  b: Announcer,
  from: CircuitState,
  to: CircuitState,
  reason: TransitionReason,
  failureCount: number,
  generation: number,
  remote = false,
): void {
  const log = b.logger();
  flushRepeats(log); // counts of repeated messages first, so the log reads in order
  const n = b.name;
  // Learned from the store: the shared circuit moved (this instance or another made it so).
  const shared = remote ? " (shared circuit)" : "";
  if (to === CircuitState.OPEN) {
    log.warn(
      (reason === "failure_threshold"
        ? `Circuit breaker '${n}' OPEN after ${failureCount} failure${
          failureCount === 1 ? "" : "s"
        }`
        : reason === "failure_rate"
        ? `Circuit breaker '${n}' OPEN: failure rate at or above its threshold (${failureCount} failures in the window)`
        : reason === "slow_call_rate"
        ? `Circuit breaker '${n}' OPEN: slow-call rate at or above its threshold`
        : reason === "half_open_failure"
        ? `Circuit breaker '${n}' OPEN after a failed trial call`
        : reason === "shared"
        ? `Circuit breaker '${n}' OPEN (shared: opened by another instance)`
        : reason === "manual_open"
        ? `Circuit breaker '${n}' OPEN (opened by hand)`
        : `Circuit breaker '${n}' OPEN (${reason})`) + shared,
      { name: n, reason, failureCount, remote },
    );
  } else if (to === CircuitState.HALF_OPEN) {
    log.info(`Circuit breaker '${n}' transitioning to HALF_OPEN${shared}`, { name: n, remote });
  } else {
    log.info(
      (reason === "recovered"
        ? `Circuit breaker '${n}' CLOSED - service recovered`
        : reason === "shared"
        ? `Circuit breaker '${n}' CLOSED - following the fleet`
        : `Circuit breaker '${n}' CLOSED - reset`) + shared,
      { name: n, reason, remote },
    );
  }
  const event: StateChangeEvent = {
    name: n,
    from,
    to,
    reason,
    failureCount,
    generation,
    remote,
  };
  // One emission: the channel, `onStateChange`, then the listeners (each guarded alike).
  publish(
    "breaker.transition",
    "circuitBreaker",
    n,
    event,
    b.opts.onStateChange,
    b.listeners,
    log,
    `Circuit breaker '${n}' state listener`,
  );
}
