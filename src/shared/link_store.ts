// sharedStore(): checks a store's shape and links it to the breakers that use
// it (a breaker without a store never loads the link).
import { StoreLink } from "../circuit_breaker/link.ts";
import type { LinkHost } from "../circuit_breaker/link.ts";
import { LINK } from "./link_symbol.ts";
import type { SharedStore } from "./port.ts";

/**
 * Makes a store implementation usable by breakers: checks its shape and
 * links it to the breaker machinery. Returns `impl` itself. The stores of
 * this library (MemoryStore, the Durable Object, Workers KV and Deno KV
 * stores) come linked already; wrap your own.
 *
 * @example
 * ```ts
 * import { applyOp, circuitBreaker, sharedStore } from "edge-resilience";
 *
 * const entries = new Map<string, unknown>();
 * const store = sharedStore({
 *   kind: "authoritative",
 *   async run(key, op) {
 *     const { value, answer, write } = applyOp(entries.get(key), op, Date.now());
 *     if (write) entries.set(key, value);
 *     return answer;
 *   },
 * });
 * const breaker = circuitBreaker({ name: "api", store });
 * ```
 */
export function sharedStore<S extends SharedStore>(impl: S): S {
  if (
    typeof impl !== "object" || impl === null ||
    (impl.kind !== "authoritative" && impl.kind !== "advisory") ||
    (impl.kind === "authoritative" && typeof impl.run !== "function") ||
    (impl.kind === "advisory" &&
      (typeof impl.read !== "function" || typeof impl.publish !== "function"))
  ) {
    throw new TypeError(
      "sharedStore: expected { kind: 'authoritative', run } or { kind: 'advisory', read, publish }",
    );
  }
  Object.defineProperty(impl, LINK, {
    value: (host: LinkHost) => new StoreLink(host, impl),
  });
  return impl;
}
