// Error names survive minification: a bundler renames the classes, `name` stays a literal.
// A file of its own: it bundles and imports files, which workerd cannot (tests/errors_test.ts runs
// there).
import assert from "node:assert/strict";
import { test } from "./_harness.ts";

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
