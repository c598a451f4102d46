// What mutation testing of src/circuit_breaker/machine.ts found untested: the
// exact boundaries of the one state machine (a permit given back at its
// expiry, inclusive; the open duration's end; the reopen doubling and its
// cap), what a rejection says (`left`), the late count, and the operator
// commands' edge cases (open while OPEN, release without isolate, reset).
import assert from "node:assert/strict";
import { CircuitState } from "../src/circuit_state.ts";
import {
  CircuitMachine,
  FAILURE,
  NEUTRAL,
  permitLifetime,
  REJECT,
  SUCCESS,
  type Token,
  type Trial,
} from "../src/circuit_breaker/machine.ts";
import { TripRules } from "../src/circuit_breaker/rules.ts";
import { test } from "./_harness.ts";

/** A machine on a clock the test sets (`m.now`), consecutive mode. */
function machine(
  o: { threshold?: number; resetTimeout?: number; maxReset?: number; halfOpenMax?: number } = {},
) {
  const resetTimeout = o.resetTimeout ?? 1_000;
  const m = new CircuitMachine(
    { resetTimeout, maxReset: o.maxReset ?? resetTimeout, halfOpenMax: o.halfOpenMax ?? 1 },
    new TripRules(undefined, {
      failureRate: undefined,
      slowRate: undefined,
      minCalls: 1,
      consecutive: o.threshold ?? 1,
    }),
  );
  const moves: string[] = [];
  m.changed = (from, to, reason, failures) =>
    void moves.push(`${from}>${to}:${reason}:${failures}`);
  return { m, moves };
}

const trial = (t: Token): Trial => {
  assert.equal(typeof t, "object", "a trial token");
  return t as Trial;
};

test("machine: permitLifetime is resetTimeout, at least 1 ms", () => {
  assert.equal(permitLifetime(0), 1);
  assert.equal(permitLifetime(1), 1);
  assert.equal(permitLifetime(250), 250);
});

test("machine: OPEN rejects until exactly openedAt + openFor, saying how long is left; then one trial", () => {
  const { m, moves } = machine({ resetTimeout: 1_000 });
  m.now = 100;
  assert.equal(m.admit(), 0, "CLOSED: the generation");
  m.record(0, FAILURE, false, 100, false);
  assert.equal(m.state, CircuitState.OPEN);
  assert.deepEqual(moves, ["closed>open:failure_threshold:1"]);
  assert.equal(m.openedAt, 100);
  assert.equal(m.changedAt, 100);
  assert.equal(m.reason, "failure_threshold");
  m.now = 350;
  assert.equal(m.admit(), REJECT);
  assert.equal(m.left, 750);
  assert.equal(m.remaining(350), 750);
  assert.equal(m.viewState(350), CircuitState.OPEN);
  m.now = 1_099;
  assert.equal(m.admit(), REJECT);
  assert.equal(m.left, 1);
  assert.equal(m.viewState(1_100), CircuitState.HALF_OPEN, "OPEN reads HALF_OPEN once due");
  assert.equal(m.remaining(5_000), 0, "never negative");
  m.now = 1_100;
  const t = trial(m.admit());
  assert.equal(m.state, CircuitState.HALF_OPEN);
  assert.deepEqual(t, { gen: 2, permit: 2_100 });
  assert.equal(m.changedAt, 1_100);
  assert.equal(m.remaining(1_100), 0, "not OPEN: nothing left");
  // The half-open limit reached: rejected with nothing left to wait (not the stale 1 ms).
  assert.equal(m.admit(), REJECT);
  assert.equal(m.left, 0);
  assert.equal(m.viewState(1_100), CircuitState.HALF_OPEN);
});

test("machine: a permit is given back at its expiry, inclusive; a trial settling then is late", () => {
  const { m } = machine({ resetTimeout: 1_000, halfOpenMax: 1 });
  m.now = 0;
  m.command("open");
  m.now = 1_000;
  const t = trial(m.admit());
  assert.equal(t.permit, 2_000);
  m.now = 1_999;
  assert.equal(m.running(1_999), 1);
  assert.equal(m.admit(), REJECT, "still held 1 ms before its expiry");
  assert.equal(m.running(2_000), 0, "given back at its expiry");
  m.now = 2_000;
  const late = m.late;
  m.settle(t, SUCCESS, false, 2_000);
  assert.equal(m.late, late + 1, "settled at its expiry: late");
  assert.equal(m.state, CircuitState.HALF_OPEN, "a late trial decides nothing");
  assert.equal(m.successes, 0);
  const t2 = trial(m.admit());
  assert.equal(t2.permit, 3_000);
  m.now = 2_999;
  m.settle(t2, SUCCESS, false, 2_999);
  assert.equal(m.state, CircuitState.CLOSED, "1 ms before expiry: counted");
  assert.equal(m.late, late + 1);
});

