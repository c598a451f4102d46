// examples/node_cluster.ts for real: bundled as the README says (esbuild,
// npm packages external), run by Node as 3 processes (node:cluster) against
// this file's redis-server. The fleet must share the circuit (it opens after
// about `failureThreshold` failed requests in all, not that many per process,
// and then no process calls the upstream) and the rate limit (10 of 30
// requests of one client, not 10 per process).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import * as esbuild from "esbuild";
import { ROOT } from "./_root.ts";
import { fileServer, redisTest } from "./_redis.ts";

const server = await fileServer();

/** Runs the example to its end; its exit code and output. */
async function runExample(env: Record<string, string>): Promise<{ code: number; out: string }> {
  // Inside node_modules (ignored by git), so that Node finds the external packages from there.
  const dir = mkdtempSync(join(ROOT, "node_modules", ".er-cluster-"));
  try {
    const file = join(dir, "cluster.mjs");
    await esbuild.build({
      entryPoints: [ROOT + "examples/node_cluster.ts"],
      outfile: file,
      bundle: true,
      format: "esm",
      platform: "node",
      packages: "external",
      target: "es2022",
      logLevel: "silent",
    });
    await esbuild.stop();
    const child = spawn(process.env.NODE_BINARY ?? "node", [file], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([
      new Promise<number>((r) => child.once("exit", (c) => r(c ?? -1))),
      new Promise<number>((r) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL"); // the workers go with it: their IPC channel closes
          r(-2);
        }, 60_000);
      }),
    ]);
    clearTimeout(timer);
    return { code, out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const num = (out: string, re: RegExp) => {
  const m = out.match(re);
  assert.ok(m, `${re} in:\n${out}`);
  return m.slice(1).map(Number);
};

redisTest(
  "example node_cluster.ts: 3 Node processes share one circuit and one rate limit through Redis",
  async () => {
    // (A generous connect bound: a slow start on a loaded machine must not look like an outage.)
    const { code, out } = await runExample({
      REDIS_SOCKET: server!.socket,
      WORKERS: "3",
      CONNECT_MS: "30000",
    });
    assert.equal(code, 0, out);
    const [asked, live, processes] = num(
      out,
      /phase 1 +upstream ok: (\d+) requests → (\d+) live quotes, served by (\d+) processes/,
    );
    assert.equal(live, asked, out);
    assert.ok(processes >= 2, `requests spread over the processes:\n${out}`);
    const [sent, reached, after, fallback, calls] = num(
      out,
      /phase 2 +upstream failing: of (\d+) requests, (\d+) reached it .*?; then (\d+) requests → (\d+) answered by the fallback, (\d+) upstream calls/,
    );
    // Shared: the threshold (3) counts the failures of every process; each other process may
    // send one more before it learns (3 + 3 − 1). Local circuits would take 3 per process (9).
    assert.ok(reached <= 3 + 3 - 1 + 1, `${reached} requests reached the upstream:\n${out}`);
    assert.ok(reached >= 3, out);
    assert.equal(sent, 12);
    assert.equal(fallback, after, out);
    assert.equal(calls, 0, `an open circuit for every process:\n${out}`);
    const [allowed, limited] = num(
      out,
      /phase 3 +rate limit 10\/min per client, shared: 30 requests from one client → (\d+) allowed, (\d+) answered 429/,
    );
    assert.deepStrictEqual([allowed, limited], [10, 20], out);
    const [ok, of] = num(out, /phase 4 +upstream ok again: .* then (\d+) of (\d+) live/);
    assert.equal(ok, of, out);
    assert.match(out, /\ndone\n/);
  },
);

redisTest(
  "example node_cluster.ts: Redis unreachable at start — each process says so, serves locally (limit per process) and the run ends",
  async () => {
    // A port nobody listens on: a listener bound then closed.
    const { createServer } = await import("node:net");
    const probe = createServer();
    const port = await new Promise<number>((r) =>
      probe.listen(0, "127.0.0.1", () => r((probe.address() as { port: number }).port))
    );
    await new Promise((r) => probe.close(r));
    const { code, out } = await runExample({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      WORKERS: "2",
      CONNECT_MS: "500",
    });
    assert.equal(code, 0, out);
    assert.equal(
      out.match(/Redis unreachable at redis:\/\/127\.0\.0\.1:\d+ after 500ms/g)?.length,
      2,
      out,
    );
    const [allowed, limited] = num(
      out,
      /phase 3 +rate limit 10\/min per client, per process, Redis unreachable: 30 requests from one client → (\d+) allowed, (\d+) answered 429/,
    );
    // Each process limits on its own: between one limit and one per process.
    assert.ok(allowed >= 10 && allowed <= 20 && allowed + limited === 30, out);
    assert.match(out, /\ndone\n/);
  },
);

redisTest("Redis: the server of this file stops", () => server!.dispose());
