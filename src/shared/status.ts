// The event every store link (breakers, rate limiters) emits about its store.

/** Emitted when a store becomes unavailable (once per outage) or recovers. */
export interface StoreStatusEvent {
  /** The name of the breaker or limiter whose store it is. */
  readonly name: string;
  /** Whether the store is usable again. */
  readonly available: boolean;
  /** What failed (when it became unavailable). */
  readonly error?: unknown;
}
