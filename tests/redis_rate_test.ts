// Rate limits shared through Redis (a real redis-server): limiters on
// separate connections (node-redis and ioredis) sharing one limit of 100
// admit exactly 100 of 1,000 takes, in turn and 30 at a time; every take,
// peek, reset and reservation is exactly one command (EVALSHA), counted by
// the server (INFO commandstats) and by a `{ send }` client; NOSCRIPT after
// SCRIPT FLUSH costs one EVAL, once; a server stopped and restarted mid-run
// leaves every one of 1,000 takes answered, and so does a server whose memory
// is full (the script's write fails with OOM). (The script's equivalence with
// the TypeScript algorithms: tests/redis_rate_lua_test.ts.)
import assert from "node:assert/strict";
import { rateLimiter, type StoreStatusEvent } from "../mod.ts";
import { redisStore } from "../src/redis/mod.ts";
import { recordingLogger, silent } from "./_harness.ts";
import { CLIENT_NAMES, connect, fileServer, fullServer, redisTest } from "./_redis.ts";

const server = await fileServer();
let n = 0;

async function shared(concurrent: boolean): Promise<number> {
  const clients = await Promise.all(
    ["node-redis", "ioredis", "node-redis"].map((name) => connect(name, server!)),
  );
  try {
    const name = `api-${++n}`;
    const limiters = clients.map(({ client }) =>
      rateLimiter({
        name,
        limit: 100,
        interval: 60_000,
        algorithm: "fixed-window",
        store: redisStore(client as never, { maxAttempts: 10_000 }),
        storeOptions: { timeout: 30_000 },
        logger: silent,
      })
    );
    const take = (i: number) => limiters[i % 3].take("client-1").then((r) => (r.allowed ? 1 : 0));
    let allowed = 0;
    if (concurrent) {
      // 30 takes in flight at all times. (All 1,000 at once would outlast the store's retry
      // budget: a rate op carries no timeout, so stores retry contention for 450 ms, then the
      // limiters fall back to their local limits — reported on issue #19.)
      let next = 0;
      await Promise.all(Array.from({ length: 30 }, async () => {
        while (next < 1000) {
          const one = await take(next++);
          allowed += one;
        }
      }));
    } else {
      for (let i = 0; i < 1000; i++) allowed += await take(i);
    }
    return allowed;
  } finally {
    for (const c of clients) await c.close();
  }
}

redisTest(
  "shared rate limit (Redis): 3 limiters on 3 connections sharing a limit of 100 admit exactly 100 of 1,000 (in turn)",
  async () => {
    assert.equal(await shared(false), 100);
  },
);

redisTest(
  "shared rate limit (Redis): the same with 30 takes in flight at all times (contention)",
  async () => {
    assert.equal(await shared(true), 100);
  },
);

/** What the script itself calls (counted by the server too, but no round trip). */
const INSIDE = /^(type|hmget|time|hset|pexpire|del|info|config\|resetstat)$/;

/**
 * Commands clients sent since `CONFIG RESETSTAT`, by name (INFO commandstats,
 * the script's own calls and redis-cli's left out; any other command fails).
 */
