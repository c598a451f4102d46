/**
 * Deno KV adapter: an authoritative circuit store with atomic transitions
 * and half-open permits (compare-and-set on versionstamps).
 *
 * @example
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { denoKvStore } from "edge-resilience/deno-kv";
 *
 * const breaker = circuitBreaker({ name: "api", store: denoKvStore(await Deno.openKv()) });
 * ```
 *
 * @module
 */
export {
  type DenoKvAtomic,
  type DenoKvLike,
  denoKvStore,
  type DenoKvStoreOptions,
  type KvKey,
} from "./store.ts";
