// What mutation testing of src/shared/keys.ts checks: the store keys' encoding,
// the exact byte limits (the default of 512, the prefix counted in UTF-8
// bytes), and the errors naming the limit.
import assert from "node:assert/strict";
import { storeKey } from "../mod.ts";
import { prefixedKey } from "../src/shared/keys.ts";
import { test } from "./_harness.ts";

test("store keys: storeKey encodes the name after the prefix", () => {
  assert.equal(storeKey("cb:", "api/../x"), "cb:api%2F..%2Fx");
  assert.equal(storeKey("cb:", "{tag}"), "cb:%7Btag%7D");
  assert.equal(storeKey("", "a"), "a");
});

test("store keys: storeKey refuses a name that is empty or not a string", () => {
  const message = "store key: the name must be a non-empty string";
  assert.throws(() => storeKey("cb:", ""), { name: "TypeError", message });
  assert.throws(() => storeKey("cb:", 5 as never), { name: "TypeError", message });
  assert.throws(() => storeKey("cb:", undefined as never), { name: "TypeError", message });
});

test("store keys: storeKey's limit is 512 bytes by default, prefix included, in UTF-8 bytes", () => {
  assert.equal(storeKey("cb:", "a".repeat(509)), "cb:" + "a".repeat(509));
  assert.throws(() => storeKey("cb:", "a".repeat(510)), {
    name: "RangeError",
    message: `store key 'cb:${
      "a".repeat(37)
    }…' is 513 bytes once prefixed and encoded; the limit is 512 bytes`,
  });
  // The prefix counts in UTF-8 bytes ("é" is two), the encoded name one byte a character.
  assert.equal(storeKey("é:", "é", 9), "é:%C3%A9");
  assert.throws(() => storeKey("é:", "é", 8), {
    name: "RangeError",
    message: "store key 'é:%C3%A9…' is 9 bytes once prefixed and encoded; the limit is 8 bytes",
  });
  // A long prefix alone can pass the limit.
  assert.throws(() => storeKey("p".repeat(10), "a", 10), /is 11 bytes/);
  assert.equal(storeKey("p".repeat(9), "a", 10), "ppppppppp" + "a");
});

test("store keys: prefixedKey prepends a store's prefix, bounded in UTF-8 bytes", () => {
  assert.equal(prefixedKey("er:", "cb:api", 9), "er:cb:api");
  assert.throws(() => prefixedKey("er:", "cb:api", 8), {
    name: "RangeError",
    message: "store key 'er:cb:api…' is 9 bytes with the prefix; the limit is 8 bytes",
  });
  assert.equal(prefixedKey("é", "k", 3), "ék");
  assert.throws(() => prefixedKey("é", "k", 2), /'ék…' is 3 bytes/);
  const long = "k".repeat(100);
  assert.throws(() => prefixedKey("p:", long, 50), {
    name: "RangeError",
    message: `store key 'p:${"k".repeat(38)}…' is 102 bytes with the prefix; the limit is 50 bytes`,
  });
  const message = "store key: expected a non-empty string";
  assert.throws(() => prefixedKey("p:", "", 50), { name: "TypeError", message });
  assert.throws(() => prefixedKey("p:", 1 as never, 50), { name: "TypeError", message });
});
