// The Cloudflare Workers checks, in a Workers project made the way a user
// would make one (.ci/out/workers/, installed with npm from the registry):
//
//   1. every ```ts worker block of README.md and docs/ type-checks with
//      `tsc --strict` against @cloudflare/workers-types and the npm package
//      built from this repository (installed from its `npm pack` tarball);
//   2. `wrangler deploy --dry-run` bundles examples/worker.ts with the
//      repository's wrangler.toml, with no warning.
//
// Needs the npm build first (`deno task build:npm`). Only Node and npm are
// needed besides Deno; the versions are pinned below (wrangler 4.86.0 is the
// last wrangler 4 that runs on Node 20).
//
//   deno run -A .ci/workers.ts
//
// Ends with `workers: N passed, M failed` (read by .ci/test.ts).
import { allSnippets, render, ROOT } from "./markdown.ts";

const DIR = `${ROOT}.ci/out/workers/`;
/** The Workers project's pinned tools. */
export const PINS = {
  wrangler: "4.86.0",
  "@cloudflare/workers-types": "4.20260702.1",
  typescript: "5.9.3",
  hono: "4.13.19",
};

async function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, cwd, env, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

let passed = 0;
let failed = 0;
const result = (ok: boolean, what: string, detail = "") => {
  ok ? passed++ : failed++;
  console.log(`${ok ? "ok     " : "FAILED "} ${what}${!ok && detail ? `\n${detail}` : ""}`);
};
const finish = () => {
  console.log(`workers: ${passed} passed, ${failed} failed`);
  Deno.exit(failed ? 1 : 0);
};

// The project: the package from its tarball, as `npm pack` makes it.
await Deno.mkdir(`${DIR}src/snippets`, { recursive: true });
for (const e of Deno.readDirSync(DIR)) {
  if (e.name.endsWith(".tgz")) Deno.removeSync(DIR + e.name);
}
const pack = await run("npm", ["pack", "--silent", "--pack-destination", DIR, `${ROOT}npm`], ROOT);
const tarball = pack.text.trim().split("\n").pop() ?? "";
if (pack.code !== 0 || !tarball.endsWith(".tgz")) {
  result(false, "npm pack of npm/ (run `deno task build:npm` first)", pack.text);
  finish();
}
await Deno.writeTextFile(
  `${DIR}package.json`,
  JSON.stringify(
    {
      private: true,
      type: "module",
      dependencies: { "edge-resilience": `file:./${tarball}`, hono: PINS.hono },
      devDependencies: {
        wrangler: PINS.wrangler,
        "@cloudflare/workers-types": PINS["@cloudflare/workers-types"],
        typescript: PINS.typescript,
      },
    },
    null,
    2,
  ) + "\n",
);
await Deno.writeTextFile(
  `${DIR}tsconfig.json`,
  JSON.stringify(
    {
      compilerOptions: {
        target: "es2022",
        module: "es2022",
        moduleResolution: "bundler",
        lib: ["es2022"],
        types: ["@cloudflare/workers-types"],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      include: ["src"],
    },
    null,
    2,
  ) + "\n",
);
await Deno.remove(`${DIR}package-lock.json`).catch(() => {});
const install = await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], DIR);
if (install.code !== 0) {
  result(false, "npm install of the Workers project", install.text);
  finish();
}

// 1. The worker blocks, under tsc --strict.
await Deno.remove(`${DIR}src/snippets`, { recursive: true });
await Deno.mkdir(`${DIR}src/snippets`, { recursive: true });
const blocks = (await allSnippets()).filter((s) => s.mode === "worker");
for (const s of blocks) await Deno.writeTextFile(`${DIR}src/snippets/${s.name}`, render(s));
if (blocks.length) {
  const tsc = await run("node", ["node_modules/typescript/bin/tsc", "-p", "."], DIR);
  for (const s of blocks) {
    const errors = tsc.text.split("\n").filter((l) => l.includes(s.name));
    result(
      errors.length === 0,
      `${s.file}:${s.line} (worker: tsc --strict, workers-types)`,
      errors.map((e) => `        ${e}`).join("\n"),
    );
  }
  const other = tsc.text.split("\n").filter((l) =>
    /error TS/.test(l) && !blocks.some((s) => l.includes(s.name))
  );
  if (other.length) result(false, "tsc: errors outside the snippets", other.join("\n"));
}

// 2. wrangler deploy --dry-run of the example Worker: it bundles, with no warning.
const wrangler = await run(
  "node",
  [
    `${DIR}node_modules/wrangler/bin/wrangler.js`,
    "deploy",
    "--dry-run",
    "--config",
    "wrangler.toml",
    "--outdir",
    `${DIR}dist`,
  ],
  ROOT,
  { WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" },
);
const warnings = wrangler.text.split("\n").filter((l) => /\[WARNING\]|▲/.test(l));
const bundled = /--dry-run: exiting now/.test(wrangler.text);
result(
  wrangler.code === 0 && bundled && warnings.length === 0,
  `wrangler ${PINS.wrangler} deploy --dry-run bundles examples/worker.ts with no warning`,
  wrangler.text,
);
if (wrangler.code === 0) {
  console.log(
    wrangler.text.split("\n").filter((l) => /Total Upload|env\.|Your Worker has access/.test(l))
      .map((l) => `        ${l.trim()}`).join("\n"),
  );
}
finish();
