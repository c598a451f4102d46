import type { CircuitStore, Outcome, PermitAnswer, SharedConfig, SharedState } from "../store.ts";
import { checkString } from "../validate.ts";
import { storeKey } from "../store.ts";
import { circuitStore } from "../store_sync.ts";

/** The RPC surface of a {@linkcode CircuitBreakerObject} stub. */
export interface CircuitBreakerObjectStub {
  /** See `CircuitBreakerObject.sync`. */
  sync(outcomes: Outcome[], config: SharedConfig): Promise<SharedState>;
  /** See `CircuitBreakerObject.acquire`. */
  acquire(config: SharedConfig): Promise<PermitAnswer>;
}

/** The Durable Object namespace binding (structural, so no Workers types are needed). */
export interface CircuitBreakerNamespace {
  /** Derives the object id for a name. */
  idFromName(name: string): unknown;
  /** A stub for an id. */
  get(id: never): CircuitBreakerObjectStub;
}

/** Options of {@linkcode durableObjectStore}. */
export interface DurableObjectStoreOptions {
  /** Prefix of the object names. Default `"cb:"`. */
  prefix?: string;
}

/**
 * An authoritative {@linkcode CircuitStore} backed by the
 * `CircuitBreakerObject` Durable Object: one object per breaker key, which
 * counts outcomes and grants half-open permits atomically for every isolate.
 *
 * Costs: no round trip per call while CLOSED (outcomes are batched in the
 * background, failures sent at once); one RPC per trial call; one per view
 * refresh (`storeOptions.refreshInterval`).
 *
 * @example
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { type CircuitBreakerNamespace, durableObjectStore } from "edge-resilience/cloudflare";
 *
 * interface Env {
 *   CIRCUITS: CircuitBreakerNamespace;
 * }
 *
 * export default {
 *   async fetch(_req: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }) {
 *     const breaker = circuitBreaker({ name: "payments", store: durableObjectStore(env.CIRCUITS) });
 *     const res = await breaker.execute(() => fetch("https://payments.example"));
 *     ctx.waitUntil(breaker.flush());
 *     return res;
 *   },
 * };
 * ```
 */
export function durableObjectStore(
  namespace: CircuitBreakerNamespace,
  options: DurableObjectStoreOptions = {},
): CircuitStore {
  const W = "durableObjectStore";
  if (
    !namespace || typeof namespace.idFromName !== "function" || typeof namespace.get !== "function"
  ) {
    throw new TypeError(`${W}: expected a Durable Object namespace binding`);
  }
  checkString(W, "prefix", options.prefix);
  const prefix = options.prefix ?? "cb:";
  // A stub per operation: Workers ties I/O objects to the request that made them.
  const stub = (key: string) => namespace.get(namespace.idFromName(storeKey(prefix, key)) as never);
  return circuitStore({
    kind: "authoritative",
    sync: (key, outcomes, config) => stub(key).sync([...outcomes], config),
    acquire: (key, config) => stub(key).acquire(config),
  });
}
