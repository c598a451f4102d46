/**
 * Redis adapter: an authoritative store of circuit state and rate limits
 * for Node and Bun fleets (several processes, containers or hosts), on node-redis, ioredis,
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
import type { RateLimitOp } from "../rate_limit/reducer.ts";
import type { RedisClientLike } from "./client.ts";
import { runRate } from "./rate.ts";
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
 * An authoritative {@linkcode SharedStore} on Redis, for circuit breakers
 * and rate limiters: one hash per breaker or limiter key
 * (`<prefix>cb:<encoded name>`, `<prefix>rl:<encoded name>[:<encoded key>]`;
 * a value and a version).
 *
 * - Breakers: the rules run in TypeScript on what a read script returns
 *   (value, version, the server's `TIME`); a compare-and-set script writes
 *   only if the version is unchanged, and a lost race is retried with jitter
 *   within 90% of the breaker's `storeOptions.timeout` (contention is never
 *   an outage). Two round trips per write; breaker writes are batched and
 *   rare (none per call while CLOSED).
 * - Rate limits: ONE round trip per take. The algorithms (token bucket,
 *   sliding and fixed window; takes, peeks, resets, reservations, refunds,
 *   leases) run as one Lua script at the server's `TIME`, a port of
 *   `takePermits` / `rateLimitReducer` held to them by a differential test.
 *
 * Scripts run with `EVALSHA`, reloaded on `NOSCRIPT` (`EVAL`, once). Every
 * script touches one key, so it runs on Redis Cluster, routed by that key.
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
 *
 * @example A rate limit shared by every process
 * ```ts
 * import { createClient } from "redis";
 * import { rateLimiter } from "edge-resilience";
 * import { redisStore } from "edge-resilience/redis";
 *
 * const client = await createClient({ disableOfflineQueue: true }).connect();
 * const limiter = rateLimiter({ name: "api", limit: 100, interval: 60_000, store: redisStore(client) });
 * const { allowed } = await limiter.take("client-42"); // one EVALSHA
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
  return sharedStore({
    kind: "authoritative",
    checkKey: engine.checkKey,
    // A rate limit: one script, one round trip. A circuit: read, rules in TypeScript, compare-and-set.
    run: (key, op) =>
      (op as { type?: unknown } | null)?.type === "rate"
        ? runRate(engine, key, op as RateLimitOp)
        : engine.run(key, op),
  });
}
