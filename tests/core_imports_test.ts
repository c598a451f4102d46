// The core (src/ minus adapters and integrations) must run on any runtime:
// no node:, npm:, Deno. or Hono imports, no Deno globals.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "./_harness.ts";
import { ROOT } from "./_root.ts";

const SRC = ROOT + "src/";
/** Folders of src/ that may import their platform (adapters, integrations). */
const PLATFORM_DIRS = new Set(["hono", "cloudflare", "deno_kv", "otel"]);

function coreFiles(dir: string, top = true): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!(top && PLATFORM_DIRS.has(name))) out.push(...coreFiles(p, false));
    } else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

const FORBIDDEN = [
  /from\s+["'](node:|npm:|jsr:|hono|@opentelemetry)/,
  /import\s*\(\s*["'](node:|npm:|jsr:|hono|@opentelemetry)/,
  /\bDeno\./,
  /\bprocess\./,
  /\brequire\(/,
];

test("core imports nothing runtime specific", () => {
  const files = coreFiles(SRC);
  assert.ok(files.length >= 10, `expected the core files, found ${files.length}`);
  const offenders: string[] = [];
  for (const f of files) {
    // Comments (JSDoc examples import the package) are not code.
    const text = readFileSync(f, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(
      /^\s*\/\/.*$/gm,
      "",
    );
    for (const re of FORBIDDEN) if (re.test(text)) offenders.push(`${f}: ${re}`);
    for (const m of text.matchAll(/from\s+["']([^"']+)["']/g)) {
      if (!m[1].startsWith(".")) offenders.push(`${f}: imports ${m[1]}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test("the import check itself catches a forbidden import", () => {
  const sample = 'import { x } from "node:fs";\nDeno.env.get("X");';
  assert.ok(FORBIDDEN.filter((re) => re.test(sample)).length >= 2);
});
