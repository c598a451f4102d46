/**
 * Bulkhead: a limit on how many calls run at once, with an optional FIFO
 * queue for calls waiting for a slot.
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";
import { type Scope, start, type Target } from "./context.ts";
import { BulkheadRejectedError } from "./errors.ts";
import { createPolicy, type Policy } from "./policy.ts";
import { emit, flags } from "./telemetry.ts";
import { created } from "./live_policies.ts";
import { Waiter, WaitQueue } from "./wait_queue.ts";
import {
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "./validate.ts";

/** Options of {@linkcode bulkhead}. Durations are in milliseconds. */
export interface BulkheadOptions {
  /** Calls running at once. Integer >= 1. Required. */
  maxConcurrent: number;
  /** Calls waiting for a slot, first in first out. Integer >= 0. Default 0 (no queue). */
  maxQueue?: number;
  /**
   * Longest wait in the queue; a call still queued then rejects with
   * {@linkcode BulkheadRejectedError} (`reason: "queue-timeout"`). Default: no
   * limit. At most 2^31 − 1 ms (what a timer can hold).
   */
  queueTimeout?: number;
  /** Name used in errors and stats. Default `"bulkhead"`. */
  name?: string;
  /** Time source for `queueTimeout` and `lastRejectedAt` (tests pass a `FakeClock`). */
  clock?: Clock;
}

/** Counters of a bulkhead, from {@linkcode BulkheadPolicy.getStats}. JSON-safe. */
export interface BulkheadStats {
  /** The bulkhead's name. */
  name: string;
  /** Calls running now. */
  running: number;
  /** Calls waiting for a slot now. */
  queued: number;
  /** Calls refused so far (queue full or queue timeout). */
  rejected: number;
  /** When the last call was refused (`clock.now()`, ms), or `null` if none was. */
  lastRejectedAt: number | null;
  /** Calls that were started so far (whether they then succeeded or failed). */
  executed: number;
  /** The configured limit. */
  maxConcurrent: number;
  /** The configured queue length. */
  maxQueue: number;
}

/** A {@linkcode Policy} made by {@linkcode bulkhead}. */
export interface BulkheadPolicy extends Policy {
  /** The bulkhead's name. */
  readonly name: string;
  /** Running and queued calls now, and the totals so far. */
  getStats(): BulkheadStats;
}

const W = "bulkhead";
const OPTIONS = optionNames<BulkheadOptions>({
  maxConcurrent: 1,
  maxQueue: 1,
  queueTimeout: 1,
  name: 1,
  clock: 1,
});

/** The state of one bulkhead; its `run` is the policy's runner (no closure per call). */
class Compartment {
  running = 0;
  rejected = 0;
  lastRejectedAt: number | null = null;
  executed = 0;
  /** Calls waiting for a slot (FIFO). */
  readonly queue: WaitQueue;
  /** Settle handlers shared by every call: they free the call's slot. */
  readonly ok = (v: unknown) => {
    this.release();
    return v;
  };
  readonly fail = (e: unknown) => {
    this.release();
    throw e;
  };

  constructor(
    readonly name: string,
    readonly maxConcurrent: number,
    readonly maxQueue: number,
    readonly queueTimeout: number | undefined,
    readonly clock: Clock,
  ) {
    this.queue = new WaitQueue(clock, queueTimeout, (w) => w.reject(this.refuse("queue-timeout")));
  }

  run(fn: Target, thisArg: unknown, args: readonly unknown[], parent: Scope | undefined) {
    if (parent?.aborted) return Promise.reject(parent.reason);
    if (this.running < this.maxConcurrent) {
      this.running++;
      return this.launch(fn, thisArg, args, parent);
    }
    if (this.queue.size >= this.maxQueue) return Promise.reject(this.refuse("queue-full"));
    return new Promise((resolve, reject) => {
      this.queue.push(new Waiter(fn, thisArg, args, parent, resolve, reject));
    });
  }

