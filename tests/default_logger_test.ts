// The built-in default logger: warnings and errors go to console.warn and console.error (looked up
// at each call, so a console replaced later is used), info messages are dropped.
import assert from "node:assert/strict";
import { retry, setDefaultLogger, timeout } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { builtinLogger, silent, test } from "./_harness.ts";

const METHODS = ["log", "info", "debug", "warn", "error", "trace"] as const;

/** Runs `fn` with every console method recording instead of printing. */
async function withConsole(fn: () => unknown): Promise<[string, unknown[]][]> {
  const calls: [string, unknown[]][] = [];
  const c = console as unknown as Record<string, (...a: unknown[]) => void>;
  const saved = METHODS.map((m) => c[m]);
  for (const m of METHODS) c[m] = (...args: unknown[]) => void calls.push([m, args]);
  try {
    await fn();
  } finally {
    METHODS.forEach((m, i) => c[m] = saved[i]);
  }
  return calls;
}

test("built-in logger: warn and error print with console, info is dropped", async () => {
  assert.notEqual(builtinLogger, silent);
  const calls = await withConsole(() => {
    builtinLogger.info("an info", { a: 1 });
    builtinLogger.warn("a warning", { b: 2 });
    builtinLogger.error("an error", { c: 3 });
  });
  // The message only (the data is for structured loggers).
  assert.deepEqual(calls, [["warn", ["a warning"]], ["error", ["an error"]]]);
});

test("built-in logger: policies created without a logger use it (retries warn, giving up errs)", async () => {
  const clock = new FakeClock();
  const before = setDefaultLogger(builtinLogger);
  let calls: [string, unknown[]][];
  try {
    calls = await withConsole(async () => {
      const settled = (p: Promise<unknown>) => p.then(() => "resolved", (e: unknown) => e);
      const r = retry({ maxAttempts: 2, initialDelay: 10, jitter: false, clock });
      const p = settled(r.execute(() => Promise.reject(new Error("upstream down"))));
      await clock.tickAsync(10);
      assert.match(String(await p), /upstream down/);
      const t = timeout(5, { clock });
      const q = settled(t.execute(() => new Promise(() => {})));
      await clock.tickAsync(5);
      assert.match(String(await q), /timed out after 5ms/);
    });
  } finally {
    setDefaultLogger(before);
  }
  const levels = calls.map(([m]) => m);
  assert.ok(levels.includes("warn"), `a retry is a warning: ${JSON.stringify(calls)}`);
  assert.ok(levels.includes("error"), `giving up is an error: ${JSON.stringify(calls)}`);
  assert.ok(levels.every((m) => m === "warn" || m === "error"), JSON.stringify(calls));
  assert.ok(calls.every(([, args]) => args.length === 1 && typeof args[0] === "string"));
  assert.ok(calls.some(([, [m]]) => /upstream down/.test(String(m))), JSON.stringify(calls));
});
