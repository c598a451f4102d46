import * as esbuild from "esbuild";
const r = await esbuild.build({
  stdin: { contents: Deno.args[0], resolveDir: Deno.cwd(), loader: "ts" },
  bundle: true,
  minify: true,
  format: "esm",
  write: false,
  target: "es2022",
  external: ["hono", "hono/*"],
});
console.log(r.outputFiles[0].text);
await esbuild.stop();
