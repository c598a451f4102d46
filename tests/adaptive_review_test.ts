// Defects found by reviewing issue #21's adaptive concurrency as a new user
// would, each with the test that failed before its fix.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { routeAdaptiveConcurrency } from "../src/hono/mod.ts";
import { silent, test } from "./_harness.ts";

test("routeAdaptiveConcurrency: a key that is not a non-empty string is a TypeError naming 'key'", async () => {
  for (const bad of [undefined, 42, null, ""]) {
    const mw = routeAdaptiveConcurrency({ key: () => bad as string, logger: silent });
    const a = new Hono();
    let seen: unknown;
    a.onError((e, c) => {
      seen = e;
      return c.text("error", 500);
    });
    a.get("/x", mw, (c) => c.text("ok"));
    const res = await a.request("/x");
    assert.equal(res.status, 500);
    await res.body?.cancel();
    assert.ok(seen instanceof TypeError, `a TypeError for ${String(bad)}, got ${seen}`);
    assert.equal(
      (seen as Error).message,
      `routeAdaptiveConcurrency: option 'key' must give a non-empty string, got ${
        JSON.stringify(bad)
      }`,
    );
    assert.deepEqual(mw.keys(), [], "no limiter made for it");
  }
});