test("machine: settling a trial gives back its own permit, the first one included", () => {
  const { m } = machine({ resetTimeout: 1_000, halfOpenMax: 3, threshold: 5 });
  m.command("open");
  m.now = 1_000;
  const a = trial(m.admit());
  m.now = 1_001;
  const b = trial(m.admit());
  m.now = 1_002;
  const c = trial(m.admit());
  assert.deepEqual(m.permits, [2_000, 2_001, 2_002]);
  m.settle(a, NEUTRAL, false, 1_002);
  assert.deepEqual(m.permits, [2_001, 2_002], "the oldest permit (index 0) given back");
  assert.equal(m.state, CircuitState.HALF_OPEN);
  m.settle(c, SUCCESS, false, 1_002);
  assert.deepEqual(m.permits, [2_001]);
  assert.equal(m.successes, 1);
  m.settle(b, SUCCESS, false, 1_002);
  assert.deepEqual(m.permits, []);
  assert.equal(m.successes, 2);
  assert.equal(m.state, CircuitState.HALF_OPEN, "2 of 3 trials: undecided");
});

test("machine: outcomes of another generation are late and count nothing; NEUTRAL counts nothing", () => {
  const { m } = machine({ threshold: 2 });
  m.record(0, FAILURE, false, 10, false);
  assert.equal(m.strategy.inARow, 1);
  m.record(0, NEUTRAL, false, 11, false);
  assert.equal(m.strategy.inARow, 1, "neutral: the run goes on");
  assert.equal(m.lastFailureAt, 10, "neutral: no report time");
  assert.equal(m.successes, 0);
  m.record(7, FAILURE, false, 12, false);
  assert.equal(m.late, 1);
  assert.equal(m.state, CircuitState.CLOSED);
  m.settle(7, FAILURE, false, 12);
  assert.equal(m.late, 2);
  m.record(0, SUCCESS, false, 13, false);
  assert.equal(m.successes, 1);
  assert.equal(m.lastSuccessAt, 13);
  assert.equal(m.strategy.inARow, 0);
  assert.equal(m.late, 2);
});

test("machine: reports out of order never extend or end a run they did not belong to", () => {
  const { m } = machine({ threshold: 2 });
  m.record(0, SUCCESS, false, 100, false);
  m.record(0, FAILURE, false, 50, false); // before the success: extends no run
  assert.equal(m.strategy.inARow, 0);
  assert.equal(m.lastFailureAt, 0, "a late failure is not the latest");
  m.record(0, FAILURE, false, 100, false); // same time as the success: counts
  assert.equal(m.strategy.inARow, 1);
  assert.equal(m.lastFailureAt, 100);
  m.record(0, SUCCESS, false, 99, false); // before that failure: ends nothing
  assert.equal(m.strategy.inARow, 1);
  assert.equal(m.lastSuccessAt, 100);
  m.record(0, FAILURE, false, 101, false);
  assert.equal(m.state, CircuitState.OPEN);
  assert.equal(m.reason, "failure_threshold");
});

test("machine: a failed trial reopens with the duration doubled, capped at maxReset; closing resets it", () => {
  const { m, moves } = machine({ resetTimeout: 1_000, maxReset: 3_000 });
  m.now = 0;
  m.record(0, FAILURE, false, 0, false);
  assert.equal(m.openFor, 1_000);
  const reopen = (at: number) => {
    m.now = at;
    const t = trial(m.admit());
    m.settle(t, FAILURE, false, at);
    assert.equal(m.state, CircuitState.OPEN);
    assert.equal(m.openedAt, at);
    return m.openFor;
  };
  assert.equal(reopen(1_000), 2_000);
  m.now = 2_999;
  assert.equal(m.admit(), REJECT);
  assert.equal(m.left, 1);
  assert.equal(reopen(3_000), 3_000, "capped");
  assert.equal(reopen(6_000), 3_000);
  m.now = 9_000;
  const t = trial(m.admit());
  m.settle(t, SUCCESS, false, 9_000);
  assert.equal(m.state, CircuitState.CLOSED);
  assert.equal(m.openFor, 1_000, "closed: back to resetTimeout");
  assert.equal(m.reason, "recovered");
  assert.deepEqual(moves.slice(-2), [
    "open>half_open:reset_timeout:1",
    "half_open>closed:recovered:0",
  ]);
  // HALF_OPEN keeps the grown duration (only CLOSED resets it).
  m.record(m.gen, FAILURE, false, 9_001, false);
  m.now = 10_001;
  m.settle(trial(m.admit()), FAILURE, false, 10_001);
  assert.equal(m.openFor, 2_000);
  m.now = 12_001;
  const last = trial(m.admit());
  assert.equal(m.state, CircuitState.HALF_OPEN);
  assert.equal(m.openFor, 2_000, "half-open: the grown duration stays");
  m.settle(last, FAILURE, false, 12_001);
  assert.equal(m.openFor, 3_000);
});

