import { prefixedKey } from "../shared/keys.ts";
import { sharedStore } from "../shared/link_store.ts";
import type { SharedStore, StoreOp } from "../shared/port.ts";
import { checkKnownOptions, checkString, optionNames } from "../validate.ts";

/** The RPC surface of a {@linkcode CircuitBreakerObject} stub. */
export interface CircuitBreakerObjectStub {
  /** See `CircuitBreakerObject.run`. */
  run(op: StoreOp): Promise<unknown>;
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
  /** Prefix of the object names, before the key (`cb:<name>`). Default `"er:"`. */
  prefix?: string;
}

const OPTIONS = optionNames<DurableObjectStoreOptions>({ prefix: 1 });

/**
 * This store's own bound on object names (bytes, prefix included).
 * Cloudflare documents no limit on `idFromName` names (workerd accepts
 * megabytes); names stay short enough to log and to show in `/health`.
 */
const MAX_NAME_BYTES = 512;

/**
 * An authoritative {@linkcode SharedStore} backed by the
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
): SharedStore {
  const W = "durableObjectStore";
  if (
    !namespace || typeof namespace.idFromName !== "function" || typeof namespace.get !== "function"
  ) {
    throw new TypeError(`${W}: expected a Durable Object namespace binding`);
  }
  checkKnownOptions(W, options, OPTIONS);
  checkString(W, "prefix", options.prefix);
  const prefix = options.prefix ?? "er:";
  if (new TextEncoder().encode(prefix).length >= MAX_NAME_BYTES) {
    throw new RangeError(`${W}: option 'prefix' must be shorter than ${MAX_NAME_BYTES} bytes`);
  }
  // A stub per operation: Workers ties I/O objects to the request that made them.
  const stub = (key: string) =>
    namespace.get(namespace.idFromName(prefixedKey(prefix, key, MAX_NAME_BYTES)) as never);
  return sharedStore({
    kind: "authoritative",
    checkKey(key) {
      prefixedKey(prefix, key, MAX_NAME_BYTES);
    },
    run: (key, op) => stub(key).run(op),
  });
}
