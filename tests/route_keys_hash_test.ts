// Route keys taken from requests are shortened with a hash of the whole key: two
// different keys must not share a breaker or a rate limit, even when a client
// crafts them (the 32-bit FNV-1a used before was inverted in milliseconds).
import assert from "node:assert/strict";
import { safeKey } from "../src/hono/circuit_breaker.ts";
import { test } from "./_harness.ts";

test("safeKey: a key crafted to collide under 32-bit FNV-1a stays distinct", () => {
  const victim = "tenant-" + "v".repeat(250);
  const attacker = victim.slice(0, 64) + "\u0001丁特镗"; // FNV-1a 32: both d32ead64
  assert.notEqual(safeKey(attacker), safeKey(victim));
  assert.match(safeKey(victim), /^tenant-v{57}…#[0-9a-f]{32}$/);
});

test("safeKey: 100,000 long keys differing in one character keep distinct hashes", () => {
  const seen = new Set<string>();
  const base = "k".repeat(300);
  for (let i = 0; i < 100_000; i++) {
    const key = base + i.toString(36);
    seen.add(safeKey(key));
  }
  assert.equal(seen.size, 100_000);
});
