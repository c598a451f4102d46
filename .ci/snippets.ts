// Checks the TypeScript code blocks of README.md and docs/*.md: every ```ts
// block is type-checked unless marked otherwise, and blocks marked `run` are
// also run. The marks are words after the language in the fence:
//
//   ```ts            a module, type-checked with `deno check` (the default)
//   ```ts fragment   statements that are not a module on their own (a bare
//                    `return`, `await` inside a handler): wrapped in an async
//                    function, imports and `declare`s kept at the top
//   ```ts run        type-checked, then run with `deno run -A` (30 s at most;
//                    must exit 0)
//   ```ts worker     a Cloudflare Worker: type-checked with `tsc --strict`
//                    against @cloudflare/workers-types and the built npm
//                    package, by .ci/workers.ts (which also runs wrangler)
//   ```ts ignore     not checked: a counter-example (counted as skipped)
//
// Imports resolve through deno.json: `edge-resilience`, `edge-resilience/hono`,
// … map to the sources.
//
//   deno run -A .ci/snippets.ts        check and run; exit 1 on any failure
//
// Ends with `snippets: N passed, M failed, K skipped` (read by .ci/test.ts).
import { allSnippets, render, ROOT, type Snippet } from "./markdown.ts";

const OUT = `${ROOT}.ci/out/snippets/`;
async function run(cmd: string, args: string[], timeoutMs = 120_000) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

if (import.meta.main) {
  const all = await allSnippets();
  await Deno.remove(OUT, { recursive: true }).catch(() => {});
  await Deno.mkdir(OUT, { recursive: true });
  const checked = all.filter((s) =>
    s.mode === "module" || s.mode === "fragment" || s.mode === "run"
  );
  for (const s of checked) await Deno.writeTextFile(OUT + s.name, render(s));

  const failed = new Map<Snippet, string>();
  // One `deno check` for all of them; errors name the generated file.
  const check = await run(Deno.execPath(), [
    "check",
    "--quiet",
    ...checked.map((s) => OUT + s.name),
  ]);
  if (check.code !== 0) {
    // Errors are separated by blank lines; each names the generated file it is in.
    for (const block of check.text.split(/\n\s*\n/)) {
      const s = checked.find((s) => block.includes(s.name));
      if (s) failed.set(s, `${failed.get(s) ?? ""}${block.trim()}\n`);
    }
    if (failed.size === 0) {
      console.log(check.text);
      console.log(`snippets: 0 passed, 1 failed (deno check failed outside the snippets)`);
      Deno.exit(1);
    }
  }
  for (const s of checked.filter((s) => s.mode === "run" && !failed.has(s))) {
    const r = await run(Deno.execPath(), [
      "run",
      "-A",
      "--unstable-kv",
      "--unstable-no-legacy-abort",
      OUT + s.name,
    ], 30_000);
    if (r.code !== 0) failed.set(s, `exit code ${r.code}\n${r.text}`);
  }

  let passed = 0;
  for (const s of checked) {
    const where = `${s.file}:${s.line}`;
    if (failed.has(s)) {
      console.log(`FAILED  ${where} (${s.mode}, .ci/out/snippets/${s.name})`);
      console.log(failed.get(s)!.trim().split("\n").map((l) => `        ${l}`).join("\n"));
    } else {
      passed++;
      console.log(`ok      ${where} (${s.mode})`);
    }
  }
  const ignored = all.filter((s) => s.mode === "ignore");
  for (const s of ignored) console.log(`skipped ${s.file}:${s.line} (marked ignore)`);
  const workers = all.filter((s) => s.mode === "worker").length;
  console.log(
    `(${workers} worker block(s): checked by .ci/workers.ts)`,
  );
  console.log(
    `snippets: ${passed} passed, ${failed.size} failed${
      ignored.length ? `, ${ignored.length} skipped` : ""
    }`,
  );
  Deno.exit(failed.size ? 1 : 0);
}
