// Breakers on Redis under faults, with node-redis and ioredis, against a real
// redis-server: stopped mid-run and restarted (script cache empty →
// NOSCRIPT → reload), paused (CLIENT PAUSE, SIGSTOP: the store timeout bounds
// every call), memory full (maxmemory with noeviction: writes fail with OOM).
// Every one of ≥ 1,000 calls ends with the user's own result or error.
import assert from "node:assert/strict";
import type { Outcome, SharedConfig, SharedState, SharedStore } from "../mod.ts";
import { storeKey } from "../src/shared/keys.ts";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  type StoreStatusEvent,
} from "../mod.ts";
import { redisStore } from "../src/redis/mod.ts";
import { test as nodeTest } from "node:test";
import { silent } from "./_harness.ts";
import {
  CLIENT_NAMES,
  connect,
  fileServer,
  fullServer,
  REDIS_UNAVAILABLE,
  redisTest,
} from "./_redis.ts";

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

const server = await fileServer();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
for (const name of CLIENT_NAMES) {
  redisTest(
    `Redis (${name}): server stopped mid-run and restarted: 1,000 calls all complete, the breaker returns to the shared state`,
    async () => {
      clearCircuitBreakers();
      const c = await connect(name, server!);
      try {
        const events: StoreStatusEvent[] = [];
        const store = redisStore(c.client as never);
        const make = (i: number) =>
          circuitBreaker({
            name: `restart-${name}-${i}`,
            storeKey: `restart-${name}`,
            store,
            logger: silent,
            failureThreshold: 5,
            resetTimeout: 60_000,
            storeOptions: { timeout: 300, retryInterval: 50, refreshInterval: 50 },
            onStoreStatus: (e) => events.push(e),
          });
        const a = make(1);
        let results = 0;
        for (let i = 0; i < 1000; i++) {
          if (i === 300) await server!.stop();
          if (i === 600) await server!.start();
          assert.equal(await a.execute(() => i), i);
          results++;
          if (i % 50 === 0) await a.flush();
        }
        assert.equal(results, 1000);
        assert.ok(events.some((e) => !e.available), "the outage was seen");
        // Back to the shared state by itself: failures reach Redis and open the circuit for another instance.
        // (The link probes on calls, every retryInterval: keep calling while the client reconnects.)
        const end = Date.now() + 10_000;
        while (events.at(-1)?.available !== true) {
          assert.ok(Date.now() < end, "the store recovered within 10 s");
          assert.equal(await a.execute(() => "ok"), "ok");
          await sleep(20);
        }
        for (let i = 0; i < 5; i++) {
          await assert.rejects(a.execute(() => Promise.reject(new Error("down"))), /down/);
        }
        await a.flush();
        const b = make(2);
        await b.flush();
        await assert.rejects(b.execute(() => "ran"), CircuitOpenError);
        assert.match(server!.cli("HGET", `er:cb:restart-${name}`, "v"), /"state":"open"/);
      } finally {
        await c.close();
      }
    },
  );

  for (const how of ["CLIENT PAUSE", "SIGSTOP"] as const) {
    const pause = () => {
      if (how === "SIGSTOP") server!.signal("SIGSTOP");
      else server!.cli("CLIENT", "PAUSE", "1000", "ALL");
    };
    const resume = () => {
      if (how === "SIGSTOP") server!.signal("SIGCONT");
      else server!.cli("CLIENT", "UNPAUSE");
    };
    redisTest(
      `Redis (${name}): server paused (${how}): 1,000 concurrent calls of a new breaker end within the store timeout`,
      async () => {
        clearCircuitBreakers();
        const c = await connect(name, server!);
        try {
          const b = circuitBreaker({
            name: `pause-new-${name}-${how}`,
            store: redisStore(c.client as never),
            logger: silent,
            failureThreshold: 3,
            storeOptions: { timeout: 200, retryInterval: 10_000 },
          });
          pause();
          const started = Date.now();
          let own = 0;
          const ends = await Promise.all(
            Array.from(
              { length: 1000 },
              (_, i) =>
                b.execute(() => (i % 10 === 0 ? Promise.reject(new Error(`own ${i}`)) : i)).then(
                  (v) => {
                    assert.equal(v, i);
                    own++;
                    return Date.now() - started;
                  },
                  (e) => {
                    if (!(e instanceof CircuitOpenError)) {
                      assert.equal((e as Error).message, `own ${i}`);
                      own++;
                    }
                    return Date.now() - started;
                  },
                ),
            ),
          );
          const slowest = Math.max(...ends);
          assert.ok(slowest < 200 + 300, `slowest call ended after ${slowest} ms`);
          assert.ok(own >= 3, "the calls ran (local state) until the local breaker opened");
        } finally {
          resume();
          await c.close();
        }
      },
    );

    redisTest(
      `Redis (${name}): server paused (${how}) while HALF_OPEN: one call waits the store timeout, the next ones none`,
      async () => {
        clearCircuitBreakers();
        const c = await connect(name, server!);
        try {
          const b = circuitBreaker({
            name: `pause-half-${name}-${how}`,
            store: redisStore(c.client as never),
            logger: silent,
            failureThreshold: 1,
            resetTimeout: 100,
            storeOptions: { timeout: 200, retryInterval: 10_000 },
          });
          await assert.rejects(b.execute(() => Promise.reject(new Error("x"))), /x/);
          await b.flush();
          await sleep(120); // past the reset timeout: admission asks the store for a permit
          pause();
          const started = Date.now();
          let ran = 0;
          for (let i = 0; i < 50; i++) {
            await b.execute(() => ++ran).catch((e) => assert.ok(e instanceof CircuitOpenError));
          }
          const took = Date.now() - started;
          assert.ok(took < 200 + 300, `50 calls took ${took} ms`);
          assert.ok(ran >= 1, "the local breaker let a trial through");
        } finally {
          resume();
          await c.close();
        }
      },
    );
  }
}