test("machine: manual opens do not grow the open duration; open() while OPEN restarts it", () => {
  const { m, moves } = machine({ resetTimeout: 1_000, maxReset: 10_000 });
  m.now = 0;
  m.command("open");
  assert.equal(m.reason, "manual_open");
  assert.equal(m.openFor, 1_000);
  m.now = 600;
  m.command("open");
  assert.equal(m.openedAt, 600, "restarted");
  assert.equal(moves.length, 1, "no second transition");
  assert.equal(m.gen, 1);
  m.now = 1_599;
  assert.equal(m.admit(), REJECT);
  m.now = 1_600;
  assert.notEqual(m.admit(), REJECT);
});

test("machine: isolate holds OPEN (Infinity left) until release, which lets trials start at once", () => {
  const { m, moves } = machine({ resetTimeout: 1_000 });
  m.now = 0;
  m.command("isolate");
  assert.equal(m.state, CircuitState.OPEN);
  assert.equal(m.reason, "isolated");
  assert.equal(m.held, true);
  m.now = 1_000_000;
  assert.equal(m.admit(), REJECT);
  assert.equal(m.left, Infinity);
  assert.equal(m.remaining(m.now), Infinity);
  m.command("isolate"); // already OPEN: no second transition
  assert.equal(moves.length, 1);
  m.command("release");
  assert.equal(m.held, false);
  assert.equal(m.openedAt, 1_000_000 - 1_000);
  assert.equal(m.viewState(1_000_000), CircuitState.HALF_OPEN);
  assert.notEqual(m.admit(), REJECT);
  assert.equal(m.state, CircuitState.HALF_OPEN);
});

test("machine: release without an isolation changes nothing (an open() keeps its time)", () => {
  const { m } = machine({ resetTimeout: 1_000 });
  m.now = 500;
  m.command("open");
  m.now = 600;
  m.command("release");
  assert.equal(m.openedAt, 500);
  assert.equal(m.admit(), REJECT);
  assert.equal(m.left, 900);
  // Held (a fleet isolation loaded from the store) and released while HALF_OPEN: openedAt,
  // when the circuit last opened (stored in the shared state), does not move.
  const { m: h } = machine({ resetTimeout: 1_000, halfOpenMax: 2 });
  h.command("open");
  h.now = 1_500;
  h.admit();
  h.held = true;
  h.command("release");
  assert.equal(h.state, CircuitState.HALF_OPEN);
  assert.equal(h.openedAt, 0);
  assert.equal(h.held, false);
});

test("machine: reset closes, ends an isolation, clears counts and report times", () => {
  const { m, moves } = machine({ threshold: 3, resetTimeout: 1_000 });
  m.now = 10;
  m.record(0, SUCCESS, false, 10, false);
  m.record(0, FAILURE, false, 20, false);
  m.record(0, FAILURE, false, 30, false);
  assert.equal(m.successes, 1);
  m.command("reset"); // CLOSED already: no transition, but counts cleared
  assert.deepEqual(moves, []);
  assert.equal(m.strategy.inARow, 0);
  assert.equal(m.successes, 0);
  assert.equal(m.lastFailureAt, 0);
  assert.equal(m.lastSuccessAt, 0);
  // With the report times cleared, an early-dated failure counts again.
  m.record(0, FAILURE, false, 5, false);
  assert.equal(m.strategy.inARow, 1);
  m.command("isolate");
  m.command("reset");
  assert.equal(m.held, false);
  assert.equal(m.state, CircuitState.CLOSED);
  assert.equal(m.reason, "reset");
  assert.deepEqual(moves, ["closed>open:isolated:1", "open>closed:reset:1"]);
});

test("machine: every transition bumps the generation and clears successes", () => {
  const { m } = machine({ resetTimeout: 1_000, halfOpenMax: 2 });
  m.command("open");
  m.now = 1_000;
  const a = trial(m.admit());
  const b = trial(m.admit());
  assert.equal(m.gen, 2);
  m.settle(a, SUCCESS, false, 1_000);
  assert.equal(m.successes, 1);
  m.settle(b, FAILURE, false, 1_000);
  assert.equal(m.gen, 3);
  assert.equal(m.successes, 0, "cleared by the transition");
  assert.equal(m.changedAt, 1_000);
});

test("machine: HALF_OPEN trials of an earlier half-open period still hold their permits", () => {
  const { m } = machine({ resetTimeout: 1_000, halfOpenMax: 1 });
  m.command("open");
  m.now = 1_000;
  trial(m.admit()); // hangs: holds its permit until 2,000
  m.command("open"); // OPEN again by hand
  m.now = 1_999; // opened at 1,000 by hand: due at 2,000
  assert.equal(m.admit(), REJECT);
  m.now = 2_000;
  const t = m.admit(); // the hung trial's permit expired at 2,000: one free
  assert.notEqual(t, REJECT);
  assert.equal(m.running(2_000), 1);
});
