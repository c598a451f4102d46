// One group of bench/timing.ts's loop (ratios to the group's baseline, one run), on Deno or,
// bundled against the npm build (bench/group_node.ts), on Node:
//   deno run -A --v8-flags=--expose-gc bench/group.ts breaker-ok
//   deno run -A bench/group_node.ts breaker-ok
import { groups, verify } from "./cases.ts";

const args: string[] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const want = args[0] ?? "breaker-ok";
if (!(want in groups)) throw new Error(`no group '${want}': ${Object.keys(groups).join(", ")}`);
for (const g of Object.keys(groups)) if (g !== want) delete groups[g];
await verify();
await import("./timing.ts");
