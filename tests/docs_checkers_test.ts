// The documentation checkers' own rules (.ci/markdown.ts): which code blocks
// are checked and how, and how links and anchors resolve. The checkers run on
// README and docs/ in .ci/test.ts; these tests make sure they can fail.
import assert from "node:assert/strict";
import { anchors, extract, links, render, slug } from "../.ci/markdown.ts";
import { test } from "./_harness.ts";

const md = [
  "# Title",
  "",
  "```ts",
  'import { retry } from "edge-resilience";',
  "```",
  "",
  "```ts run",
  "console.log(1);",
  "```",
  "",
  "````md",
  "```ts",
  "not a block of its own: inside a longer fence",
  "```",
  "````",
  "",
  "```js",
  "// other languages are not checked",
  "```",
  "",
  "  ```ts fragment",
  '  import { timeout } from "edge-resilience";',
  "  return await timeout(5).execute(() => 1);",
  "  ```",
  "",
  "```ts worker",
  "export default {};",
  "```",
  "",
  "```ts ignore",
  "this is not TypeScript",
  "```",
].join("\n");

test("docs checkers: every ts block is found, with its mode and the line of its first code line", () => {
  const blocks = extract("x.md", md);
  assert.deepEqual(
    blocks.map((b) => [b.mode, b.line]),
    [["module", 4], ["run", 8], ["fragment", 22], ["worker", 27], ["ignore", 31]],
  );
  assert.equal(
    blocks[2].code,
    'import { timeout } from "edge-resilience";\nreturn await timeout(5).execute(() => 1);',
  );
  assert.equal(new Set(blocks.map((b) => b.name)).size, blocks.length, "one file per block");
});

test("docs checkers: an unknown mark is an error naming the line, not a silently unchecked block", () => {
  assert.throws(
    () => extract("x.md", "```ts runnable\n1;\n```\n"),
    /x\.md:1: unknown snippet mark\(s\) runnable/,
  );
});

test("docs checkers: a fragment is wrapped in a function with its imports kept at module level", () => {
  const [, , fragment] = extract("x.md", md);
  const out = render(fragment);
  const lines = out.split("\n");
  assert.match(lines[0], /^\/\/ x\.md:22 \(fragment\)$/);
  assert.equal(lines[1], 'import { timeout } from "edge-resilience";');
  assert.match(
    out,
    /export async function fragment\(\): Promise<unknown> \{\nreturn await timeout/,
  );
  // A module stays a module (its own scope, top-level await allowed).
  assert.match(render(extract("x.md", md)[0]), /\nexport \{\};\n$/);
});

test("docs checkers: anchors are GitHub's slugs, duplicates numbered, explicit ids included", () => {
  assert.equal(slug("`routeTimeout`"), "routetimeout");
  assert.equal(slug("npm (Node, Bun, bundlers, Workers)"), "npm-node-bun-bundlers-workers");
  assert.equal(
    slug("Compared with cockatiel, opossum, p-retry and p-timeout"),
    "compared-with-cockatiel-opossum-p-retry-and-p-timeout",
  );
  assert.equal(slug("Testing with `FakeClock`"), "testing-with-fakeclock");
  assert.equal(slug("A [linked](x.md) heading"), "a-linked-heading");
  const a = anchors('# Usage\n## Usage\n```\n# not a heading\n```\n<a id="here"></a>\n');
  assert.deepEqual([...a].sort(), ["here", "usage", "usage-1"]);
});

test("docs checkers: links in prose are found; code blocks and inline code are not links", () => {
  const text = [
    "See [guide](docs/a.md#x) and [site](https://example.com).",
    "`[not](a-link.md)`",
    "```",
    "[neither](b.md)",
    "```",
    "[ref]: docs/c.md",
    '<a href="d.md">d</a>',
  ].join("\n");
  assert.deepEqual(links(text), [
    { target: "docs/a.md#x", n: 1 },
    { target: "https://example.com", n: 1 },
    { target: "docs/c.md", n: 6 },
    { target: "d.md", n: 7 },
  ]);
});
