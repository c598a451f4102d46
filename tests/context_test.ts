import assert from "node:assert/strict";
import { currentContext, retry, timeout } from "../mod.ts";
import { test } from "./_harness.ts";

test("context: undefined outside a policy call, set while a wrapped function starts", async () => {
  assert.equal(currentContext(), undefined);
  let inside: unknown;
  let afterAwait: unknown = "unset";
  await timeout(1000)(async () => {
    inside = currentContext();
    await null;
    afterAwait = currentContext();
  })();
  assert.ok(inside);
  assert.equal(afterAwait, undefined);
  assert.equal(currentContext(), undefined);
});

test("context: nested wrapped functions inherit cancellation", async () => {
  let innerSignal: AbortSignal | undefined;
  const inner = retry({ maxAttempts: 1 })(() => {
    innerSignal = currentContext()!.signal;
    return new Promise(() => {});
  });
  const outer = timeout(10)(() => inner());
  await assert.rejects(outer());
  assert.equal(innerSignal!.aborted, true);
});

test("context: the caller's signal is passed through untouched when nothing else can abort", async () => {
  const ctl = new AbortController();
  let seen: AbortSignal | undefined;
  const { circuitBreaker } = await import("../mod.ts");
  await circuitBreaker().execute(({ signal }) => (seen = signal), ctl.signal);
  assert.equal(seen, ctl.signal);
});

test("context: a long-lived caller signal collects no listeners across calls", async () => {
  const ctl = new AbortController();
  let added = 0;
  let removed = 0;
  const signal = ctl.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...a: Parameters<typeof add>) => {
    added++;
    return add(...a);
  }) as typeof add;
  signal.removeEventListener = ((...a: Parameters<typeof remove>) => {
    removed++;
    return remove(...a);
  }) as typeof remove;
  const t = timeout(1000);
  for (let i = 0; i < 20; i++) await t.execute(() => i, signal);
  assert.ok(added > 0);
  assert.equal(added, removed);
});
