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

test("errors: names survive minification (a bundler renames the classes)", async () => {
  const esbuild = await import("esbuild");
  const { ROOT } = await import("./_root.ts");
  const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  let code: string;
  try {
    const r = await esbuild.build({
      stdin: {
        contents:
          `import { CircuitOpenError, ResilienceError, ResilienceTimeoutError } from "./mod.ts";
          export const names = [new CircuitOpenError("b", 1, "open"), CircuitOpenError.fast("b", 1, "open"),
            new ResilienceTimeoutError("op", 1), new ResilienceError("x")].map((e) => e.name);`,
        resolveDir: ROOT,
        loader: "ts",
      },
      bundle: true,
      minify: true,
      format: "esm",
      platform: "neutral",
      write: false,
      logLevel: "silent",
      external: ["hono", "hono/*", "cloudflare:*"],
    });
    code = r.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
  const dir = mkdtempSync(join(tmpdir(), "edge-resilience-min-"));
  try {
    const file = join(dir, "min.mjs");
    writeFileSync(file, code);
    const { names } = await import(`file://${file}`);
    assert.deepEqual(names, [
      "CircuitOpenError",
      "CircuitOpenError",
      "ResilienceTimeoutError",
      "ResilienceError",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, { runtimes: ["deno"], why: "bundles the sources with esbuild" });
