// Redis rate limits and time (a real redis-server): a state stored an hour
// ahead is bounded and saved by the script (the key admits again within
// interval + skew, whichever request comes first); the expiry written is at
// least the state's life, whatever `expireIn` says (a limit with an interval
// longer than `expireIn` is not reset by the key expiring, also after
// denials, which write nothing); repairs are logged once.
import assert from "node:assert/strict";
import { type RateLimitAlgorithm, rateLimiter } from "../mod.ts";
import { redisStore } from "../src/redis/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent } from "./_harness.ts";
import { connect, fileServer, redisTest } from "./_redis.ts";

const server = await fileServer();
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;
type Send = { sendCommand(args: string[]): Promise<unknown> };
let n = 0;

for (
  const algorithm of ["token-bucket", "fixed-window", "sliding-window"] as RateLimitAlgorithm[]
) {
  redisTest(
    `Redis (${algorithm}): a state stored 1 h ahead is bounded, saved by a denial, and admits within interval + skew`,
    async () => {
      const c = await connect("node-redis", server!);
      const client = c.client as Send;
      try {
        const interval = 1000;
        const clock = new FakeClock(0, T0);
        const name = `future-${++n}`;
        const start = Math.floor(T0 / interval) * interval + HOUR;
        const v = algorithm === "token-bucket"
          ? { kind: "tb", at: T0 + HOUR, level: 0 }
          : algorithm === "fixed-window"
          ? { kind: "fw", start, count: 5 }
          : { kind: "sw", start, count: 5, previous: 5 };
        const key = `er:rl:${name}:k`;
        await client.sendCommand(["HSET", key, "v", JSON.stringify(v), "n", "1"]);
        const store = redisStore(client as never, { clock });
        const limiter = rateLimiter({
          name,
          limit: 5,
          interval,
          algorithm,
          store,
          clock,
          logger: silent,
        });
        const first = await limiter.take("k");
        const raw = await client.sendCommand(["HGET", key, "v"]) as string | null;
        if (raw !== null) {
          const s = JSON.parse(raw) as { at?: number; start?: number };
          assert.ok((s.at ?? s.start!) <= T0 + 2 * interval + 5000, `stored ${raw}`);
        }
        let admitted = first.allowed;
        for (let i = 0; i < 40 && !admitted; i++) {
          clock.tick(100);
          admitted = (await limiter.take("k")).allowed;
        }
        assert.ok(admitted, `still blocked ${clock.now()} ms later`);
      } finally {
        await c.close();
      }
    },
  );
}

redisTest(
  "Redis: expireIn shorter than the interval never resets a limit (the expiry covers the state's life, denials included)",
  async () => {
    const c = await connect("node-redis", server!);
    const client = c.client as Send;
    try {
      for (const algorithm of ["token-bucket", "fixed-window", "sliding-window"] as const) {
        for (const interval of [60_000, 365 * 86_400_000]) {
          const name = `expiry-${++n}`;
          const store = redisStore(client as never, { expireIn: 1000 });
          const limiter = rateLimiter({
            name,
            limit: 5,
            interval,
            algorithm,
            store,
            logger: silent,
          });
          for (let i = 0; i < 5; i++) assert.equal((await limiter.take("k")).allowed, true);
          const denied = await limiter.take("k");
          assert.equal(denied.allowed, false);
          const ttl = Number(await client.sendCommand(["PTTL", `er:rl:${name}:k`]));
          // At least until the state is fresh again (the denial's resetAfter: the window, and for
          // a sliding window the next one; a bucket's refill), far beyond expireIn's 1 s.
          assert.ok(ttl >= denied.resetAfter, `${algorithm} ${interval}: PTTL ${ttl}`);
          assert.ok(denied.resetAfter > 1000, String(denied.resetAfter));
        }
      }
    } finally {
      await c.close();
    }
  },
);

redisTest(
  "Redis: unreadable entries are logged once (then aggregated), however many keys and takes",
  async () => {
    const c = await connect("node-redis", server!);
    const client = c.client as Send;
    try {
      const logger = recordingLogger();
      const clock = new FakeClock(0, T0);
      const name = `repair-${++n}`;
      const limiter = rateLimiter({
        name,
        limit: 5,
        interval: 60_000,
        store: redisStore(client as never, { clock }),
        clock,
        logger,
      });
      for (let i = 0; i < 50; i++) {
        await client.sendCommand(["SET", `er:rl:${name}:k${i % 5}`, "garbage"]);
        await limiter.take(`k${i % 5}`);
      }
      assert.equal(
        logger.lines.filter((m) => m.includes("unreadable")).length,
        1,
        logger.lines.join("\n"),
      );
    } finally {
      await c.close();
    }
  },
);

redisTest("Redis: the server of this file stops", () => server!.dispose());
