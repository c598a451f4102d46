/**
 * Cloudflare stores: the authoritative Durable Object store, the advisory
 * Workers KV store, and the Rate Limiting binding as a rate limiter's store
 * (`cloudflareRateLimitStore`). This entry loads in every runtime (it does not import
 * `cloudflare:workers`); the `CircuitBreakerObject` class itself, which does,
 * is in `edge-resilience/cloudflare/object`.
 *
 * @example
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { type CircuitBreakerNamespace, durableObjectStore } from "edge-resilience/cloudflare";
 * export { CircuitBreakerObject } from "edge-resilience/cloudflare/object";
 *
 * declare const env: { CIRCUITS: CircuitBreakerNamespace };
 * const breaker = circuitBreaker({ name: "api", store: durableObjectStore(env.CIRCUITS) });
 * ```
 *
 * @module
 */
export {
  type CircuitBreakerNamespace,
  type CircuitBreakerObjectStub,
  durableObjectStore,
  type DurableObjectStoreOptions,
} from "./durable_object_store.ts";
export { type KvNamespaceLike, workersKvStore, type WorkersKvStoreOptions } from "./kv_store.ts";
export {
  cloudflareRateLimitStore,
  type CloudflareRateLimitStoreOptions,
  type RateLimitBindingLike,
} from "./rate_limit_store.ts";
