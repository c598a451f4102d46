// Turns the test files into JavaScript that runs against the *built* npm
// package: imports of mod.ts and src/** become imports of npm/esm/**.js;
// tests, helpers and examples are bundled; npm packages stay external.
import * as esbuild from "esbuild";

const ROOT = new URL("../", import.meta.url).pathname;

const toBuiltPackage = (shims: Record<string, string>): esbuild.Plugin => ({
  name: "to-built-package",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      if (shims[args.path]) return { path: shims[args.path] };
      if (!args.path.startsWith(".")) return { path: args.path, external: true };
      const abs = new URL(args.path, `file://${args.resolveDir}/`).pathname;
      const rel = abs.slice(ROOT.length);
      if (rel === "mod.ts" || rel.startsWith("src/")) {
        return { path: `${ROOT}npm/esm/${rel.replace(/\.ts$/, ".js")}`, external: true };
      }
      return undefined; // tests/ and examples/: bundled
    });
  },
});

const outName = (f: string) =>
  f.replace(/^(tests|bench)\//, "").replace(/_test\.ts$/, ".test").replace(/\.ts$/, "");

/** Bundles `files` (paths relative to the repo) into `outdir` as `*.test.mjs`. */
export async function bundleTests(
  files: string[],
  outdir: string,
  platform: "node" | "neutral" = "node",
): Promise<string[]> {
  await Deno.remove(outdir, { recursive: true }).catch(() => {});
  await esbuild.build({
    entryPoints: Object.fromEntries(files.map((f) => [outName(f), ROOT + f])),
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform,
    target: "es2022",
    plugins: [toBuiltPackage({})],
    logLevel: "warning",
  });
  await esbuild.stop();
  return files.map((f) => `${outdir}/${outName(f)}.mjs`);
}

/**
 * Bundles the conformance tests into one Worker module: `node:test` is
 * replaced by a recorder, and `fetch` runs every test and answers JSON.
 */
export async function bundleWorker(files: string[]): Promise<string> {
  // The test files are imported inside the handler, not at the top: like on the other runtimes,
  // their module code may start timers and promises, which workerd refuses in the global scope.
  const entry = `import { run } from ${JSON.stringify(ROOT + ".ci/worker_test_shim.ts")};
export default {
  async fetch() {
${files.map((f) => `    await import(${JSON.stringify(ROOT + f)});`).join("\n")}
    return Response.json(await run());
  },
};`;
  const r = await esbuild.build({
    stdin: { contents: entry, resolveDir: ROOT, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    // One bundle for every file: keep functions' own names (a test may check them).
    keepNames: true,
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker", "browser"],
    // A Worker's modules have no file URL; the helpers that compute the repository root from it
    // (tests/_root.ts, .ci/markdown.ts) get a placeholder, as nothing is read from disk there.
    define: { "import.meta.url": JSON.stringify("file:///worker/tests/module.ts") },
    plugins: [{
      name: "worker-shims",
      setup(build) {
        // Tools that a few tests load on demand (`await import`) where they can run.
        build.onResolve({ filter: /^(esbuild|typescript|miniflare)$/ }, (a) => ({
          path: a.path,
          namespace: "not-in-workerd",
        }));
        build.onLoad({ filter: /.*/, namespace: "not-in-workerd" }, (a) => ({
          contents: `throw new Error(${JSON.stringify(`${a.path} cannot run inside workerd`)});`,
          loader: "js",
        }));
        build.onResolve(
          { filter: /^node:test$/ },
          () => ({ path: ROOT + ".ci/worker_test_shim.ts" }),
        );
        build.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, external: true }));
        build.onResolve({ filter: /^\./ }, (args) => {
          const abs = new URL(args.path, `file://${args.resolveDir}/`).pathname;
          const rel = abs.slice(ROOT.length);
          if (rel === "mod.ts" || rel.startsWith("src/")) {
            return { path: `${ROOT}npm/esm/${rel.replace(/\.ts$/, ".js")}` };
          }
          return undefined;
        });
      },
    }],
    logLevel: "warning",
  });
  await esbuild.stop();
  return r.outputFiles[0].text;
}
