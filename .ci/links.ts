// Checks the links of README.md, CHANGELOG.md and docs/*.md: every relative
// link must name a file or folder of the repository, and every anchor
// (`#section`, `guide.md#section`) a heading of its target, slugged the way
// GitHub does. External links (http:, https:, mailto:) are listed, not fetched.
//
//   deno run -A .ci/links.ts
//
// One test per markdown file (all its links resolve). Ends with
// `links: N passed, M failed` (read by .ci/test.ts).
import { anchors, links, markdownFiles, ROOT } from "./markdown.ts";

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
