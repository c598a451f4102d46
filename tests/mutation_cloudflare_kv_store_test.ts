// What mutation testing of src/cloudflare/kv_store.ts asks of the Workers KV
// store on its own (a fake KV namespace, FakeClock time): the construction
// checks and their limits, the key it reads and writes, how long a read is
// reused, one write per key per minWriteInterval (the latest held back and
// sent by the next operation after it, an OPEN never replaced by a CLOSED
// while held), and the repair of an unreadable or future-dated entry.
import assert from "node:assert/strict";
import { CircuitState } from "../mod.ts";
import type { SharedState } from "../src/circuit_breaker/shared_data.ts";
import { type KvNamespaceLike, workersKvStore } from "../src/cloudflare/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

/** A KV namespace in memory that records every get and put. */
function fakeKv() {
  const data = new Map<string, string>();
  const gets: { key: string; options: unknown }[] = [];
  const puts: { key: string; value: string; options: unknown }[] = [];
  const kv: KvNamespaceLike = {
    get(key, options) {
      gets.push({ key, options });
      return Promise.resolve(data.get(key) ?? null);
    },
    put(key, value, options) {
      puts.push({ key, value, options });
      data.set(key, value);
      return Promise.resolve();
    },
  };
  return { kv, data, gets, puts };
}

const CONFIG = { failureThreshold: 3, resetTimeout: 10_000, halfOpenMaxCalls: 1 };
const WALL = Date.UTC(2026, 0, 1);
const open = (openedAt = WALL, generation = 1): SharedState => ({
  state: CircuitState.OPEN,
  generation,
  failures: 3,
  successes: 0,
  openedAt,
  permits: [],
});
const closed = (generation = 2): SharedState => ({
  state: CircuitState.CLOSED,
  generation,
  failures: 0,
  successes: 0,
  openedAt: WALL,
  permits: [],
});
const KEY = "cb:api";

test("workersKvStore: refuses what is not a KV binding, and options of the wrong kind, naming them", () => {
  const msg = /^TypeError: workersKvStore: expected a KV namespace binding$/;
  const get = () => Promise.resolve(null);
  const put = () => Promise.resolve();
  for (const kv of [undefined, null, {}, { get }, { put }, { get, put: 1 }, { get: 1, put }]) {
    assert.throws(() => workersKvStore(kv as never), (e) => msg.test(String(e)), String(kv));
  }
  assert.equal(workersKvStore({ get, put }).kind, "advisory");
  assert.throws(
    () => workersKvStore({ get, put }, 3 as never),
    /workersKvStore: option 'options' must be an object, got 3/,
  );
  assert.throws(
    () => workersKvStore({ get, put }, { clock: 3 } as never),
    /workersKvStore: option 'clock' must be an object, got 3/,
  );
  assert.throws(
    () => workersKvStore({ get, put }, { prefix: 3 } as never),
    /workersKvStore: option 'prefix' must be a non-empty string, got 3/,
  );
});

test("workersKvStore: the prefix must leave room in KV's 512-byte key limit, counted in UTF-8 bytes", () => {
  const { kv } = fakeKv();
  const refused = (prefix: string) =>
    assert.throws(
      () => workersKvStore(kv, { prefix }),
      (e) =>
        e instanceof RangeError &&
        e.message ===
          "workersKvStore: option 'prefix' leaves no room in Workers KV's 512-byte key limit",
    );
  assert.doesNotThrow(() => workersKvStore(kv, { prefix: "p".repeat(511) }));
  refused("p".repeat(512));
  refused("é".repeat(256)); // 256 characters, 512 bytes
  assert.doesNotThrow(() => workersKvStore(kv, { prefix: "é".repeat(255) + "p" }));
  // A key: the prefix and the key together at most 512 bytes.
  const store = workersKvStore(kv, { prefix: "p".repeat(500) });
  assert.doesNotThrow(() => store.checkKey!("k".repeat(12)));
  assert.throws(
    () => store.checkKey!("k".repeat(13)),
    (e) =>
      e instanceof RangeError &&
      /is 513 bytes with the prefix; the limit is 512 bytes/.test(e.message),
  );
});

test("workersKvStore: cacheTtl >= 0, minWriteInterval >= 1000 (KV's one write a second), expirationTtl an integer from 60 to a year", () => {
  const { kv } = fakeKv();
  const ok = (o: Record<string, number>) => assert.doesNotThrow(() => workersKvStore(kv, o));
  const bad = (o: Record<string, number>, re: RegExp) =>
    assert.throws(() => workersKvStore(kv, o), re);
  ok({ cacheTtl: 0 });
  bad({ cacheTtl: -1 }, /option 'cacheTtl' must be a finite number >= 0/);
  ok({ minWriteInterval: 1000 });
  bad({ minWriteInterval: 999 }, /option 'minWriteInterval' must be a finite number >= 1000/);
  ok({ expirationTtl: 60 });
  ok({ expirationTtl: 365 * 86_400 });
  bad({ expirationTtl: 59 }, /option 'expirationTtl' must be an integer >= 60 and <= 31536000/);
  bad({ expirationTtl: 60.5 }, /option 'expirationTtl' must be an integer/);
  bad({ expirationTtl: 365 * 86_400 + 1 }, /option 'expirationTtl' must be an integer/);
});

