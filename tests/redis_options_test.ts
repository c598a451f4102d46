// The Redis store without a server: clients recognised by shape (each sends
// the same all-string commands, routed by the key), EVALSHA with one reload
// on NOSCRIPT, and the options refused at construction.
import assert from "node:assert/strict";
import type { Outcome, SharedConfig, SharedState, SharedStore } from "../mod.ts";
import { storeKey } from "../src/shared/keys.ts";
import { circuitBreaker, clearCircuitBreakers } from "../mod.ts";
import { REDIS_MAX_KEY_BYTES, redisStore, RedisStoreError } from "../src/redis/mod.ts";
import { clientKind } from "../src/redis/client.ts";
import { CAS_SCRIPT, READ_SCRIPT, shaOf } from "../src/redis/scripts.ts";
import { test } from "./_harness.ts";

/** A circuit `sync` through the store port; the answer as a state. */
const syncOp = (
  store: SharedStore,
  name: string,
  outcomes: Outcome[],
  config: SharedConfig,
) =>
  store.run!(storeKey("cb:", name), {
    type: "circuit",
    action: "sync",
    outcomes,
    config,
  }) as Promise<
    SharedState
  >;

const CFG = {
  failureThreshold: 3,
  resetTimeout: 1000,
  halfOpenMaxCalls: 1,
  permitTtl: 1000,
  timeout: 500,
};
/** A reply of the read script for an absent entry at server time 1,700,000,000.5 s. */
const EMPTY = JSON.stringify(["1700000000", "500000", "", false, "none"]);

/** Commands as each client shape receives them, answered by a scripted fake server. */
function fakes(reply: (args: string[]) => unknown) {
  const seen: { kind: string; key?: string; args: string[] }[] = [];
  const answer = (kind: string, args: string[], key?: string) => {
    seen.push({ kind, key, args });
    return Promise.resolve().then(() => reply(args));
  };
  return {
    seen,
    clients: {
      "node-redis": { sendCommand: (args: string[]) => answer("node-redis", args) },
      "node-redis-cluster": {
        masters: [],
        slots: [],
        sendCommand: (key: string, readonly: boolean, args: string[]) => {
          assert.equal(readonly, false);
          return answer("node-redis-cluster", args, key);
        },
      },
      ioredis: {
        call: (cmd: string, ...args: string[]) => answer("ioredis", [cmd, ...args]),
        sendCommand: () => assert.fail("ioredis's sendCommand takes Command objects"),
      },
      bun: {
        send: (cmd: string, args: string[]) => answer("bun", [cmd, ...args]),
        evalsha: () => assert.fail("not used"),
      },
      sender: { send: (args: string[], key: string) => answer("sender", args, key) },
    },
  };
}

test("Redis store: every client shape gets the same all-string EVALSHA, routed by the key", async () => {
  const read = await shaOf(READ_SCRIPT);
  const cas = await shaOf(CAS_SCRIPT);
  const { seen, clients } = fakes((args) => args[1] === read ? EMPTY : "1");
  for (const [kind, client] of Object.entries(clients)) {
    assert.equal(clientKind(client), kind);
    const store = redisStore(client as never, { prefix: "p:", expireIn: 60_000 });
    const s = await syncOp(store, "a{b}/c", [{ ok: false, generation: 0 }], CFG);
    assert.equal(s?.failures, 1);
    const mine = seen.filter((c) => c.kind === kind);
    assert.equal(mine.length, 2, kind);
    const key = "p:cb:a%7Bb%7D%2Fc"; // braces encoded: a name cannot pick a hash slot
    assert.deepEqual(mine[0].args, ["EVALSHA", read, "1", key]);
    assert.deepEqual(mine[1].args.slice(0, 4), ["EVALSHA", cas, "1", key]);
    assert.equal(mine[1].args[4], "");
    assert.equal(JSON.parse(mine[1].args[5]).failures, 1);
    assert.equal(mine[1].args[6], "60000");
    for (const c of mine) {
      for (const a of c.args) assert.equal(typeof a, "string");
      if (kind === "node-redis-cluster" || kind === "sender") assert.equal(c.key, key);
    }
  }
});