function commandStats(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of server!.cli("INFO", "commandstats").matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)) {
    if (!INSIDE.test(m[1])) out[m[1]] = Number(m[2]);
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

for (const name of CLIENT_NAMES) {
  redisTest(
    `Redis (${name}): every rate-limit operation is exactly one command (EVALSHA); after SCRIPT FLUSH one EVAL, once`,
    async () => {
      const c = await connect(name, server!);
      try {
        const limiter = rateLimiter({
          name: `one-trip-${name}`,
          limit: 1000,
          interval: 60_000,
          algorithm: "sliding-window",
          store: redisStore(c.client as never),
          logger: silent,
        });
        await limiter.take("warm-up"); // loads the script if this server has not seen it
        server!.cli("CONFIG", "RESETSTAT");
        for (let i = 0; i < 200; i++) {
          assert.equal((await limiter.take(`k${i % 20}`)).allowed, true);
        }
        assert.equal((await limiter.peek("k0")).remaining, 1000 - 10);
        await limiter.reset("k1");
        assert.deepStrictEqual(commandStats(), { evalsha: 202 });
        // A reservation (maxWait): still one command (the wait is the limiter's, not the store's).
        const waiting = rateLimiter({
          name: `one-trip-wait-${name}`,
          limit: 10,
          interval: 1000,
          algorithm: "token-bucket",
          maxWait: 1000,
          store: redisStore(c.client as never),
          logger: silent,
        });
        server!.cli("CONFIG", "RESETSTAT");
        // The bucket holds 10 and refills one per 100 ms: the 11th permit comes 100 ms after the
        // first take at the earliest, however long the 10 takes themselves took.
        const started = Date.now();
        for (let i = 0; i < 10; i++) assert.equal(await waiting.execute(() => i), i);
        assert.equal(await waiting.execute(() => "reserved"), "reserved");
        assert.ok(Date.now() - started >= 95, "the 11th permit was reserved (waited for a token)");
        assert.deepStrictEqual(commandStats(), { evalsha: 11 });
        // The script cache emptied: the next take finds NOSCRIPT, EVALs once, the next EVALSHA again.
        server!.cli("SCRIPT", "FLUSH");
        server!.cli("CONFIG", "RESETSTAT");
        for (let i = 0; i < 10; i++) assert.equal((await limiter.take(`k${i}`)).allowed, true);
        assert.deepStrictEqual(commandStats(), { evalsha: 10, eval: 1 });
        // (The NOSCRIPT reply was the EVALSHA's own failure, not a failure of the take.)
        assert.match(
          server!.cli("INFO", "commandstats"),
          /cmdstat_evalsha:calls=10,[^\n]*failed_calls=1/,
        );
      } finally {
        await c.close();
      }
    },
  );

  redisTest(
    `Redis (${name}): server stopped mid-run and restarted: 1,000 takes all answered, the limit shared again after`,
    async () => {
      const c = await connect(name, server!);
      try {
        const events: StoreStatusEvent[] = [];
        const logger = recordingLogger();
        const make = () =>
          rateLimiter({
            name: `restart-${name}`,
            limit: 50,
            interval: 60_000,
            algorithm: "fixed-window",
            store: redisStore(c.client as never),
            storeOptions: { timeout: 300, retryInterval: 50 },
            onStoreStatus: (e) => events.push(e),
            logger,
          });
        const a = make();
        let answered = 0;
        for (let i = 0; i < 1000; i++) {
          if (i === 300) await server!.stop();
          if (i === 600) await server!.start();
          const r = await a.take(`user-${i % 10}`);
          assert.equal(typeof r.allowed, "boolean");
          answered++;
        }
        assert.equal(answered, 1000);
        assert.ok(events.some((e) => !e.available), "the outage was seen");
        const end = Date.now() + 10_000;
        while (events.at(-1)?.available !== true) {
          assert.ok(Date.now() < end, "the store recovered within 10 s");
          await a.take("probe");
          await sleep(20);
        }
        // Shared again: two limiters (this one and a new one) split one limit of 50.
        const b = make();
        let allowed = 0;
        for (let i = 0; i < 100; i++) {
          allowed += (await (i % 2 ? a : b).take("after")).allowed ? 1 : 0;
        }
        assert.equal(allowed, 50);
        assert.equal(events.filter((e) => !e.available).length, 1, "logged once");
      } finally {
        await c.close();
      }
    },
  );
}

redisTest(
  "Redis: a `{ send }` client sees one command per take, all arguments strings",
  async () => {
    const c = await connect("node-redis", server!);
    try {
      const client = c.client as { sendCommand(args: string[]): Promise<unknown> };
      const sent: string[][] = [];
      const store = redisStore({
        send(args: string[], key: string) {
          assert.ok(args.every((a) => typeof a === "string"), "strings only");
          assert.equal(args[3], key, "routed by the one key the script touches");
          sent.push(args);
          return client.sendCommand(args);
        },
      });
      const limiter = rateLimiter({
        name: "sender",
        limit: 5,
        interval: 1000,
        algorithm: "token-bucket",
        store,
        logger: silent,
      });
      for (let i = 0; i < 5; i++) assert.equal((await limiter.take("u")).allowed, true);
      const denied = await limiter.take("u");
      assert.equal(denied.allowed, false);
      assert.ok(
        denied.retryAfter > 0 && denied.retryAfter <= 200,
        `retryAfter ${denied.retryAfter}`,
      );
      const trips = sent.filter((a) => a[0] === "EVALSHA").length;
      assert.equal(sent.length - (sent.some((a) => a[0] === "EVAL") ? 1 : 0), 6);
      assert.equal(trips, 6);
      // The entry: one hash with an expiry; a reset deletes it (a fresh state is no entry).
      const key = "er:rl:sender:u";
      assert.equal(server!.cli("TYPE", key), "hash");
      assert.ok(Number(server!.cli("PTTL", key)) > 6 * 86_400_000);
      await limiter.reset("u");
      assert.equal(server!.cli("EXISTS", key), "0");
    } finally {
      await c.close();
    }
  },
);

redisTest(
  "Redis: the rate script runs at the server's TIME, and repairs a value of another type (logged once)",
  async () => {
    const c = await connect("ioredis", server!);
    try {
      const logger = recordingLogger();
      const limiter = rateLimiter({
        name: "time",
        limit: 3,
        interval: 3_600_000,
        algorithm: "fixed-window",
        store: redisStore(c.client as never),
        logger,
      });
      const serverNow = Number(server!.cli("TIME").split("\n")[0]) * 1000;
      const r = await limiter.take("t");
      // The window ends on the hour of the server's clock.
      const expected = Math.floor(serverNow / 3_600_000) * 3_600_000 + 3_600_000 - serverNow;
      assert.ok(
        Math.abs(r.resetAfter - expected) < 2000,
        `resetAfter ${r.resetAfter} vs ${expected}`,
      );
      server!.cli("SET", "er:rl:time:w", "not a hash");
      assert.equal((await limiter.take("w")).remaining, 2);
      assert.equal((await limiter.take("w")).remaining, 1);
      assert.equal(logger.lines.filter((l) => /unreadable/.test(l)).length, 1);
      assert.match(server!.cli("HGET", "er:rl:time:w", "v"), /"kind":"fw","start":\d+,"count":2/);
    } finally {
      await c.close();
    }
  },
);

// A second server whose memory is full (maxmemory with noeviction): the script's HSET fails with OOM.
const full = await fullServer();

for (const name of CLIENT_NAMES) {
  redisTest(
    `Redis (${name}): memory full: a take that writes fails with OOM, 1,000 takes all answered (local limits)`,
    async () => {
      const c = await connect(name, full!);
      try {
        assert.match(full!.cli("SET", "one-more", "x"), /OOM/);
        const events: StoreStatusEvent[] = [];
        const store = redisStore(c.client as never);
        const op = {
          type: "rate",
          request: { cost: 1 },
          config: { algorithm: "fixed-window", limit: 5, interval: 60_000 },
        } as const;
        await assert.rejects(store.run!("rl:oom", op), /OOM/);
        // A peek writes nothing: it answers.
        assert.equal(
          (await store.run!("rl:oom", { ...op, request: { cost: 1, peek: true } }) as {
            remaining: number;
          }).remaining,
          5,
        );
        const limiter = rateLimiter({
          name: `oom-${name}`,
          limit: 5,
          interval: 60_000,
          algorithm: "fixed-window",
          store,
          storeOptions: { timeout: 300, retryInterval: 50 },
          onStoreStatus: (e) => events.push(e),
          logger: silent,
        });
        let allowed = 0;
        for (let i = 0; i < 1000; i++) {
          const r = await limiter.take("k");
          assert.equal(typeof r.allowed, "boolean");
          if (r.allowed) allowed++;
        }
        assert.equal(allowed, 5, "the local limit decided");
        assert.ok(events.some((e) => !e.available && /OOM/.test(String(e.error))), "OOM seen");
      } finally {
        await c.close();
      }
    },
  );
}

redisTest("Redis: the servers of this file stop", async () => {
  await server!.dispose();
  await full!.dispose();
});