test("workersKvStore: reads the prefixed key as text (KV's edge cache 60 s); nothing stored is undefined; a read is reused for cacheTtl ms, then read again", async () => {
  const { kv, gets } = fakeKv();
  const clock = new FakeClock(100_000); // a monotonic clock starts anywhere
  const store = workersKvStore(kv, { clock, cacheTtl: 500 });
  assert.equal(await store.read!(KEY, CONFIG), undefined);
  assert.deepEqual(gets, [{ key: "er:cb:api", options: { type: "text", cacheTtl: 60 } }]);
  clock.tick(499);
  assert.equal(await store.read!(KEY, CONFIG), undefined);
  assert.equal(gets.length, 1, "reused within cacheTtl");
  clock.tick(1);
  assert.equal(await store.read!(KEY, CONFIG), undefined);
  assert.equal(gets.length, 2, "read again at cacheTtl");
  // Another prefix, and a binding answering undefined for a missing key.
  const other = workersKvStore(
    { get: () => Promise.resolve(undefined as never), put: () => Promise.resolve() },
    { prefix: "x/", clock, cacheTtl: 0 },
  );
  assert.equal(await other.read!(KEY, CONFIG), undefined);
  const two = fakeKv();
  const s2 = workersKvStore(two.kv, { prefix: "x/", clock, cacheTtl: 0 });
  await s2.read!(KEY, CONFIG);
  await s2.read!(KEY, CONFIG);
  assert.deepEqual(
    two.gets.map((g) => g.key),
    ["x/cb:api", "x/cb:api"],
    "cacheTtl 0: every read asks",
  );
});

test("workersKvStore: a sound entry is returned as stored and never rewritten", async () => {
  const { kv, data, puts } = fakeKv();
  const clock = new FakeClock();
  data.set("er:cb:api", JSON.stringify(open()));
  const store = workersKvStore(kv, { clock, cacheTtl: 0 });
  assert.deepEqual(await store.read!(KEY, CONFIG), open());
  assert.deepEqual(await store.read!(KEY, CONFIG), open());
  assert.equal(puts.length, 0);
});

test("workersKvStore: a publish writes JSON with expirationTtl and is what this isolate reads next, without a KV read", async () => {
  const { kv, gets, puts } = fakeKv();
  const clock = new FakeClock();
  const store = workersKvStore(kv, { clock, expirationTtl: 120 });
  await store.publish!(KEY, open());
  assert.deepEqual(puts, [{
    key: "er:cb:api",
    value: JSON.stringify(open()),
    options: { expirationTtl: 120 },
  }]);
  assert.deepEqual(await store.read!(KEY, CONFIG), open());
  assert.equal(gets.length, 0);
  const dflt = fakeKv();
  await workersKvStore(dflt.kv, { clock }).publish!(KEY, open());
  assert.deepEqual(dflt.puts[0].options, { expirationTtl: 86_400 });
});

test("workersKvStore: one write per key per minWriteInterval; the latest held back is sent by the next read or publish once due, and only once", async () => {
  const { kv, puts } = fakeKv();
  const clock = new FakeClock();
  const store = workersKvStore(kv, { clock, minWriteInterval: 2000, cacheTtl: 0 });
  await store.publish!(KEY, open(WALL, 1));
  await store.publish!("cb:other", open(WALL, 7)); // another key: its own interval
  assert.equal(puts.length, 2);
  clock.tick(1000);
  await store.publish!(KEY, closed(2));
  await store.publish!(KEY, closed(4)); // the latest replaces a held CLOSED
  assert.equal(puts.length, 2, "held");
  clock.tick(999);
  await store.read!(KEY, CONFIG);
  assert.equal(puts.length, 2, "not due yet");
  clock.tick(1);
  assert.deepEqual(await store.read!(KEY, CONFIG), closed(4));
  assert.equal(puts.length, 3);
  assert.deepEqual(JSON.parse(puts[2].value), closed(4));
  clock.tick(10_000);
  await store.read!(KEY, CONFIG);
  await store.read!(KEY, CONFIG);
  assert.equal(puts.length, 3, "sent once");
  // A due publish after a held one replaces it: the held one is not sent later.
  await store.publish!(KEY, open(WALL + 1, 5));
  clock.tick(10);
  await store.publish!(KEY, closed(6)); // held
  clock.tick(2000);
  await store.publish!(KEY, open(WALL + 2, 7)); // due: written, the held one dropped
  clock.tick(5000);
  await store.read!(KEY, CONFIG);
  assert.deepEqual(puts.slice(3).map((p) => JSON.parse(p.value).generation), [5, 7]);
});