test("Redis store: NOSCRIPT → EVAL of the source once; a second NOSCRIPT is an error, not a loop", async () => {
  let evals = 0;
  const { seen, clients } = fakes((args) => {
    if (args[0] === "EVALSHA") throw new Error("NOSCRIPT No matching script. Please use EVAL.");
    evals++;
    return args[1] === READ_SCRIPT ? EMPTY : "1";
  });
  const store = redisStore(clients["node-redis"]);
  assert.equal((await syncOp(store, "k", [{ ok: false, generation: 0 }], CFG))?.failures, 1);
  assert.equal(evals, 2);
  assert.deepEqual(seen.map((c) => c.args[0]), ["EVALSHA", "EVAL", "EVALSHA", "EVAL"]);
  // EVAL failing with NOSCRIPT too (a broken proxy): the error, once.
  const broken = redisStore({
    send: () => Promise.reject(new Error("NOSCRIPT No matching script")),
  });
  await assert.rejects(syncOp(broken, "k", [], CFG), /NOSCRIPT/);
  // Other errors are passed on as they are, without a reload.
  let calls = 0;
  const oom = redisStore({
    send: () => {
      calls++;
      return Promise.reject(new Error("OOM command not allowed"));
    },
  });
  await assert.rejects(syncOp(oom, "k", [], CFG), /OOM/);
  assert.equal(calls, 1);
  // A client that throws synchronously: a rejection, not a throw.
  const sync = redisStore({
    send: () => {
      throw new Error("closed");
    },
  });
  const p = syncOp(sync, "k", [], CFG);
  await assert.rejects(p, /closed/);
});

test("Redis store: replies it cannot read fail with RedisStoreError('reply'); Buffers are read", async () => {
  for (
    const bad of [
      42,
      "not json",
      JSON.stringify([1, 2]),
      JSON.stringify(["x", "y", "", false, "none"]),
    ]
  ) {
    const store = redisStore({ send: () => Promise.resolve(bad) });
    await assert.rejects(syncOp(store, "k", [], CFG), (e) => {
      assert.ok(e instanceof RedisStoreError);
      assert.equal(e.reason, "reply");
      assert.equal(e.key, "er:cb:k");
      return true;
    });
  }
  const bytes = redisStore({ send: () => Promise.resolve(new TextEncoder().encode(EMPTY)) });
  assert.equal((await syncOp(bytes, "k", [], CFG))?.state, "closed");
});

test("Redis store: options and clients refused at construction, naming them", () => {
  clearCircuitBreakers();
  const ok = { send: () => Promise.resolve(EMPTY) };
  assert.throws(() => redisStore({} as never), /redisStore: expected a Redis client/);
  assert.throws(() => redisStore(null as never), /expected a Redis client/);
  assert.throws(
    () => redisStore(ok, { prefx: "a" } as never),
    /unknown option 'prefx' \(did you mean 'prefix'\?\)/,
  );
  assert.throws(() => redisStore(ok, { prefix: "" }), /option 'prefix'/);
  assert.throws(() => redisStore(ok, { prefix: "x".repeat(512) }), RangeError);
  assert.throws(() => redisStore(ok, { expireIn: 10 }), /option 'expireIn'/);
  assert.throws(() => redisStore(ok, { expireIn: 1.5e3 + 0.5 }), /option 'expireIn'/);
  assert.throws(() => redisStore(ok, { maxAttempts: 0 }), /option 'maxAttempts'/);
  assert.throws(() => redisStore(ok, { clock: 5 as never }), /option 'clock'/);
  assert.throws(() => redisStore(ok, { random: "r" as never }), /option 'random'/);
  // The key bound: the store's prefix + the key (namespaced and encoded by the caller) within
  // 512 bytes, checked when the breaker is built.
  const store = redisStore(ok, { prefix: "er:" });
  const room = REDIS_MAX_KEY_BYTES - "er:".length;
  store.checkKey!("a".repeat(room));
  assert.throws(() => store.checkKey!("a".repeat(room + 1)), /512-byte/);
  assert.throws(() => store.checkKey!("é".repeat(Math.floor(room / 2) + 1)), /512-byte/); // 2 bytes each
  assert.throws(() => store.checkKey!(""), TypeError);
  // Through a breaker: a name too long is refused when the breaker is built.
  assert.throws(
    () => circuitBreaker({ name: "x".repeat(600), store: redisStore(ok) }),
    /512/,
  );
});

test("Redis store: the scripts' SHA-1 is what Redis computes (EVALSHA finds them)", async () => {
  // Known SHA-1 values: the empty string and "abc".
  assert.equal(await shaOf(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  assert.equal(await shaOf("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
});
