import { DurableObject } from "cloudflare:workers";
import { applyOp, type StoreOp } from "../shared/port.ts";

const KEY = "state";

/**
 * The Durable Object that is the authority for one shared entry (one object
 * per key, through `idFromName`): a circuit today, a rate limit too. It runs
 * each operation with {@linkcode applyOp} — the very state machine every
 * breaker runs — on its stored value; a Durable Object runs one request at
 * a time, so each operation is atomic. The value lives in the object's
 * (SQLite-backed) storage and survives eviction; time is the object's own
 * `Date.now()`.
 *
 * Export it from your Worker and bind it (see README, "Durable Objects").
 *
 * @example
 * ```ts
 * // worker.ts
 * export { CircuitBreakerObject } from "edge-resilience/cloudflare/object";
 * ```
 */
export class CircuitBreakerObject extends DurableObject {
  #value: unknown;
  #loaded = false;

  /** The store's time (epoch ms): the object's own clock. Tests may override it. */
  protected now(): number {
    return Date.now();
  }

  /**
   * Runs one store operation (RPC). An unreadable stored value (e.g.
   * another version's) is repaired by the reducer and saved at once; the
   * answer of that request says so (logged by the breaker that receives it).
   */
  async run(op: StoreOp): Promise<unknown> {
    if (!this.#loaded) {
      this.#value = await this.ctx.storage.get(KEY);
      this.#loaded = true;
    }
    const { value, answer, write } = applyOp(this.#value, op, this.now());
    if (write) {
      this.#value = value;
      await this.ctx.storage.put(KEY, value);
    }
    return answer;
  }
}
