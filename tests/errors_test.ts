import assert from "node:assert/strict";
import { CircuitOpenError, ResilienceError, ResilienceTimeoutError } from "../mod.ts";
import { test } from "./_harness.ts";

test("errors: keep their cause and fields; fast open errors are instances too", () => {
  const cause = new Error("root");
  const t = new ResilienceTimeoutError("op", 5, { cause });
  assert.equal(t.cause, cause);
  assert.equal(t.operation, "op");
  assert.equal(t.timeout, 5);
  const o = new CircuitOpenError("b", 1500, "open", { cause });
  assert.equal(o.cause, cause);
  assert.equal(o.message, "Circuit breaker 'b' is open. Resets in 1.5s");
  const fast = CircuitOpenError.fast("b", 0, "half_open");
  assert.ok(fast instanceof CircuitOpenError && fast instanceof Error);
  assert.equal(fast.message, "Circuit breaker 'b' is half-open and all trial calls are in use");
});

test("errors: user subclasses keep instanceof and their own name", () => {
  class Mine extends ResilienceError {}
  assert.ok(new Mine("m") instanceof Mine);
  assert.ok(new Mine("m") instanceof ResilienceError);
  assert.equal(new Mine("m").name, "Mine");
  assert.ok(!(new ResilienceError("r") instanceof Mine));
  assert.ok(new ResilienceTimeoutError("op", 1) instanceof ResilienceError);
  assert.ok(!(new ResilienceTimeoutError("op", 1) instanceof CircuitOpenError));
  class MyOpen extends CircuitOpenError {}
  class MyTimeout extends ResilienceTimeoutError {}
  assert.equal(new MyOpen("b", 1, "open").name, "MyOpen");
  assert.equal(new MyTimeout("op", 1).name, "MyTimeout");
});
