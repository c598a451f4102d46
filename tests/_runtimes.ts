// Helpers to run the examples on real runtimes: bundling with esbuild,
// spawning servers and reading their "listening on URL" line.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import * as esbuild from "esbuild";
import { Miniflare, type MiniflareOptions } from "miniflare";
import { ROOT } from "./_root.ts";

export { ROOT };

/** Bundles `entry` (relative to the repo) into one ESM file's text. */
export async function bundle(entry: string, platform: "node" | "neutral"): Promise<string> {
  try {
    const r = await esbuild.build({
      entryPoints: [ROOT + entry],
      bundle: true,
      format: "esm",
      platform,
      target: "es2022",
      write: false,
      logLevel: "silent",
      ...(platform === "neutral"
        ? {
          mainFields: ["module", "main"],
          conditions: ["workerd", "worker", "browser"],
          external: ["cloudflare:*"],
        }
        : {}),
    });
    return r.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}

/** The Bun binary installed by `deno task test` (npm package `bun`), if present. */
export function bunPath(): string | undefined {
  const p = ROOT + "node_modules/bun/bin/bun.exe";
  return existsSync(p) ? p : undefined;
}

/** The Deno binary, when running on Deno. */
export function denoPath(): string | undefined {
  return (globalThis as { Deno?: { execPath(): string } }).Deno?.execPath();
}

export interface Server {
  url: string;
  output: string[];
  stop(): Promise<void>;
}

/** Spawns a server and waits for its `listening on URL` line (bounded). */
export function startServer(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<Server> {
  const child: ChildProcess = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop().then(() => reject(new Error(`${cmd}: no "listening on" line:\n${output.join("")}`)));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output.push(String(chunk));
      const m = output.join("").match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], output, stop });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (c: Buffer) => output.push(String(c)));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}:\n${output.join("")}`));
    });
  });
}

/** A Miniflare (workerd) instance running `entry` bundled, with string bindings. */
export async function workerFor(
  entry: string,
  bindings: Record<string, string>,
  extra: Partial<MiniflareOptions> = {},
): Promise<Miniflare> {
  return new Miniflare({
    modules: true,
    script: await bundle(entry, "neutral"),
    compatibilityDate: "2025-01-01",
    bindings,
    ...extra,
  } as MiniflareOptions);
}
