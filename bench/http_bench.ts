// Real HTTP throughput of the Hono middleware: autocannon (50 connections,
// loopback, bounded) against bench/http_server.ts on Node (@hono/node-server)
// and on Deno (Deno.serve), as a ratio to the bare route measured in the same
// run. Routes are measured in interleaved rounds and the median is kept, so a
// noisy neighbour shifts every route alike.
//
//   deno task bench:http [--duration=4] [--rounds=3] [--runtimes=node,deno] [--ablation]
//
// Besides requests per second it reports the server's CPU time per request,
// which a busy machine disturbs less: the ratios of both are printed.
import * as esbuild from "esbuild";
import { parseArgs } from "node:util";

const ROOT = new URL("../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    duration: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    runtimes: { type: "string", default: "node,deno" },
    routes: { type: "string" },
    ablation: { type: "boolean", default: false },
    connections: { type: "string", default: "50" },
  },
});
const duration = Math.min(30, Number(values.duration));
const rounds = Math.min(10, Number(values.rounds));
const MAIN = "bare,timeout,breaker,fallback,three,lastgood-only,lastgood";
const ABLATION =
  "bare,part/noop,part/noop3,part/controller,part/request-signal,part/listener,timeout,lastgood-every,lastgood-only";
const routes = (values.routes ?? (values.ablation ? ABLATION : MAIN)).split(",");

/** The server script for Node: bundled from source (npm packages stay external). */
async function nodeServer(): Promise<string> {
  const out = `${ROOT}.ci/out/bench/http_server.mjs`;
  await esbuild.build({
    entryPoints: [`${ROOT}bench/http_server.ts`],
    outfile: out,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "es2022",
    packages: "external",
    logLevel: "warning",
  });
  await esbuild.stop();
  return out;
}

async function start(cmd: string, args: string[]) {
  const child = new Deno.Command(cmd, { args, cwd: ROOT, stdout: "piped", stderr: "inherit" })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = setTimeout(() => child.kill(), 20_000);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd}: no "listening on" line: ${text}`);
    text += value;
    const m = text.match(/listening on (http:\/\/\S+)/);
    if (m) {
      clearTimeout(deadline);
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      return { url: m[1], stop: async () => (child.kill(), await child.status) };
    }
  }
}

const cpu = async (base: string) => Number(await (await fetch(`${base}/__cpu`)).text());

/**
 * One autocannon run (run by Node): requests per second, and the server's CPU
 * time per request in µs (steadier than throughput on a shared machine).
 */
async function cannon(base: string, route: string, seconds: number) {
  const url = `${base}/${route}`;
  const cpuBefore = await cpu(base);
  const out = await new Deno.Command("node", {
    args: [
      `${ROOT}node_modules/autocannon/autocannon.js`,
      "-c",
      values.connections!,
      "-d",
      String(seconds),
      "-j",
      url,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  const cpuAfter = await cpu(base);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, cpu: (cpuAfter - cpuBefore) / r.requests.total };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results: Record<string, Record<string, { rps: number; cpu: number }>> = {};
for (const runtime of values.runtimes!.split(",")) {
  const server = runtime === "node"
    ? await start("node", [await nodeServer()])
    : await start(Deno.execPath(), ["run", "-A", `${ROOT}bench/http_server.ts`]);
  try {
    for (const r of routes) await cannon(server.url, r, 1); // warm-up (JIT, caches)
    const rps: Record<string, number[]> = {};
    const cpus: Record<string, number[]> = {};
    for (let i = 0; i < rounds; i++) {
      for (const r of routes) {
        const m = await cannon(server.url, r, duration);
        (rps[r] ??= []).push(m.rps);
        (cpus[r] ??= []).push(m.cpu);
      }
    }
    results[runtime] = Object.fromEntries(
      routes.map((r) => [r, { rps: median(rps[r]), cpu: median(cpus[r]) }]),
    );
  } finally {
    await server.stop();
  }
}

const names = Object.keys(results);
const lines = [
  "| route | " +
  names.map((n) => `${n} req/s | ×bare | server CPU µs/req | ×bare (CPU)`).join(" | ") +
  " |",
  "| --- |" + " ---: | ---: | ---: | ---: |".repeat(names.length),
];
for (const r of routes) {
  const cells = names.map((n) => {
    const x = results[n][r];
    const bare = results[n].bare;
    return `${Math.round(x.rps)} | ${(x.rps / bare.rps).toFixed(2)} | ${x.cpu.toFixed(1)} | ${
      (bare.cpu / x.cpu).toFixed(2)
    }`;
  });
  lines.push(`| ${r} | ${cells.join(" | ")} |`);
}
console.log(lines.join("\n"));
