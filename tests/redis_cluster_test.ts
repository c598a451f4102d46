// Redis Cluster: three primaries (Debian's redis-server, cluster mode, on
// loopback ports) and the two cluster clients — node-redis `createCluster`
// (our key given explicitly: EVALSHA never routed by its SHA, node-redis
// #2811) and ioredis `Cluster` with `enableAutoPipelining` (ioredis #2109:
// auto-pipelining used to route EVALSHA by the SHA). Every run lands on the
// node owning its key, after SCRIPT FLUSH on every node too; rate limits
// (one key per script) count exactly there.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  rateLimiter,
  storeKey,
} from "../mod.ts";
import { redisStore } from "../src/redis/mod.ts";
import { silent } from "./_harness.ts";
import { REDIS_UNAVAILABLE, RedisServer, redisTest } from "./_redis.ts";

/** A free loopback port whose cluster bus port (+ 10000) is free too. */
async function freePort(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (await free(port) && await free(port + 10_000)) return port;
  }
}

async function startCluster(): Promise<{ nodes: RedisServer[]; ports: number[] }> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const nodes = ports.map((port) =>
    new RedisServer([
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
    ])
  );
  for (const n of nodes) await n.start();
  const r = spawnSync("redis-cli", [
    "--cluster",
    "create",
    ...ports.map((p) => `127.0.0.1:${p}`),
    "--cluster-replicas",
    "0",
    "--cluster-yes",
  ], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`redis-cli --cluster create: ${r.stdout}${r.stderr}`);
  const end = Date.now() + 20_000;
  while (!nodes.every((n) => /cluster_state:ok/.test(n.cli("CLUSTER", "INFO")))) {
    if (Date.now() > end) throw new Error("the cluster did not become ready");
    await new Promise((r) => setTimeout(r, 50));
  }
  return { nodes, ports };
}

const cluster = REDIS_UNAVAILABLE ? undefined : await startCluster();
if (cluster) {
  const { default: process } = await import("node:process");
  process.on("exit", () => cluster.nodes.forEach((n) => n.killNow()));
}

// The operations' budget (\`timeout\`): these tests are about routing, not speed. 5 s ran out once in
// CI on a loaded machine (load average 7: 300 runs, three writers per key, retried contention).
const CONFIG = {
  failureThreshold: 1_000,
  resetTimeout: 1000,
  halfOpenMaxCalls: 1,
  timeout: 30_000,
};
const fail = {
  type: "circuit",
  action: "sync",
  outcomes: [{ ok: false, generation: 0 }],
  config: CONFIG,
} as const;

interface ClusterClient {
  client: unknown;
  close(): Promise<void>;
}
const CLIENTS: Record<string, () => Promise<ClusterClient>> = {
  "node-redis createCluster": async () => {
    const { createCluster } = await import("redis");
    const client = createCluster({
      rootNodes: [{ url: `redis://127.0.0.1:${cluster!.ports[0]}` }],
    });
    client.on("error", () => {});
    await client.connect();
    return { client, close: async () => void client.destroy() };
  },
  "ioredis Cluster (enableAutoPipelining)": async () => {
    const { Cluster } = await import("ioredis");
    const client = new Cluster([{ host: "127.0.0.1", port: cluster!.ports[0] }], {
      enableAutoPipelining: true,
      lazyConnect: true,
    });
    client.on("error", () => {});
    await client.connect();
    return { client, close: async () => client.disconnect() };
  },
};

for (const [name, make] of Object.entries(CLIENTS)) {
  redisTest(
    `Redis Cluster (${name}): 300 concurrent runs over 100 keys land on their nodes, also after SCRIPT FLUSH everywhere`,
    async () => {
      const { client, close } = await make();
      try {
        const store = redisStore(client as never, { prefix: `${name.split(" ")[0]}:` });
        for (let round = 0; round < 2; round++) {
          if (round === 1) { for (const n of cluster!.nodes) n.cli("SCRIPT", "FLUSH"); }
          const answers = await Promise.all(
            Array.from(
              { length: 300 },
              (_, i) =>
                store.run!(storeKey("cb:", `k{${i % 100}}`), fail) as Promise<{ failures: number }>,
            ),
          );
          assert.equal(answers.length, 300);
        }
        // Every key holds 6 failures (3 runs per round, 2 rounds): no run lost, none misrouted.
        const counts = cluster!.nodes.map((n) => Number(n.cli("DBSIZE")));
        assert.equal(counts.reduce((a, b) => a + b, 0) >= 100, true, `keys per node: ${counts}`);
        assert.ok(counts.every((c) => c > 0), `every node holds keys: ${counts}`);
        for (const i of [0, 37, 99]) {
          const key = `${name.split(" ")[0]}:${storeKey("cb:", `k{${i}}`)}`;
          const node = cluster!.nodes.find((n) => n.cli("EXISTS", key) === "1");
          assert.ok(node, `${key} is on a node`);
          assert.match(node.cli("HGET", key, "v"), /"failures":6\b/);
        }
      } finally {
        await close();
      }
    },
  );

  redisTest(`Redis Cluster (${name}): breakers of a fleet open together`, async () => {
    clearCircuitBreakers();
    const { client, close } = await make();
    try {
      const store = redisStore(client as never);
      const bs = Array.from({ length: 3 }, (_, i) =>
        circuitBreaker({
          name: `cluster-${name}-${i}`,
          storeKey: `cluster-${name}`,
          store,
          logger: silent,
          failureThreshold: 3,
          resetTimeout: 60_000,
          storeOptions: { timeout: 5000 },
        }));
      for (const b of bs) {
        await assert.rejects(b.execute(() => Promise.reject(new Error("boom"))), /boom/);
        await b.flush();
      }
      for (const b of bs) await b.flush();
      for (const b of bs) await assert.rejects(b.execute(() => "ran"), CircuitOpenError);
    } finally {
      await close();
    }
  });
}

for (const [name, make] of Object.entries(CLIENTS)) {
  redisTest(
    `Redis Cluster (${name}): rate limits on keys of every node count exactly; peeks after SCRIPT FLUSH everywhere`,
    async () => {
      const { client, close } = await make();
      try {
        const store = redisStore(client as never, { prefix: `rl-${name.split(" ")[0]}:` });
        const limiter = rateLimiter({
          name: "cluster",
          limit: 5,
          interval: 60_000,
          algorithm: "fixed-window",
          store,
          storeOptions: { timeout: 5000 },
          logger: silent,
        });
        const round = () =>
          Promise.all(
            Array.from({ length: 240 }, (_, i) => limiter.take(`user-${i % 30}`)),
          ).then((r) => r.filter((a) => a.allowed).length);
        assert.equal(await round(), 150); // 5 of 8 for each of 30 keys
        for (const n of cluster!.nodes) n.cli("SCRIPT", "FLUSH");
        const peeks = await Promise.all(
          Array.from({ length: 30 }, (_, i) => limiter.peek(`user-${i}`)),
        );
        assert.ok(peeks.every((p) => !p.allowed && p.remaining === 0), "every key spent");
        const counts = cluster!.nodes.map((n) => Number(n.cli("DBSIZE")));
        assert.ok(counts.every((c) => c > 0), `every node holds limiter keys: ${counts}`);
      } finally {
        await close();
      }
    },
  );
}

redisTest("Redis Cluster: its nodes stop", async () => {
  for (const n of cluster!.nodes) await n.dispose();
});
