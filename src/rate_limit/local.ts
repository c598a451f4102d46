// The local limiter's keys: one state per key in a Map kept in least recently
// used order, bounded by `maxKeys`, with no timer and nothing per idle key but
// its entry.
import type { Clock } from "../clock.ts";
import { type Logger, logRepeated } from "../logger.ts";
import {
  advance,
  isFresh,
  type LimitState,
  type RateLimitConfig,
  takePermits,
  type TakePermitsResult,
  type TakeRequest,
} from "./algorithms.ts";

/** @internal The states of a limiter's keys in this isolate. */
export class LocalLimits {
  readonly states = new Map<string, LimitState>();
  /** Keys dropped while their state was not a fresh one (their limit restarted). */
  evicted = 0;
  /** Inserts before which no sweep is tried again (a sweep that freed nothing). */
  #sweepAfter = 0;
  #inserts = 0;
  #warned = false;
  /** The key set last: already the most recently used (no need to move it). */
  #last: string | undefined = undefined;

  constructor(
    readonly name: string,
    readonly config: RateLimitConfig,
    readonly maxKeys: number,
    readonly clock: Clock,
    readonly logger: Logger | undefined,
  ) {}

  /** The limiter's time: whole ms of its clock (the algorithms are exact on integers). */
  now(): number {
    return Math.floor(this.clock.now());
  }

  /** The state of the limiter's own key (`""`: the policy's), kept out of the Map. */
  own: LimitState | undefined = undefined;

  /** Keys held now (the policy's own included). */
  get size(): number {
    return this.states.size + (this.own === undefined ? 0 : 1);
  }

  /** Applies a request to `key`'s state (see `takePermits`). */
  take(key: string, request: TakeRequest): TakePermitsResult {
    if (key === "") {
      const r = takePermits(this.own, request, this.config, this.now());
      this.own = r.state;
      return r;
    }
    const states = this.states;
    const before = states.get(key);
    const r = takePermits(before, request, this.config, this.now());
    const after = r.state;
    if (after === before) {
      // A refusal (or a peek) leaves the state as it was but still uses the key: moved to the
      // end, so a client held at its limit is not the first dropped when new keys arrive.
      if (before !== undefined && key !== this.#last) {
        states.delete(key);
        states.set(key, before);
        this.#last = key;
      }
      return r;
    }
    if (after === undefined) {
      states.delete(key);
      return r;
    }
    if (before === undefined) {
      if (states.size >= this.maxKeys) this.#evict();
    } else if (key !== this.#last) states.delete(key); // (moved to the end: most recently used)
    states.set(key, after);
    this.#last = key;
    return r;
  }

  /**
   * Makes room for a new key. First every key whose state equals a fresh one
   * is dropped (that changes nothing: its next take finds a fresh state
   * again); only when none is left, the least recently used key is dropped
   * (its limit restarts: logged once, counted in `evicted`). A sweep that
   * frees nothing is not tried again for the next `maxKeys / 8` new keys, so
   * a full map of live keys costs O(1) amortised per new key.
   */
  #evict(): void {
    const states = this.states;
    this.#inserts++;
    if (this.#inserts >= this.#sweepAfter) {
      const now = this.now();
      for (const [k, s] of states) {
        if (isFresh(advance(s, this.config, now), this.config, now)) states.delete(k);
      }
      if (states.size < this.maxKeys) return;
      this.#sweepAfter = this.#inserts + Math.max(1, this.maxKeys >> 3);
    }
    const [oldest, s] = states.entries().next().value!;
    states.delete(oldest);
    const now = this.now();
    if (isFresh(advance(s, this.config, now), this.config, now)) return;
    this.evicted++;
    if (this.#warned) return;
    this.#warned = true;
    try {
      logRepeated(
        this.logger,
        this.clock,
        "warn",
        `Rate limiter '${this.name}' holds maxKeys (${this.maxKeys}) keys in use: dropping the least recently used ones (their limits restart); see getStats().evicted`,
        { name: this.name, maxKeys: this.maxKeys },
      );
    } catch {
      // A logger that throws: the take goes on (the limiter never fails for its logger).
    }
  }
}
