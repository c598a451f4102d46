// Adaptive concurrency over real HTTP (loopback): autocannon drives a front
// server (Node, then Deno) that calls a local upstream with a fixed number of
// workers (bench/adaptive_http_server.ts), with and without
// `routeAdaptiveConcurrency`. Reports goodput (answers within the 500 ms
// deadline per second), timeouts, refusals and the p50/p99 latency of
// admitted requests, as measured by the front. Figures: docs/benchmarks.md.
//
//   deno run -A bench/adaptive_http.ts [--workers=10] [--duration=8] [--connections=300]
//     [--rate=0] [--runtimes=node,deno] [--routes=plain,limited]
//
// `--rate=0` (default) is a closed loop: each connection sends again once
// answered. With a rate, autocannon sends each second's requests in a burst.
// ADAPTIVE_OPTIONS='{"maxQueue":300}' passes options to the limiter.
import * as esbuild from "esbuild";
import { parseArgs } from "node:util";

const ROOT = new URL("../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    workers: { type: "string", default: "10" },
    duration: { type: "string", default: "8" },
    rate: { type: "string", default: "0" },
    connections: { type: "string", default: "300" },
    runtimes: { type: "string", default: "node,deno" },
    routes: { type: "string", default: "plain,limited" },
  },
});
const SCRIPT = `${ROOT}bench/adaptive_http_server.ts`;

async function nodeScript(): Promise<string> {
  const out = `${ROOT}.ci/out/bench/adaptive_http_server.mjs`;
  await esbuild.build({
    entryPoints: [SCRIPT],
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
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd}: no "listening on" line: ${text}`);
    text += value;
    const m = text.match(/listening on (http:\/\/\S+)/);
    if (m) {
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      return { url: m[1], stop: async () => (child.kill(), await child.status) };
    }
  }
}

async function cannon(url: string, seconds: number) {
  await new Deno.Command("node", {
    args: [
      `${ROOT}node_modules/autocannon/autocannon.js`,
      "-c",
      values.connections!,
      "-d",
      String(seconds),
      ...(values.rate === "0" ? [] : ["--overallRate", values.rate!]),
      "-t",
      "5",
      "-j",
      url,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).output();
}

const workers = Number(values.workers);
const seconds = Number(values.duration);
const capacity = (workers / 50) * 1000;
const rows: string[] = [];
for (const runtime of values.runtimes!.split(",")) {
  for (const route of values.routes!.split(",")) {
    // A fresh upstream each time: a backlog left by one run must not burden the next.
    const upstream = await start(Deno.execPath(), [
      "run",
      "-A",
      SCRIPT,
      "upstream",
      String(workers),
    ]);
    const front = runtime === "node"
      ? await start("node", [await nodeScript(), "front", upstream.url])
      : await start(Deno.execPath(), ["run", "-A", SCRIPT, "front", upstream.url]);
    try {
      await cannon(`${front.url}/${route}`, 2); // warm-up
      await (await fetch(`${front.url}/__stats`)).json();
      await cannon(`${front.url}/${route}`, seconds);
      const s = await (await fetch(`${front.url}/__stats`)).json();
      const goodput = s.ok / seconds;
      rows.push(
        `| ${runtime} | ${route === "plain" ? "no limiter" : "routeAdaptiveConcurrency"} | ${
          Math.round(goodput)
        }/s (${Math.round((100 * goodput) / capacity)}%) | ${Math.round(s.timeout / seconds)}/s | ${
          Math.round(s.shed / seconds)
        }/s | ${Math.round(s.p50)} / ${Math.round(s.p99)} | ${route === "plain" ? "—" : s.limit} |`,
      );
      console.error(rows.at(-1));
    } finally {
      await front.stop();
      await upstream.stop();
    }
  }
}
console.log(
  `upstream: ${workers} workers × 50 ms (capacity ${capacity}/s); autocannon: ${values.connections} connections, ${
    values.rate === "0" ? "closed loop" : `${values.rate} req/s`
  }, ${seconds} s\n`,
);
console.log(
  "| front | route | goodput (% of capacity) | timeouts | shed | admitted p50 / p99, ms | limit at the end |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