// Concurrent half-open admissions queue their permit requests one behind the other; once the
// store has failed, the queued ones make no request of their own: one timeout in all.
nodeTest(
  "Redis: server paused while HALF_OPEN: 1,000 concurrent calls end within the store timeout",
  { skip: REDIS_UNAVAILABLE ? `redis-server unavailable: ${REDIS_UNAVAILABLE}` : undefined },
  async () => {
    const c = await connect("node-redis", server!);
    try {
      const b = circuitBreaker({
        name: "pause-half-concurrent",
        store: redisStore(c.client as never),
        logger: silent,
        failureThreshold: 1,
        resetTimeout: 100,
        storeOptions: { timeout: 200, retryInterval: 10_000 },
      });
      await assert.rejects(b.execute(() => Promise.reject(new Error("x"))), /x/);
      await b.flush();
      await sleep(120);
      server!.cli("CLIENT", "PAUSE", "3000", "ALL");
      const started = Date.now();
      const ends = await Promise.all(Array.from({ length: 1000 }, () =>
        b.execute(() => 1).then(
          () => Date.now() - started,
          () => Date.now() - started,
        )));
      const slowest = Math.max(...ends);
      assert.ok(slowest < 200 + 300, `slowest call ended after ${slowest} ms`);
    } finally {
      server!.cli("CLIENT", "UNPAUSE");
      await c.close();
    }
  },
);

// A second server whose memory is full.
const full = await fullServer();

for (const name of CLIENT_NAMES) {
  redisTest(
    `Redis (${name}): memory full (noeviction): writes fail with OOM, reads work, 1,000 calls complete`,
    async () => {
      clearCircuitBreakers();
      const c = await connect(name, full!);
      try {
        assert.match(full!.cli("SET", "one-more", "x"), /OOM/);
        const events: StoreStatusEvent[] = [];
        const store = redisStore(c.client as never);
        // The store itself: a write rejects with the server's OOM error; a read answers.
        const cfg = {
          failureThreshold: 3,
          resetTimeout: 1000,
          halfOpenMaxCalls: 1,
          permitTtl: 1000,
        };
        await assert.rejects(syncOp(store, "oom", [{ ok: false, generation: 0 }], cfg), /OOM/);
        assert.equal((await syncOp(store, "oom", [], cfg))?.state, "closed");
        const b = circuitBreaker({
          name: `oom-${name}`,
          store,
          logger: silent,
          failureThreshold: 3,
          storeOptions: { timeout: 300, retryInterval: 50 },
          onStoreStatus: (e) => events.push(e),
        });
        let own = 0;
        for (let i = 0; i < 1000; i++) {
          const fail = i % 7 === 0;
          await b.execute(() => (fail ? Promise.reject(new Error(`own ${i}`)) : i)).then(
            (v) => {
              assert.equal(v, i);
              own++;
            },
            (e) => {
              if (e instanceof CircuitOpenError) return;
              assert.equal((e as Error).message, `own ${i}`);
              own++;
            },
          );
          if (i % 100 === 0) await b.flush();
        }
        assert.ok(own > 0);
        assert.ok(
          events.some((e) => !e.available && /OOM/.test(String(e.error))),
          "the OOM made the store unavailable",
        );
        await b.flush();
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
