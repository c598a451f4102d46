// When a CLOSED circuit opens: a strategy fed the outcome of every counted
// call. The breaker's own is "consecutive failures"; the state machine only
// asks the strategy, so that other rules (failure rates over a window) can
// take its place.

/** Decides, from counted outcomes, when the circuit opens. */
export interface FailureStrategy {
  /** Failures counted now (reported in stats and transition events). */
  readonly failures: number;
  /** A counted call succeeded. */
  success(): void;
  /** A counted call failed; true when the circuit should open. */
  failure(): boolean;
  /** The circuit closed or half-opened: counting starts again. */
  reset(): void;
}

/** Opens after `threshold` failures in a row; any success starts the count again. */
export class ConsecutiveFailures implements FailureStrategy {
  failures = 0;
  constructor(readonly threshold: number) {}
  success(): void {
    this.failures = 0;
  }
  failure(): boolean {
    return ++this.failures >= this.threshold;
  }
  reset(): void {
    this.failures = 0;
  }
}
