/**
 * Shared circuit state: the store port and the circuit's reducer.
 *
 * A breaker with a `store` runs its own state machine and keeps it in step
 * with the store's copy. *Authoritative* stores (Durable Objects, Deno KV,
 * {@linkcode MemoryStore}) run the very same machine on the stored
 * snapshot, atomically, through {@linkcode applyOp}. *Advisory* stores
 * (Workers KV) only relay that a circuit is OPEN.
 *
 * This module is platform-free; the adapters live in `src/cloudflare/` and
 * `src/deno_kv/`.
 *
 * @module
 */
export { type Applied, applyOp, type SharedStore, type StoreOp } from "./shared/port.ts";
export { sharedStore } from "./shared/link_store.ts";
export { storeKey } from "./shared/keys.ts";
export {
  acquirePermit,
  applyCommand,
  applyOutcomes,
  type CircuitOp,
} from "./circuit_breaker/reducer.ts";
export type { Command } from "./circuit_breaker/machine.ts";
export {
  boundSharedState,
  initialSharedState,
  type Outcome,
  parseSharedState,
  type PermitAnswer,
  readStoredState,
  type SavedBuckets,
  type SavedWindow,
  type SharedConfig,
  type SharedRates,
  type SharedState,
  skewAllowance,
  withoutMark,
} from "./circuit_breaker/shared_data.ts";
export type { StoreOptions, StoreStatusEvent } from "./circuit_breaker/link_options.ts";
