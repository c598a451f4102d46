// The Redis engine (read → rules in TypeScript → compare-and-set) against a
// real redis-server, with node-redis and ioredis, around a toy rule (a
// counter) until the shared-store port lands: scripts reloaded after
// NOSCRIPT (SCRIPT FLUSH, restart), unreadable values repaired, no lost
// update under contention, a paused server, memory full.
import assert from "node:assert/strict";
import { type Applied, redisEngine, type RedisStoreOptions } from "../src/redis/store.ts";
import { type RedisClientLike, RedisStoreError } from "../src/redis/mod.ts";
import { CAS_SCRIPT, READ_SCRIPT, shaOf } from "../src/redis/scripts.ts";
import { CLIENT_NAMES, connect, fileServer, redisTest, type TestClient } from "./_redis.ts";

const server = await fileServer();

/** The toy op: add to a counter (0 reads without writing). */
interface Add {
  add: number;
  timeout?: number;
}
interface Answer {
  count: number;
  now: number;
  repaired?: string;
}
function toy(stored: unknown, op: Add, now: number): Applied {
  const ok = typeof stored === "object" && stored !== null &&
    typeof (stored as { count?: unknown }).count === "number";
  const count = (ok ? (stored as { count: number }).count : 0) + op.add;
  const answer: Answer = { count, now };
  if (!ok && stored !== undefined) answer.repaired = String(stored);
  return { value: { count }, answer, write: op.add !== 0 || answer.repaired !== undefined };
}
const engine = (client: unknown, options: RedisStoreOptions = {}) =>
  redisEngine<Add>(
    "redisStore",
    client as RedisClientLike,
    options,
    toy,
    (op) => op.timeout,
  );
const run = (e: ReturnType<typeof engine>, key: string, add: number, timeout?: number) =>
  e.run(key, { add, timeout }) as Promise<Answer>;

async function withClient(name: string, fn: (c: TestClient) => Promise<void>): Promise<void> {
  const c = await connect(name, server!);
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}
let n = 0;
const freshKey = () => `t:${++n}:${Math.random().toString(36).slice(2)}`;

for (const name of CLIENT_NAMES) {
  redisTest(
    `Redis (${name}): an entry is one hash (value, version) with an expiry`,
    () =>
      withClient(name, async ({ client }) => {
        const e = engine(client, { expireIn: 60_000 });
        const key = freshKey();
        const before = Date.now();
        assert.equal((await run(e, key, 2)).count, 2);
        const a = await run(e, key, 3);
        assert.equal(a.count, 5);
        // The server's time (TIME), in ms.
        assert.ok(Math.abs(a.now - before) < 5_000, `server time ${a.now} vs ${before}`);
        assert.equal((await run(e, key, 0)).count, 5);
        assert.equal(server!.cli("TYPE", `er:${key}`), "hash");
        assert.equal(server!.cli("HGET", `er:${key}`, "v"), '{"count":5}');
        const v = server!.cli("HGET", `er:${key}`, "n");
        assert.match(v, /^\d{16}$/); // created at the server's time in µs, then + 1 per write
        const ttl = Number(server!.cli("PTTL", `er:${key}`));
        assert.ok(ttl > 50_000 && ttl <= 60_000, `PTTL ${ttl}`);
        // A read (no write) leaves the version alone.
        const v2 = server!.cli("HGET", `er:${key}`, "n");
        assert.equal(v2, v);
        // The prefix is the store's own.
        const p = engine(client, { prefix: "app1:" });
        await run(p, key, 1);
        assert.equal(server!.cli("HGET", `app1:${key}`, "v"), '{"count":1}');
      }),
  );

  redisTest(
    `Redis (${name}): SCRIPT FLUSH → NOSCRIPT → the scripts are loaded again, 1,000 times`,
    () =>
      withClient(name, async ({ client }) => {
        const e = engine(client);
        const key = freshKey();
        const read = await shaOf(READ_SCRIPT);
        const cas = await shaOf(CAS_SCRIPT);
        for (let i = 1; i <= 1000; i++) {
          if (i % 10 === 0) server!.cli("SCRIPT", "FLUSH");
          assert.equal((await run(e, key, 1)).count, i);
        }
        assert.equal(server!.cli("SCRIPT", "EXISTS", read, cas), "1\n1");
      }),
  );

  redisTest(
    `Redis (${name}): unreadable values (garbage, a hash without a value, WRONGTYPE) are repaired`,
    () =>
      withClient(name, async ({ client }) => {
        const e = engine(client);
        const key = freshKey();
        const full = `er:${key}`;
        await run(e, key, 4);
        server!.cli("HSET", full, "v", "{garbage");
        let a = await run(e, key, 1);
        assert.equal(a.repaired, "{garbage");
        assert.equal(a.count, 1);
        server!.cli("HDEL", full, "v");
        a = await run(e, key, 0);
        assert.match(a.repaired!, /WRONGTYPE: a hash/);
        assert.equal(server!.cli("HGET", full, "v"), '{"count":0}');
        for (const make of [["SET", full, "x"], ["RPUSH", full, "a", "b"], ["SADD", full, "m"]]) {
          server!.cli("DEL", full);
          server!.cli(...make);
          a = await run(e, key, 2);
          assert.match(a.repaired!, /^WRONGTYPE: a (string|list|set) at /);
          assert.equal(a.count, 2);
          assert.equal(server!.cli("TYPE", full), "hash");
        }
        // Another version's JSON reaches the rules as it is (they decide).
        server!.cli("HSET", full, "v", '{"count":"7"}');
        a = await run(e, key, 1);
        assert.equal(a.repaired, "[object Object]");
      }),
  );
}

