// What mutation testing of src/shared/port.ts checks: applyOp hands a circuit
// operation to the circuit reducer and a rate-limit one to the rate-limit
// reducer, and refuses anything else with a TypeError saying what it got.
import assert from "node:assert/strict";
import { applyOp, type StoreOp } from "../mod.ts";
import { test } from "./_harness.ts";

const config = { failureThreshold: 1, resetTimeout: 1_000, halfOpenMaxCalls: 1 };

test("store port: applyOp runs a circuit operation on the circuit's entry", () => {
  const r = applyOp(undefined, {
    type: "circuit",
    action: "sync",
    outcomes: [{ ok: false, generation: 0 }],
    config,
  }, 5_000);
  assert.equal(r.write, true);
  assert.equal((r.value as { state: string }).state, "open");
  assert.equal((r.value as { openedAt: number }).openedAt, 5_000);
  assert.equal((r.answer as { state: string }).state, "open");
});

test("store port: applyOp runs a rate-limit operation on the limit's entry", () => {
  const op: StoreOp = {
    type: "rate",
    request: { cost: 1 },
    config: { algorithm: "sliding-window", limit: 10, interval: 60_000 },
  };
  const r = applyOp(undefined, op, 5_000);
  assert.equal(r.write, true);
  const answer = r.answer as { allowed: boolean; remaining: number };
  assert.equal(answer.allowed, true);
  assert.equal(answer.remaining, 9);
  const again = applyOp(r.value, op, 5_001);
  assert.equal((again.answer as { remaining: number }).remaining, 8);
});

test("store port: applyOp refuses what is not an operation, naming an unknown type", () => {
  for (const bad of [null, undefined, "circuit", 7]) {
    assert.throws(() => applyOp(undefined, bad as never, 0), {
      name: "TypeError",
      message: "malformed store operation",
    });
  }
  assert.throws(() => applyOp(undefined, { type: "queue" } as never, 0), {
    name: "TypeError",
    message: "unknown store operation type 'queue'",
  });
  assert.throws(() => applyOp(undefined, {} as never, 0), {
    name: "TypeError",
    message: "unknown store operation type 'undefined'",
  });
});
