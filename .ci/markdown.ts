// Shared by the documentation checkers (.ci/snippets.ts, .ci/links.ts): the
// repository root and the markdown files they read.

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
