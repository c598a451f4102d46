import assert from "node:assert/strict";
import { checked, test } from "./_harness.ts";

test("harness reports a timer left pending", async () => {
  const problems = await checked(() => {
    setTimeout(() => {}, 60_000);
  });
  assert.deepEqual(problems, ["1 timer(s) left pending"]);
});

test("harness reports an unhandled rejection", async () => {
  const problems = await checked(() => {
    Promise.reject(new Error("nobody listens"));
  });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /unhandled rejection.*nobody listens/);
}, {
  runtimes: ["deno", "workerd"],
  why: "Node's and Bun's test runners fail a test on an unhandled rejection themselves",
});

test("harness accepts a test that cleans up", async () => {
  const problems = await checked(async () => {
    const t = setTimeout(() => {}, 60_000);
    clearTimeout(t);
    await new Promise((r) => setTimeout(r, 1));
  });
  assert.deepEqual(problems, []);
});

test("harness: a test that rejects or throws with undefined fails", async () => {
  await assert.rejects(checked(() => Promise.reject(undefined)), (e) => e === undefined);
  await assert.rejects(
    checked(() => {
      throw undefined;
    }),
    (e) => e === undefined,
  );
});