  /** Starts a call on a slot already counted in `running`. */
  launch(fn: Target, thisArg: unknown, args: readonly unknown[], parent: Scope | undefined) {
    this.executed++;
    let work: unknown;
    try {
      work = start(parent, fn, thisArg, args);
    } catch (e) {
      this.release();
      return Promise.reject(e);
    }
    return Promise.resolve(work).then(this.ok, this.fail);
  }

  /** Frees a slot: hands it to the first waiter, if any. Called once per started call. */
  release(): void {
    const w = this.queue.head === undefined ? undefined : this.queue.shift();
    if (w === undefined) this.running--;
    else w.resolve(this.launch(w.fn, w.thisArg, w.args, w.parent));
  }

  refuse(reason: "queue-full" | "queue-timeout"): BulkheadRejectedError {
    this.rejected++;
    this.lastRejectedAt = this.clock.now();
    if (flags.on) emit({ type: "bulkhead.rejected", kind: "bulkhead", name: this.name, reason });
    return new BulkheadRejectedError(this.name, this.maxConcurrent, this.maxQueue, reason);
  }

  stats(): BulkheadStats {
    return {
      name: this.name,
      running: this.running,
      queued: this.queue.size,
      rejected: this.rejected,
      lastRejectedAt: this.lastRejectedAt,
      executed: this.executed,
      maxConcurrent: this.maxConcurrent,
      maxQueue: this.maxQueue,
    };
  }
}

/**
 * Limits how many calls run at once, so that one slow dependency cannot take
 * every connection, worker or request slot. A call that finds a free slot
 * runs at once; otherwise it waits in a FIFO queue of `maxQueue` calls, for at
 * most `queueTimeout`; a call that finds the queue full (or waits too long)
 * rejects with {@linkcode BulkheadRejectedError} without running.
 *
 * - Waiting is cancellable: the caller's signal aborting removes the call from
 *   the queue at once; it never starts later and holds no slot.
 * - A slot is freed exactly once however the call ends (value, error, sync
 *   throw), and passes straight to the first waiter.
 * - Limits are per bulkhead object, in this isolate/process: share the object
 *   to share the limit. There is no registry by name (a concurrency limit is
 *   local by nature; a name only labels errors and stats).
 * - A call that finds a free slot allocates nothing beyond the call itself;
 *   only a queued call with `queueTimeout` uses a timer (the shared deadline
 *   scheduler's).
 *
 * @example At most 10 calls to the search service at once, 20 more may wait 1 s
 * ```ts
 * import { BulkheadRejectedError, bulkhead } from "edge-resilience";
 *
 * const search = bulkhead({ name: "search", maxConcurrent: 10, maxQueue: 20, queueTimeout: 1_000 });
 * try {
 *   const hits = await search.execute(({ signal }) => fetch("https://search.example/?q=x", { signal }));
 *   console.log(hits.status);
 * } catch (e) {
 *   if (e instanceof BulkheadRejectedError) console.log(`busy (${e.reason})`);
 * }
 * console.log(search.getStats()); // { running, queued, rejected, executed, ... }
 * ```
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  checkKnownOptions(W, options, OPTIONS);
  if (options === undefined) {
    throw new TypeError(`${W}: option 'maxConcurrent' is required`);
  }
  const maxConcurrent = checkNumber(W, "maxConcurrent", options.maxConcurrent, undefined, 1, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  const maxQueue = checkNumber(W, "maxQueue", options.maxQueue, 0, 0, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  const queueTimeout = options.queueTimeout === undefined
    ? undefined
    : checkNumber(W, "queueTimeout", options.queueTimeout, undefined, 0);
  checkString(W, "name", options.name);
  checkObject(W, "clock", options.clock);
  const name = options.name ?? W;
  const c = new Compartment(
    name,
    maxConcurrent,
    maxQueue,
    queueTimeout,
    options.clock ?? systemClock,
  );
  const policy = createPolicy<BulkheadPolicy>(W, c, undefined, undefined, name);
  Object.defineProperty(policy, "getStats", { value: () => c.stats() });
  created(W, name, policy);
  return policy;
}
