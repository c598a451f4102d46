// What mutation testing of src/circuit_breaker/events.ts found untested: the
// exact log line of each transition (its wording, level and fields, the
// "(shared circuit)" mark of a transition learned from the store), the event
// handed to listeners, and a throwing listener logged without stopping the others.
import assert from "node:assert/strict";
import type { Logger, StateChangeEvent } from "../mod.ts";
import { CircuitState } from "../src/circuit_state.ts";
import { announce, type Announcer } from "../src/circuit_breaker/events.ts";
import type { TransitionReason } from "../src/circuit_breaker/types.ts";
import { test } from "./_harness.ts";

function host(opts: Announcer["opts"] = {}, listeners?: Set<(e: StateChangeEvent) => void>) {
  const lines: { level: string; msg: string; fields: unknown }[] = [];
  const log: Logger = {
    info: (msg, fields) => void lines.push({ level: "info", msg, fields }),
    warn: (msg, fields) => void lines.push({ level: "warn", msg, fields }),
    error: (msg, fields) => void lines.push({ level: "error", msg, fields }),
  };
  const b: Announcer = { name: "api", opts, listeners, logger: () => log };
  return { b, lines };
}

const { CLOSED, OPEN, HALF_OPEN } = CircuitState;

test("events: the OPEN line of each reason, a warning with its fields", () => {
  const cases: [TransitionReason, number, string][] = [
    ["failure_threshold", 1, "Circuit breaker 'api' OPEN after 1 failure"],
    ["failure_threshold", 3, "Circuit breaker 'api' OPEN after 3 failures"],
    [
      "failure_rate",
      4,
      "Circuit breaker 'api' OPEN: failure rate at or above its threshold (4 failures in the window)",
    ],
    ["slow_call_rate", 0, "Circuit breaker 'api' OPEN: slow-call rate at or above its threshold"],
    ["half_open_failure", 2, "Circuit breaker 'api' OPEN after a failed trial call"],
    ["shared", 0, "Circuit breaker 'api' OPEN (shared: opened by another instance)"],
    ["manual_open", 0, "Circuit breaker 'api' OPEN (opened by hand)"],
    ["isolated", 0, "Circuit breaker 'api' OPEN (isolated)"],
  ];
  for (const [reason, failures, msg] of cases) {
    const { b, lines } = host();
    announce(b, CLOSED, OPEN, reason, failures, 1);
    assert.deepEqual(lines, [{
      level: "warn",
      msg,
      fields: { name: "api", reason, failureCount: failures, remote: false },
    }]);
    const r = host();
    announce(r.b, CLOSED, OPEN, reason, failures, 1, true);
    assert.deepEqual(r.lines, [{
      level: "warn",
      msg: `${msg} (shared circuit)`,
      fields: { name: "api", reason, failureCount: failures, remote: true },
    }]);
  }
});

test("events: HALF_OPEN and CLOSED lines, info level, with and without the shared mark", () => {
  const cases: [CircuitState, TransitionReason, boolean, string, unknown][] = [
    [HALF_OPEN, "reset_timeout", false, "Circuit breaker 'api' transitioning to HALF_OPEN", {
      name: "api",
      remote: false,
    }],
    [
      HALF_OPEN,
      "reset_timeout",
      true,
      "Circuit breaker 'api' transitioning to HALF_OPEN (shared circuit)",
      { name: "api", remote: true },
    ],
    [CLOSED, "recovered", false, "Circuit breaker 'api' CLOSED - service recovered", {
      name: "api",
      reason: "recovered",
      remote: false,
    }],
    [CLOSED, "reset", false, "Circuit breaker 'api' CLOSED - reset", {
      name: "api",
      reason: "reset",
      remote: false,
    }],
    [
      CLOSED,
      "shared",
      true,
      "Circuit breaker 'api' CLOSED - following the fleet (shared circuit)",
      {
        name: "api",
        reason: "shared",
        remote: true,
      },
    ],
    [
      CLOSED,
      "recovered",
      true,
      "Circuit breaker 'api' CLOSED - service recovered (shared circuit)",
      {
        name: "api",
        reason: "recovered",
        remote: true,
      },
    ],
  ];
  for (const [to, reason, remote, msg, fields] of cases) {
    const { b, lines } = host();
    announce(b, OPEN, to, reason, 0, 2, remote);
    assert.deepEqual(lines, [{ level: "info", msg, fields }]);
  }
});

test("events: onStateChange then every listener get the event; one that throws is logged, the rest still called", () => {
  const got: string[] = [];
  const events: StateChangeEvent[] = [];
  const listeners = new Set<(e: StateChangeEvent) => void>([
    (e) => {
      got.push("first");
      events.push(e);
    },
    () => {
      throw new Error("bad listener");
    },
    () => void got.push("third"),
  ]);
  const boom = new Error("bad option");
  const { b, lines } = host({
    onStateChange: () => {
      got.push("option");
      throw boom;
    },
  }, listeners);
  announce(b, HALF_OPEN, OPEN, "half_open_failure", 2, 9, true);
  assert.deepEqual(got, ["option", "first", "third"]);
  assert.deepEqual(events, [{
    name: "api",
    from: HALF_OPEN,
    to: OPEN,
    reason: "half_open_failure",
    failureCount: 2,
    generation: 9,
    remote: true,
  }]);
  const errors = lines.filter((l) => l.level === "error");
  assert.deepEqual(errors.map((l) => l.msg), [
    "Circuit breaker 'api' state listener threw: Error: bad option",
    "Circuit breaker 'api' state listener threw: Error: bad listener",
  ]);
  assert.deepEqual(errors[0].fields, { name: "api", error: boom });
  // The default: not remote.
  const d = host({ onStateChange: (e) => void events.push(e) });
  announce(d.b, CLOSED, OPEN, "manual_open", 0, 1);
  assert.equal(events.at(-1)!.remote, false);
});
