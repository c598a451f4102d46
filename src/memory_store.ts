import { type Clock, systemClock } from "./clock.ts";
import { sharedStore } from "./shared/link_store.ts";
import { applyOp, type SharedStore, type StoreOp } from "./shared/port.ts";
import { checkKnownOptions, checkObject, optionNames } from "./validate.ts";

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Time source: `clock.wallNow()` is the store's time. Default: the system clock. */
  clock?: Clock;
  /**
   * Where the states are kept, by store key (`cb:<name>` for circuits). Default: a new `Map`. Pass your
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
export class MemoryStore implements SharedStore {
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
    sharedStore(this);
  }

  /** Runs one operation on the entry at `key` (see `applyOp`). */
  run(key: string, op: StoreOp): Promise<unknown> {
    try {
      const { value, answer, write } = applyOp(this.#states.get(key), op, this.#clock.wallNow());
      if (write) this.#states.set(key, value);
      return Promise.resolve(answer);
    } catch (e) {
      return Promise.reject(e);
    }
  }
}
