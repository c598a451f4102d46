// The repository root: the nearest folder above this module (or the working
// directory, for bundled copies of the tests) that holds deno.json.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  const starts = [process.cwd()];
  try {
    starts.unshift(dirname(fileURLToPath(import.meta.url)));
  } catch {
    // import.meta.url is not a file URL (e.g. inside a Worker bundle).
  }
  for (const start of starts) {
    for (let dir = start;; dir = dirname(dir)) {
      if (existsSync(join(dir, "deno.json")) && existsSync(join(dir, "mod.ts"))) return dir + "/";
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error("repository root (deno.json) not found");
}

/** Absolute path of the repository root, ending with a slash. */
export const ROOT: string = findRoot();
