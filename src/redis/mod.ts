/**
 * Redis adapter: an authoritative store of circuit state for Node and Bun
 * fleets (several processes, containers or hosts), on node-redis, ioredis,
 * Bun's `RedisClient` or any client behind `{ send(args, key) }`.
 *
 * @example
 * ```ts
 * import { createClient } from "redis";
 * import { circuitBreaker } from "edge-resilience";
 * import { redisStore } from "edge-resilience/redis";
 *
 * const client = await createClient({ disableOfflineQueue: true }).connect();
 * const breaker = circuitBreaker({ name: "payments", store: redisStore(client) });
 * ```
 *
 * @module
 */
import { sharedStore } from "../shared/link_store.ts";
import { applyOp, type SharedStore, type StoreOp } from "../shared/port.ts";
import type { RedisClientLike } from "./client.ts";
import { redisEngine, type RedisStoreOptions } from "./store.ts";

export type {
  BunRedisLike,
  IoRedisLike,
  NodeRedisClientLike,
  NodeRedisClusterLike,
  RedisClientLike,
  RedisSender,
} from "./client.ts";
export { RedisStoreError } from "./errors.ts";
export { REDIS_MAX_KEY_BYTES, type RedisStoreOptions } from "./store.ts";

/**
 * An authoritative {@linkcode SharedStore} on Redis: one hash per breaker
 * (`<prefix>cb:<encoded name>`, a value and a version). The rules run in
 * TypeScript on what a read script returns (value, version, the server's
 * `TIME`); a compare-and-set script writes only if the version is unchanged,
 * and a lost race is retried with jitter within 90% of the breaker's
 * `storeOptions.timeout` (contention is never an outage). Scripts run with
 * `EVALSHA`, reloaded on `NOSCRIPT`. Every script touches one key, so it
 * runs on Redis Cluster, routed by that key.
 *
 * The client is taken as it is, recognised by shape: node-redis
 * `createClient()` / `createCluster()`, ioredis `Redis` / `Cluster`, Bun's
 * `RedisClient`, or `{ send(args, key) }` for anything else. Turn the
 * client's offline queue off (node-redis `disableOfflineQueue: true`,
 * ioredis `enableOfflineQueue: false`) so that an outage fails fast.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { circuitBreaker } from "edge-resilience";
 * import { redisStore } from "edge-resilience/redis";
 *
 * const store = redisStore(new Redis({ enableOfflineQueue: false }), { prefix: "myapp:" });
 * const breaker = circuitBreaker({ name: "payments", store });
 * ```
 */
export function redisStore(client: RedisClientLike, options: RedisStoreOptions = {}): SharedStore {
  const engine = redisEngine<StoreOp>(
    "redisStore",
    client,
    options,
    applyOp,
    (op) => (op as { config?: { timeout?: number } })?.config?.timeout,
  );
  return sharedStore({ kind: "authoritative", checkKey: engine.checkKey, run: engine.run });
}
