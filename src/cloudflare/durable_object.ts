import { DurableObject } from "cloudflare:workers";
import {
  acquirePermit,
  applyOutcomes,
  initialSharedState,
  type Outcome,
  parseSharedState,
  type PermitAnswer,
  type SharedConfig,
  type SharedState,
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

  async #load(): Promise<SharedState> {
    if (!this.#state) {
      const raw = await this.ctx.storage.get(KEY);
      let s = initialSharedState();
      if (raw !== undefined) {
        try {
          s = parseSharedState(raw);
        } catch {
          // Unreadable state (e.g. another version's): start CLOSED.
        }
      }
      this.#state = s;
    }
    return this.#state;
  }

  async #save(s: SharedState): Promise<void> {
    this.#state = s;
    await this.ctx.storage.put(KEY, s);
  }

  /** Applies outcomes in order; returns the state. (RPC) */
  async sync(outcomes: Outcome[], config: SharedConfig): Promise<SharedState> {
    checkConfig(config);
    const before = await this.#load();
    if (!Array.isArray(outcomes) || outcomes.length === 0) return before;
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
    return await this.#load();
  }
}
