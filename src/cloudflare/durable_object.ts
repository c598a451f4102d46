import { DurableObject } from "cloudflare:workers";
import {
  acquirePermit,
  applyOutcomes,
  boundSharedState,
  type Outcome,
  type PermitAnswer,
  readStoredState,
  type SharedConfig,
  type SharedState,
  withoutMark,
} from "../store.ts";

const KEY = "circuit";

function checkConfig(c: SharedConfig): SharedConfig {
  const ok = (v: unknown, min: number) => typeof v === "number" && Number.isFinite(v) && v >= min;
  if (
    !c || !ok(c.failureThreshold, 1) || !ok(c.resetTimeout, 0) || !ok(c.halfOpenMaxCalls, 1) ||
    !ok(c.permitTtl, 0)
  ) {
    throw new TypeError("CircuitBreakerObject: malformed breaker config");
  }
  return c;
}

/**
 * The Durable Object that is the authority for one breaker (one object per
 * breaker key, through `idFromName`). It counts outcomes, performs the
 * transitions and grants half-open trial permits; a Durable Object runs one
 * request at a time, so each decision is atomic. The state lives in the
 * object's (SQLite-backed) storage and survives eviction; time is the
 * object's own `Date.now()`.
 *
 * Export it from your Worker and bind it (see README, "Durable Objects").
 *
 * @example
 * ```ts
 * // worker.ts
 * export { CircuitBreakerObject } from "edge-resilience/cloudflare";
 * ```
 */
export class CircuitBreakerObject extends DurableObject {
  #state: SharedState | undefined;

  /**
   * The state, loaded once. An unreadable stored value (e.g. another
   * version's) is repaired: replaced by a fresh CLOSED state, saved at
   * once; the answer of that request carries `repaired` (logged by the
   * breaker that receives it).
   */
  async #load(): Promise<SharedState> {
    if (!this.#state) {
      const s = readStoredState(await this.ctx.storage.get(KEY));
      if (s.repaired !== undefined) await this.ctx.storage.put(KEY, withoutMark(s));
      this.#state = s;
    }
    return this.#state;
  }

  async #save(s: SharedState): Promise<void> {
    this.#state = withoutMark(s);
    await this.ctx.storage.put(KEY, this.#state);
  }

  /** Applies outcomes in order; returns the state. (RPC) */
  async sync(outcomes: Outcome[], config: SharedConfig): Promise<SharedState> {
    checkConfig(config);
    const before = await this.#load();
    if (!Array.isArray(outcomes) || outcomes.length === 0) {
      // A read. A time too far in the future is brought back (and saved, so that the bound
      // counts from now, not from every read); the repair mark goes out once.
      const bounded = boundSharedState(before, config, Date.now());
      if (
        bounded.openedAt !== before.openedAt ||
        bounded.permits.some((t, i) => t !== before.permits[i])
      ) {
        await this.#save(bounded);
      } else this.#state = withoutMark(before);
      return bounded;
    }
    const valid = outcomes.filter((o) =>
      o && typeof o.ok === "boolean" && Number.isSafeInteger(o.generation)
    );
    const after = applyOutcomes(before, valid, config, Date.now());
    await this.#save(after);
    return after;
  }

  /** Grants a trial permit when due. (RPC) */
  async acquire(config: SharedConfig): Promise<PermitAnswer> {
    checkConfig(config);
    const r = acquirePermit(await this.#load(), config, Date.now());
    await this.#save(r.state);
    return r;
  }

  /** The current state, read-only. (RPC) */
  async read(): Promise<SharedState> {
    return withoutMark(await this.#load());
  }
}
