// `deno task bench`: runs the benchmarks on Deno from source and on Node 20
// against the npm build, with the same tight interleaved loop (bench/timing.ts)
// on both, plus `deno bench` on Deno and the memory figures on both, and prints
// one table of ratios measured side by side in the same run. `--write` puts the
// table into docs/benchmarks.md (between the bench markers).
import { bundleTests } from "../.ci/bundle_tests.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const deno = Deno.execPath();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd: ROOT, stdout: "piped", stderr: "inherit" })
    .output();
  if (out.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout);
}

// 1. Deno: the tight loop, then deno bench --json (whose per-iteration harness cost is part
// of every figure, the baseline's too, so its ratios come out lower).
const denoLoop = JSON.parse(
  await run(deno, ["run", "-A", "--v8-flags=--expose-gc", "bench/timing.ts"]),
);
const json = JSON.parse(await run(deno, ["bench", "-A", "--json", "bench/resilience_bench.ts"]));
const denoRatios: Record<string, Record<string, number>> = {};
for (const b of json.benches) {
  const avg = b.results[0].ok.avg;
  ((denoRatios[b.group] ??= {}) as Record<string, number>)[b.name.replace(`${b.group} `, "")] = avg;
}
for (const [group, cases] of Object.entries(denoRatios)) {
  const base = cases[group === "breaker-open" ? "raw-reject" : Object.keys(cases)[0]];
  for (const k of Object.keys(cases)) cases[k] = cases[k] / base;
}

// 2. Node: build the package, bundle the runner against it, run it.
await run(deno, ["run", "-A", "build_npm.ts", "--ignore-budgets"]);
const [timing, memory] = await bundleTests(
  ["bench/timing.ts", "bench/memory.ts"],
  `${ROOT}.ci/out/bench`,
);
const nodeRatios = JSON.parse(await run("node", ["--expose-gc", timing]));
const nodeMemory = JSON.parse(await run("node", ["--expose-gc", memory]));
const denoMemory = JSON.parse(
  await run(deno, ["run", "-A", "--v8-flags=--expose-gc", "bench/memory.ts"]),
);

const fmt = (x: number | undefined) => (x === undefined ? "—" : `${x.toFixed(x < 10 ? 2 : 1)}×`);
const lines = [
  "| group | case | Deno 2.9.6 | Node 20 (npm build) | Deno, `deno bench` |",
  "| --- | --- | --- | --- | --- |",
];
for (const [group, cases] of Object.entries(denoLoop as Record<string, Record<string, number>>)) {
  for (const name of Object.keys(cases)) {
    lines.push(
      `| ${group} | ${name} | ${fmt(cases[name])} | ${fmt(nodeRatios[group]?.[name])} | ${
        fmt(denoRatios[group]?.[name])
      } |`,
    );
  }
}
lines.push(
  "",
  "| memory | Deno: bytes/breaker | Deno: timers/idle breaker | Node: bytes/breaker | Node: timers/idle breaker |",
  "| --- | --- | --- | --- | --- |",
);
for (const lib of Object.keys(denoMemory)) {
  const d = denoMemory[lib];
  const n = nodeMemory[lib];
  lines.push(
    `| ${lib} | ${d.bytesPerBreaker} | ${d.timersPerIdleBreaker} | ${n.bytesPerBreaker} | ${n.timersPerIdleBreaker} |`,
  );
}
const table = lines.join("\n");
console.log(table);
if (Deno.args.includes("--write")) {
  const page = `${ROOT}docs/benchmarks.md`;
  const readme = await Deno.readTextFile(page);
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < 0) throw new Error("docs/benchmarks.md has no bench markers");
  await Deno.writeTextFile(
    page,
    readme.slice(0, i + start.length) + "\n\n" + table + "\n\n" + readme.slice(j),
  );
  // Align the tables the way `deno fmt --check` (in CI) expects them.
  await run(deno, ["fmt", page]);
}
