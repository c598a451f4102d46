// A hook or subscriber may be an async function (TypeScript accepts one where
// `(event) => void` is typed): its rejection is logged like a throw, never an
// unhandled rejection, and never changes a call's result.
import assert from "node:assert/strict";
import { circuitBreaker, clearCircuitBreakers, retry, subscribe } from "../mod.ts";
import { recordingLogger, test } from "./_harness.ts";

test("telemetry: an async subscriber that rejects is logged, the calls unchanged", async () => {
  const unsubscribe = subscribe(async () => {
    await Promise.resolve();
    throw new Error("async boom");
  }, { calls: true });
  try {
    clearCircuitBreakers();
    const b = circuitBreaker({ name: "async-sub", failureThreshold: 1 });
    assert.equal(await b.execute(() => 1), 1);
    await assert.rejects(b.execute(() => Promise.reject(new Error("x"))), /x/);
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    unsubscribe();
    clearCircuitBreakers();
  }
});

test("hooks: async onStateChange and onRetry that reject are logged, never unhandled", async () => {
  clearCircuitBreakers();
  const log = recordingLogger();
  const b = circuitBreaker({
    name: "async-hook",
    failureThreshold: 1,
    logger: log,
    onStateChange: async () => {
      throw new Error("hook boom");
    },
  });
  await assert.rejects(b.execute(() => Promise.reject(new Error("x"))), /x/);
  const r = retry({
    maxAttempts: 2,
    initialDelay: 0,
    logger: log,
    onRetry: async () => {
      throw new Error("retry hook boom");
    },
  });
  let n = 0;
  assert.equal(await r.execute(() => (n++ === 0 ? Promise.reject(new Error("once")) : "ok")), "ok");
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(log.lines.some((l) => l.includes("hook boom")), log.lines.join("\n"));
  assert.ok(log.lines.some((l) => l.includes("retry hook boom")), log.lines.join("\n"));
  clearCircuitBreakers();
});