redisTest(
  "Redis: 1,008 concurrent increments from both clients, 4 connections: no lost update",
  async () => {
    const clients = await Promise.all(
      ["node-redis", "ioredis", "node-redis", "ioredis"].map((n) => connect(n, server!)),
    );
    try {
      let lost = 0;
      // Count lost compare-and-sets through the escape hatch, wrapping each real client.
      const engines = clients.map(({ client }) => {
        const real = client as {
          call?(...a: string[]): Promise<unknown>;
          sendCommand?(a: string[]): Promise<unknown>;
        };
        // The escape hatch around the real client: counts the lost compare-and-sets.
        const send = (args: string[]) =>
          (real.call ? real.call(...args) : real.sendCommand!(args)).then((r) => {
            if (args.length === 7 && r === "0") lost++;
            return r;
          });
        return engine({ send }, { maxAttempts: 10_000 });
      });
      const key = freshKey();
      const answers: number[] = [];
      await Promise.all(Array.from({ length: 16 }, async (_, w) => {
        for (let i = 0; i < 63; i++) {
          answers.push((await run(engines[w % 4], key, 1, 120_000)).count);
        }
      }));
      assert.equal(answers.length, 1008);
      assert.equal(new Set(answers).size, 1008, "every increment saw a distinct count");
      assert.equal(Math.max(...answers), 1008);
      assert.equal(server!.cli("HGET", `er:${key}`, "v"), '{"count":1008}');
      assert.ok(lost > 0, "the runs did contend");
    } finally {
      for (const c of clients) await c.close();
    }
  },
);

redisTest(
  "Redis: contention past maxAttempts fails with RedisStoreError('contention'), not silently",
  async () => {
    // A sender whose compare-and-set always loses.
    const c = await connect("ioredis", server!);
    try {
      const real = c.client as { call(...a: string[]): Promise<unknown> };
      let cas = 0;
      const e = engine({
        send: (args: string[]) => {
          if (args[0] === "EVALSHA" && args.length === 7) {
            cas++;
            return Promise.resolve("0");
          }
          return real.call(...args);
        },
      }, { maxAttempts: 5, random: () => 0 });
      await assert.rejects(run(e, freshKey(), 1, 10_000), (err) => {
        assert.ok(err instanceof RedisStoreError);
        assert.equal(err.reason, "contention");
        assert.equal(err.attempts, 5);
        assert.equal(err.name, "RedisStoreError");
        return true;
      });
      assert.equal(cas, 5);
    } finally {
      await c.close();
    }
  },
);
redisTest(
  "Redis (ioredis): its keyPrefix applies to the store's keys too (documented)",
  async () => {
    const { Redis } = await import("ioredis");
    const client = new Redis({ path: server!.socket, keyPrefix: "app:", lazyConnect: true });
    client.on("error", () => {});
    await client.connect();
    try {
      const key = freshKey();
      assert.equal((await run(engine(client), key, 1)).count, 1);
      assert.equal(server!.cli("HGET", `app:er:${key}`, "v"), '{"count":1}');
      assert.equal(server!.cli("EXISTS", `er:${key}`), "0");
    } finally {
      client.disconnect();
    }
  },
);

redisTest("Redis: the server of this file stops", () => server!.dispose());
