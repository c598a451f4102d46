import { type Clock, systemClock } from "./clock.ts";
import {
  acquirePermit,
  applyOutcomes,
  type CircuitStore,
  initialSharedState,
  type Outcome,
  type PermitAnswer,
  type SharedConfig,
  type SharedState,
} from "./store.ts";
import { circuitStore } from "./store_sync.ts";
import { checkKnownOptions, checkObject, optionNames } from "./validate.ts";

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Time source: `clock.wallNow()` is the store's time. Default: the system clock. */
  clock?: Clock;
}

const OPTIONS = optionNames<MemoryStoreOptions>({ clock: 1 });

/**
 * An authoritative store in this process's memory: breakers sharing it
 * share one state, exactly as they would through a Durable Object. Useful
 * to share a circuit between several call sites, and in tests.
 *
 * @example
 * ```ts
 * import { circuitBreaker, MemoryStore } from "edge-resilience";
 *
 * const store = new MemoryStore();
 * const breaker = circuitBreaker({ name: "api", store });
 * ```
 */
export class MemoryStore implements CircuitStore {
  /** Always authoritative. */
  readonly kind = "authoritative" as const;
  readonly #states = new Map<string, SharedState>();
  readonly #clock: Clock;

  /** `clock.wallNow()` is the store's time. */
  constructor(options: MemoryStoreOptions = {}) {
    checkKnownOptions("MemoryStore", options, OPTIONS);
    checkObject("MemoryStore", "clock", options.clock);
    this.#clock = options.clock ?? systemClock;
    circuitStore(this);
  }

  /** Applies outcomes; returns the state. */
  sync(key: string, outcomes: readonly Outcome[], config: SharedConfig): Promise<SharedState> {
    const s = applyOutcomes(
      this.#states.get(key) ?? initialSharedState(),
      outcomes,
      config,
      this.#clock.wallNow(),
    );
    this.#states.set(key, s);
    return Promise.resolve(s);
  }

  /** Grants a permit when due. */
  acquire(key: string, config: SharedConfig): Promise<PermitAnswer> {
    const r = acquirePermit(
      this.#states.get(key) ?? initialSharedState(),
      config,
      this.#clock.wallNow(),
    );
    this.#states.set(key, r.state);
    return Promise.resolve(r);
  }
}
