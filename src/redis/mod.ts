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
import { type CircuitStore, type PermitAnswer, type SharedState, storeKey } from "../store.ts";
import { circuitStore } from "../store_sync.ts";
import type { RedisClientLike } from "./client.ts";
import { applyCircuitOp, type CircuitOp } from "./circuit.ts";
import { REDIS_MAX_KEY_BYTES, redisEngine, type RedisStoreOptions } from "./store.ts";

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
 * An authoritative {@linkcode CircuitStore} on Redis: one hash per breaker
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
export function redisStore(client: RedisClientLike, options: RedisStoreOptions = {}): CircuitStore {
  const engine = redisEngine<CircuitOp>(
    "redisStore",
    client,
    options,
    applyCircuitOp,
    (op) => op.config?.timeout,
  );
  const keyOf = (name: string) => storeKey("cb:", name, REDIS_MAX_KEY_BYTES);
  return circuitStore({
    kind: "authoritative",
    checkKey(name) {
      engine.checkKey(keyOf(name));
    },
    sync: (name, outcomes, config) =>
      engine.run(keyOf(name), { type: "sync", outcomes, config }) as Promise<SharedState>,
    acquire: (name, config) =>
      engine.run(keyOf(name), { type: "acquire", config }) as Promise<PermitAnswer>,
  });
}
