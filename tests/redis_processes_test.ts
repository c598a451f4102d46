// Four processes (children this test spawns, each with its own connection)
// share one breaker through a real redis-server: failures counted in total
// open it for all; then, under concurrency in every process, no window
// shorter than resetTimeout holds more than halfOpenMaxCalls probes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { denoPath } from "./_runtimes.ts";
import { fileServer, redisTest } from "./_redis.ts";

const server = await fileServer();
const RUN_FOR = 1500;
const RESET = 300;

redisTest(
  "Redis: 4 processes share a breaker — failures in total open it for all; ≤ halfOpenMaxCalls probes per trial period across them",
  async () => {
    const child = fileURLToPath(new URL("./_redis_child.ts", import.meta.url));
    const procs = Array.from(
      { length: 4 },
      () =>
        spawn(denoPath()!, ["run", "-A", child, server!.socket, String(RUN_FOR), String(RESET)], {
          stdio: ["pipe", "pipe", "inherit"],
        }),
    );
    const exits = procs.map((p) => new Promise<number | null>((r) => p.once("exit", (c) => r(c))));
    try {
      const outputs = procs.map(() => "");
      const waiting: (() => void)[] = procs.map(() => () => {});
      procs.forEach((p, i) =>
        p.stdout!.on("data", (d) => {
          outputs[i] += String(d);
          waiting[i]();
        })
      );
      const readLine = (i: number) =>
        new Promise<string>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`process ${i}: no line in 60 s`)), 60_000);
          const check = () => {
            if (!outputs[i].includes("\n")) return;
            const [first, ...rest] = outputs[i].split("\n");
            outputs[i] = rest.join("\n");
            clearTimeout(t);
            waiting[i] = () => {}; // the next line waits for the next reader
            resolve(first);
          };
          waiting[i] = check;
          check();
        });
      const all = (cmd: string) => {
        for (const p of procs) p.stdin!.write(cmd + "\n");
      };
      for (let i = 0; i < 4; i++) assert.equal(await readLine(i), "ready");
      all("go");
      for (let i = 0; i < 4; i++) assert.equal(await readLine(i), "failed");
      assert.match(server!.cli("HGET", "er:cb:fleet", "v"), /"state":"open"/);
      all("check");
      const results: { openForAll: boolean; probes: number[]; unavailable: string[] }[] = [];
      for (let i = 0; i < 4; i++) results.push(JSON.parse(await readLine(i)));
      for (const p of procs) p.stdin!.end();
      assert.deepEqual(await Promise.all(exits), [0, 0, 0, 0]);
      // Each process made 2 failures: 8 in total opened the circuit, and every process refuses.
      assert.deepEqual(results.map((r) => r.openForAll), [true, true, true, true]);
      for (const r of results) assert.deepEqual(r.unavailable, []);
      const probes = results.flatMap((r) => r.probes).sort((a, b) => a - b);
      const perProcess = results.map((r) => r.probes.length);
      assert.ok(probes.length >= 2, `probes per process: ${perProcess}`);
      const WINDOW = RESET - 50;
      for (const start of probes) {
        const inWindow = probes.filter((t) => t >= start && t < start + WINDOW).length;
        assert.ok(
          inWindow <= 2,
          `${inWindow} probes within ${WINDOW} ms (per process: ${perProcess})`,
        );
      }
    } finally {
      for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
      await Promise.all(exits);
    }
  },
  { runtimes: ["deno"], why: "spawns the Deno binary running the suite" },
);

redisTest("Redis: the server of this file stops", () => server!.dispose());
