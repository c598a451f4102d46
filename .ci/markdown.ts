// What the documentation checkers (.ci/snippets.ts, .ci/links.ts, .ci/workers.ts)
// read: the markdown files, their code blocks and their links. Pure functions
// besides `markdownFiles` and `allSnippets`; tests/docs_checkers_test.ts tests them.

/** The repository root, with a trailing slash. */
export const ROOT: string = new URL("../", import.meta.url).pathname;

/** README.md, CHANGELOG.md and every markdown file under docs/, relative to ROOT, sorted. */
export async function markdownFiles(): Promise<string[]> {
  const files = ["README.md", "CHANGELOG.md"];
  async function walk(dir: string) {
    for await (const e of Deno.readDir(ROOT + dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".md")) files.push(p);
    }
  }
  await walk("docs").catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  const present = [];
  for (const f of files.sort()) {
    if (await Deno.stat(ROOT + f).then(() => true, () => false)) present.push(f);
  }
  return present;
}

// ---- code blocks (.ci/snippets.ts) ----

const MODES = ["fragment", "run", "worker", "ignore"] as const;
type Mode = "module" | typeof MODES[number];

/** One code block: where it is and how it is checked. */
export interface Snippet {
  file: string;
  /** 1-based line of the first code line in the markdown file. */
  line: number;
  mode: Mode;
  code: string;
  /** Generated file name (no directory). */
  name: string;
}

/** The TypeScript blocks of a markdown text. */
export function extract(file: string, text: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^(\s*)(`{3,}|~{3,})\s*(\S*)\s*(.*)$/);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = lines[j].match(/^\s*(`{3,}|~{3,})\s*$/);
      if (close && close[1][0] === fence[0] && close[1].length >= fence.length) break;
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    }
    if (["ts", "typescript"].includes(lang)) {
      const words = rest.split(/\s+/).filter(Boolean);
      const unknown = words.filter((w) => !(MODES as readonly string[]).includes(w));
      if (unknown.length) {
        throw new Error(`${file}:${i + 1}: unknown snippet mark(s) ${unknown.join(", ")}`);
      }
      const mode: Mode = (words[0] as Mode | undefined) ?? "module";
      const base = file.replace(/[^A-Za-z0-9]+/g, "_");
      out.push({ file, line: i + 2, mode, code: body.join("\n"), name: `${base}_L${i + 2}.ts` });
    }
    i = j;
  }
  return out;
}

/** Splits leading imports and `declare`s (kept at module level) from the rest. */
function hoist(code: string): { head: string; body: string } {
  const lines = code.split("\n");
  const head: string[] = [];
  const body: string[] = [];
  let inImport = false;
  for (const l of lines) {
    if (inImport) {
      head.push(l);
      if (/from\s+["'][^"']+["'];?\s*$/.test(l)) inImport = false;
    } else if (/^import\s/.test(l) || /^export\s+\{[^}]*\}\s+from\s/.test(l)) {
      head.push(l);
      if (!/["'];?\s*$/.test(l)) inImport = true;
    } else if (/^declare\s/.test(l)) {
      head.push(l);
    } else {
      body.push(l);
    }
  }
  return { head: head.join("\n"), body: body.join("\n") };
}

/** The file a snippet becomes; a leading comment maps it back to the markdown. */
export function render(s: Snippet): string {
  const where = `// ${s.file}:${s.line} (${s.mode})\n`;
  if (s.mode !== "fragment") return `${where}${s.code}\nexport {};\n`;
  const { head, body } = hoist(s.code);
  return `${where}${head}\nexport async function fragment(): Promise<unknown> {\n${body}\n}\n`;
}

/** Every snippet of README.md and docs/. */
export async function allSnippets(): Promise<Snippet[]> {
  const all: Snippet[] = [];
  for (const f of await markdownFiles()) all.push(...extract(f, await Deno.readTextFile(ROOT + f)));
  return all;
}

// ---- links and anchors (.ci/links.ts) ----

/** GitHub's anchor for a heading text. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
    .replace(/<[^>]+>/g, "") // inline HTML
    .replace(/[`*]/g, "");
  return text.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "").replace(/ /g, "-");
}

/** The anchors of a markdown text: heading slugs (duplicates numbered) and explicit ids. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { line } of proseLines(text)) {
    const h = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (h) {
      const base = slug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n ? `${base}-${n}` : base);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(m[1]);
  }
  return out;
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): { line: string; n: number }[] {
  const out: { line: string; n: number }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, i) => {
    const f = line.match(/^\s*(`{3,}|~{3,})/);
    if (f) {
      if (!fence) fence = f[1];
      else if (f[1][0] === fence[0] && f[1].length >= fence.length) fence = undefined;
      return;
    }
    if (!fence) out.push({ line, n: i + 1 });
  });
  return out;
}

/** The link targets of a markdown text (inline, reference definitions, HTML href). */
export function links(text: string): { target: string; n: number }[] {
  const out: { target: string; n: number }[] = [];
  for (const { line, n } of proseLines(text)) {
    const prose = line.replace(/`[^`]*`/g, ""); // inline code is not a link
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ target: m[1], n });
    }
    const def = prose.match(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/);
    if (def) out.push({ target: def[1], n });
    for (const m of prose.matchAll(/\bhref="([^"]+)"/g)) out.push({ target: m[1], n });
  }
  return out;
}
