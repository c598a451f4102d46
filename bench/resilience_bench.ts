// deno bench: each group has `raw` (and `raw-reject`) baselines, so every
// figure is a ratio measured in the same run.
import { groups, shutdown, verify } from "./cases.ts";

await verify();
for (const [group, cases] of Object.entries(groups)) {
  for (const c of cases) {
    Deno.bench({
      name: `${group} ${c.name}`,
      group,
      baseline: c.name === (group === "breaker-open" ? "raw-reject" : "raw"),
      fn: async () => {
        await c.run();
      },
    });
  }
}
globalThis.addEventListener("unload", shutdown);
