// `deno run -A --v8-flags=--expose-gc bench/group.ts breaker-ok`: the timing loop of
// bench/timing.ts for one group only (ratios to the group's baseline, one run).
import { groups, verify } from "./cases.ts";

const want = Deno.args[0] ?? "breaker-ok";
if (!(want in groups)) throw new Error(`no group '${want}': ${Object.keys(groups).join(", ")}`);
for (const g of Object.keys(groups)) if (g !== want) delete groups[g];
await verify();
await import("./timing.ts");