test("workersKvStore: while held, an OPEN is never replaced by a CLOSED, but by a later OPEN", async () => {
  const { kv, puts } = fakeKv();
  const clock = new FakeClock();
  const store = workersKvStore(kv, { clock, cacheTtl: 0 });
  await store.publish!(KEY, closed(0));
  clock.tick(10);
  await store.publish!(KEY, open(WALL, 1));
  await store.publish!(KEY, closed(2));
  clock.tick(1000);
  await store.read!(KEY, CONFIG);
  assert.deepEqual(JSON.parse(puts[1].value), open(WALL, 1));
  clock.tick(10);
  await store.publish!(KEY, open(WALL, 3));
  await store.publish!(KEY, open(WALL + 5, 4));
  clock.tick(1000);
  await store.read!(KEY, CONFIG);
  assert.deepEqual(JSON.parse(puts[2].value), open(WALL + 5, 4));
});

test("workersKvStore: an unreadable entry reads as CLOSED marked repaired, and is replaced at once by a sound one (unmarked); this isolate then reads it unmarked", async () => {
  for (const stored of ["{not json", JSON.stringify({ state: "weird" }), "42"]) {
    const { kv, data, gets, puts } = fakeKv();
    const clock = new FakeClock();
    data.set("er:cb:api", stored);
    const store = workersKvStore(kv, { clock });
    const read = await store.read!(KEY, CONFIG);
    assert.equal(read?.state, CircuitState.CLOSED, stored);
    assert.equal(typeof read?.repaired, "string", stored);
    assert.equal(puts.length, 1, stored);
    const written = JSON.parse(puts[0].value);
    assert.equal(written.repaired, undefined);
    assert.equal(written.state, CircuitState.CLOSED);
    assert.deepEqual(await store.read!(KEY, CONFIG), written, "cached without the mark");
    assert.equal(gets.length, 1);
  }
});

test("workersKvStore: an entry opened in the future is bounded (now + skew allowance) and rewritten so", async () => {
  const { kv, data, puts } = fakeKv();
  const clock = new FakeClock(0, WALL);
  data.set("er:cb:api", JSON.stringify(open(WALL + 3_600_000)));
  const store = workersKvStore(kv, { clock });
  const read = await store.read!(KEY, { ...CONFIG, resetTimeout: 2000 });
  assert.equal(read?.openedAt, WALL + 2000);
  assert.equal(read?.repaired, undefined);
  assert.equal(puts.length, 1);
  assert.equal(JSON.parse(puts[0].value).openedAt, WALL + 2000);
  // Within the allowance: kept as is, not rewritten.
  const two = fakeKv();
  two.data.set("er:cb:api", JSON.stringify(open(WALL + 2000)));
  const s2 = workersKvStore(two.kv, { clock });
  assert.equal((await s2.read!(KEY, { ...CONFIG, resetTimeout: 2000 }))?.openedAt, WALL + 2000);
  assert.equal(two.puts.length, 0);
});

test("workersKvStore: a repair within minWriteInterval of a write is held and sent by the next operation once due; a publish held before it wins", async () => {
  const { kv, data, puts } = fakeKv();
  const clock = new FakeClock();
  const store = workersKvStore(kv, { clock, cacheTtl: 0 });
  await store.publish!(KEY, closed(0));
  clock.tick(10);
  data.set("er:cb:api", "{corrupt");
  const read = await store.read!(KEY, CONFIG);
  assert.equal(typeof read?.repaired, "string");
  assert.equal(puts.length, 1, "held: written less than minWriteInterval ago");
  clock.tick(1000);
  const again = await store.read!(KEY, CONFIG); // sends the repair, then reads it back
  assert.equal(puts.length, 2);
  assert.equal(JSON.parse(puts[1].value).repaired, undefined);
  assert.equal(again?.repaired, undefined, "the repaired entry is sound");
  // A publish held first is not replaced by a repair held after it.
  clock.tick(5000);
  await store.publish!(KEY, closed(1));
  clock.tick(10);
  await store.publish!(KEY, open(WALL, 9)); // held
  data.set("er:cb:api", "{corrupt");
  await store.read!(KEY, CONFIG); // repair: not due, the OPEN stays held
  clock.tick(1000);
  await store.read!(KEY, CONFIG);
  assert.deepEqual(JSON.parse(puts.at(-1)!.value), open(WALL, 9));
});
