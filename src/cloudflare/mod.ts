/**
 * Cloudflare adapters: the `CircuitBreakerObject` Durable Object and its
 * authoritative store, and an advisory Workers KV store.
 *
 * @example
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { type CircuitBreakerNamespace, durableObjectStore } from "edge-resilience/cloudflare";
 * export { CircuitBreakerObject } from "edge-resilience/cloudflare";
 *
 * declare const env: { CIRCUITS: CircuitBreakerNamespace };
 * const breaker = circuitBreaker({ name: "api", store: durableObjectStore(env.CIRCUITS) });
 * ```
 *
 * @module
 */
export { CircuitBreakerObject } from "./durable_object.ts";
export {
  type CircuitBreakerNamespace,
  type CircuitBreakerObjectStub,
  durableObjectStore,
  type DurableObjectStoreOptions,
} from "./durable_object_store.ts";
export { type KvNamespaceLike, workersKvStore, type WorkersKvStoreOptions } from "./kv_store.ts";
