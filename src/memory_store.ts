import { type Clock, systemClock } from "./clock.ts";
import {
  acquirePermit,
  applyOutcomes,
  type CircuitStore,
  type Outcome,
  type PermitAnswer,
  readStoredState,
  type SharedConfig,
  type SharedState,
  withoutMark,
} from "./store.ts";
import { circuitStore } from "./store_sync.ts";
import { checkKnownOptions, checkObject, optionNames } from "./validate.ts";

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Time source: `clock.wallNow()` is the store's time. Default: the system clock. */
  clock?: Clock;
  /**
   * Where the states are kept, by store key. Default: a new `Map`. Pass your
   * own to look at the states (tests, debugging). Whatever it holds is
   * validated when read: an unreadable value is repaired (replaced by a
   * fresh CLOSED state).
   */
  entries?: Map<string, unknown>;
}

const OPTIONS = optionNames<MemoryStoreOptions>({ clock: 1, entries: 1 });

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
  readonly #states: Map<string, unknown>;
  readonly #clock: Clock;

  /** `clock.wallNow()` is the store's time. */
  constructor(options: MemoryStoreOptions = {}) {
    checkKnownOptions("MemoryStore", options, OPTIONS);
    checkObject("MemoryStore", "clock", options.clock);
    if (options.entries !== undefined && !(options.entries instanceof Map)) {
      throw new TypeError("MemoryStore: option 'entries' must be a Map");
    }
    this.#clock = options.clock ?? systemClock;
    this.#states = options.entries ?? new Map();
    circuitStore(this);
  }

  #save(key: string, s: SharedState): void {
    this.#states.set(key, withoutMark(s));
  }

  /** Applies outcomes; returns the state. */
  sync(key: string, outcomes: readonly Outcome[], config: SharedConfig): Promise<SharedState> {
    const s = applyOutcomes(
      readStoredState(this.#states.get(key)),
      outcomes,
      config,
      this.#clock.wallNow(),
    );
    this.#save(key, s);
    return Promise.resolve(s);
  }

  /** Grants a permit when due. */
  acquire(key: string, config: SharedConfig): Promise<PermitAnswer> {
    const r = acquirePermit(readStoredState(this.#states.get(key)), config, this.#clock.wallNow());
    this.#save(key, r.state);
    return Promise.resolve(r);
  }
}
