// Prints the adaptive concurrency simulation's table of docs/capacity.md:
//   deno run tests/_adaptive_sim_table.ts
import { simulate, type Subject } from "./_adaptive_sim.ts";

// The table of docs/capacity.md (seed 1).
const subjects: [string, Subject][] = [
  ["adaptive, gradient", { kind: "adaptive" }],
  ["adaptive, vegas", { kind: "adaptive", options: { algorithm: "vegas" } }],
  ["no limiter", { kind: "none" }],
  ["bulkhead 5", { kind: "bulkhead", size: 5 }],
  ["bulkhead 100", { kind: "bulkhead", size: 100 }],
];
console.log(
  "| limiter | phase | goodput (% of capacity) | p99 admitted, ms (phase / from 1 s) | refused/s | limit (2nd half) | limit in [0.8c, 1.5c] after |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const [label, s] of subjects) {
  const { phases } = await simulate(s);
  for (const p of phases) {
    const limit = s.kind === "none"
      ? "—"
      : p.limitRange[0] === p.limitRange[1]
      ? `${p.limitRange[0]}`
      : `${p.limitRange[0]}–${p.limitRange[1]}`;
    const settled = s.kind === "adaptive" ? `${p.settledAfter} s` : "—";
    console.log(
      `| ${label} | ${p.load}× load, c = ${p.c} | ${p.goodput.toFixed(0)}/s (${
        (100 * p.goodput / p.capacity).toFixed(0)
      }%) | ${p.p99.toFixed(0)} / ${p.p99Settled.toFixed(0)} | ${
        p.refused.toFixed(0)
      } | ${limit} | ${settled} |`,
    );
  }
}
