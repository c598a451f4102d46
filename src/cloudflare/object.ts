/**
 * The `CircuitBreakerObject` Durable Object class, alone in its own entry:
 * it extends `DurableObject` from `cloudflare:workers`, a module only workerd
 * provides, so only the Worker's main module should import this entry. The
 * stores (`durableObjectStore`, `workersKvStore`) are in
 * `edge-resilience/cloudflare`, which loads in every runtime (Node and Bun
 * unit tests included).
 *
 * @example The Worker's main module exports the class (wrangler.toml binds it)
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
export { CircuitBreakerObject } from "./durable_object.ts";
