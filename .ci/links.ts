// Checks the links of README.md, CHANGELOG.md and docs/*.md: every relative
// link must name a file or folder of the repository, and every anchor
// (`#section`, `guide.md#section`) a heading of its target, slugged the way
// GitHub does. External links (http:, https:, mailto:) are listed, not fetched.
//
//   deno run -A .ci/links.ts
//
// One test per markdown file (all its links resolve). Ends with
// `links: N passed, M failed` (read by .ci/test.ts).
import { markdownFiles, ROOT } from "./markdown.ts";

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

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

if (import.meta.main) {
  const files = await markdownFiles();
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = async (file: string) => {
    if (!anchorCache.has(file)) anchorCache.set(file, anchors(await Deno.readTextFile(file)));
    return anchorCache.get(file)!;
  };
  let passed = 0;
  let failed = 0;
  let checked = 0;
  let external = 0;
  for (const file of files) {
    const text = await Deno.readTextFile(ROOT + file);
    const dir = ROOT + file.slice(0, file.lastIndexOf("/") + 1);
    const broken: string[] = [];
    for (const { target, n } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        external++;
        continue;
      }
      checked++;
      const [path, anchor] = target.split("#", 2) as [string, string | undefined];
      const resolved = path ? new URL(decodeURI(path), `file://${dir}`).pathname : ROOT + file;
      if (!resolved.startsWith(ROOT)) {
        broken.push(`${file}:${n}: ${target} points outside the repository`);
        continue;
      }
      if (!(await exists(resolved))) {
        broken.push(`${file}:${n}: ${target}: no such file`);
        continue;
      }
      if (anchor !== undefined) {
        if (!resolved.endsWith(".md")) continue; // line anchors (#L10) of source files
        if (!(await anchorsOf(resolved)).has(anchor)) {
          broken.push(`${file}:${n}: ${target}: no heading with anchor #${anchor}`);
        }
      }
    }
    if (broken.length) {
      failed++;
      console.log(`FAILED  ${file}\n${broken.map((b) => `        ${b}`).join("\n")}`);
    } else {
      passed++;
      console.log(`ok      ${file}`);
    }
  }
  console.log(
    `(${checked} relative links and anchors checked; ${external} external links not fetched)`,
  );
  console.log(`links: ${passed} passed, ${failed} failed`);
  Deno.exit(failed ? 1 : 0);
}
