// The breaker's modules (src/circuit_breaker.ts and src/circuit_breaker/)
// form no import cycle: every module of src/ is walked, and the value
// imports (not `import type`) reachable from the breaker must be acyclic.
import assert from "node:assert/strict";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { test } from "./_harness.ts";
import { ROOT } from "./_root.ts";

const SRC = ROOT + "src/";

/** Relative value imports and re-exports of a module (type-only ones left out). */
function valueImports(file: string): string[] {
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /^\s*\/\/.*$/gm,
    "",
  );
  const out: string[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s+["'](\.[^"']+)["']/g;
  for (const m of text.matchAll(re)) {
    if (m[2]) continue; // import type / export type
    const names = m[3].replace(/^\{|\}$/g, "").split(",").map((s) => s.trim()).filter(Boolean);
    // `import { type A, type B }` is type-only too.
    if (names.length > 0 && names.every((n) => n.startsWith("type "))) continue;
    const target = join(dirname(file), m[4]);
    if (existsSync(target)) out.push(target);
  }
  return out;
}

/** A cycle reachable from `start`, as a list of files, or undefined. */
function findCycle(start: string): string[] | undefined {
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === "done") return undefined;
    if (state.get(f) === "active") return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, "active");
    stack.push(f);
    for (const g of valueImports(f)) {
      const c = visit(g);
      if (c) return c;
    }
    stack.pop();
    state.set(f, "done");
    return undefined;
  };
  return visit(start);
}

test("breaker modules: no import cycle", () => {
  const dir = SRC + "circuit_breaker/";
  const files = [SRC + "circuit_breaker.ts"];
  if (existsSync(dir) && statSync(dir).isDirectory()) {
    for (const n of readdirSync(dir)) if (n.endsWith(".ts")) files.push(dir + n);
  }
  for (const f of files) {
    const cycle = findCycle(f);
    assert.equal(cycle, undefined, `cycle: ${cycle?.map((x) => relative(SRC, x)).join(" → ")}`);
  }
});

test("breaker modules: the cycle check itself finds a cycle, and ignores type-only imports", () => {
  const dir = mkdtempSync(join(tmpdir(), "cycle-"));
  try {
    writeFileSync(join(dir, "a.ts"), 'import { b } from "./b.ts";\nexport const a = 1;\n');
    writeFileSync(join(dir, "b.ts"), 'import { a } from "./a.ts";\nexport const b = 2;\n');
    writeFileSync(join(dir, "c.ts"), 'import type { D } from "./d.ts";\nexport type C = 1;\n');
    writeFileSync(join(dir, "d.ts"), 'import { type C } from "./c.ts";\nexport type D = 2;\n');
    assert.deepEqual(findCycle(join(dir, "a.ts"))?.map((f) => f.slice(dir.length + 1)), [
      "a.ts",
      "b.ts",
      "a.ts",
    ]);
    assert.equal(findCycle(join(dir, "c.ts")), undefined);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
