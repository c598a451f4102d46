// A runtime-neutral timing loop (for Node, which has no `deno bench`): every
// group's cases run interleaved in rounds, and each figure is the median of
// per-round ratios to the group's baseline, measured side by side.
import { groups, shutdown, verify } from "./cases.ts";

const ROUNDS = 15;
// Each sample lasts about SAMPLE_MS: long enough that a case pays for the garbage it makes
// (young-generation collections) the way a busy server would, and far above timer resolution.
const SAMPLE_MS = 20;
const iters = new Map<() => Promise<unknown>, number>();

async function timeCase(run: () => Promise<unknown>): Promise<number> {
  let n = iters.get(run);
  if (n === undefined) {
    // Calibrate: double until one batch takes at least SAMPLE_MS.
    n = 256;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await run();
      if (performance.now() - t0 >= SAMPLE_MS) break;
      n *= 2;
    }
    iters.set(run, n);
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await run();
  return ((performance.now() - t0) * 1e6) / n; // ns per call
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await verify();
const out: Record<string, Record<string, number>> = {};
for (const [group, cases] of Object.entries(groups)) {
  const base = group === "breaker-open" ? "raw-reject" : cases[0].name;
  const ratios: Record<string, number[]> = {};
  for (const c of cases) await timeCase(c.run); // warm up
  for (let r = 0; r < ROUNDS; r++) {
    const t: Record<string, number> = {};
    // Each round starts at a different case, so no case always follows the same one (and
    // inherits its garbage).
    for (let i = 0; i < cases.length; i++) {
      const c = cases[(i + r) % cases.length];
      t[c.name] = await timeCase(c.run);
    }
    for (const c of cases) (ratios[c.name] ??= []).push(t[c.name] / t[base]);
  }
  out[group] = Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, median(v)]));
}
shutdown();
console.log(JSON.stringify(out));
