// Deadlines for timeouts. With the system clock, one real timer serves every
// pending deadline: deadlines of equal duration expire in the order they were
// set, so each duration has a FIFO lane, and the timer is armed for the
// earliest head (at most 250 ms ahead, then re-armed). A deadline that is
// cancelled costs no timer operation; once nothing is pending the timer fires
// once more, within 250 ms, and stops: it never keeps a finished program alive.
//
// A burst (thousands of deadlines due at once) expires in slices of SLICE:
// after each slice the rest waits for a microtask queued behind the promise
// reactions the slice caused, so callers hear of their timeouts as the burst
// goes, as they would with one timer each, not all after the last one.
//
// Cloudflare Workers tie a timer to the request that created it, so one timer
// cannot serve deadlines of several requests: there (and with an injected
// clock) every deadline gets its own timer.
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

/** The shared timer is never armed further ahead than this (ms). */
const HORIZON = 250;
/**
 * At most this many deadlines expire in a row: then the promise reactions
 * they caused (the callers' handlers) run before the next slice, as they
 * would between separate timers, instead of all after the whole burst.
 */
const SLICE = 32;

class Lane {
  items: Deadline[] = [];
  head = 0;
  constructor(readonly ms: number) {}
}

/** A pending deadline of a {@linkcode DeadlineScheduler}. */
class Deadline {
  constructor(public at: number, public fire: (() => void) | undefined, readonly lane: Lane) {}
}

/** @internal One timer for many deadlines (exported for its tests). */
export class DeadlineScheduler {
  readonly #clock: Clock;
  readonly #lanes = new Map<number, Lane>();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  /** Deadlines expired in one go before the callers' reactions run. */
  readonly #slice: number;
  readonly #tick = () => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#run();
  };
  readonly #resume = () => {
    if (this.#timerAt !== -Infinity) return; // stopped meanwhile (stopIfIdle)
    this.#timerAt = Infinity;
    this.#run();
  };

  constructor(clock: Clock, slice = SLICE) {
    this.#clock = clock;
    this.#slice = slice;
  }

  /** Calls `fire` after `ms` unless cancelled. */
  add(ms: number, fire: () => void): Deadline {
    const now = this.#clock.now();
    let lane = this.#lanes.get(ms);
    if (!lane) this.#lanes.set(ms, lane = new Lane(ms));
    const d = new Deadline(now + ms, fire, lane);
    lane.items.push(d);
    this.#arm(d.at, now);
    return d;
  }

  /** Cancels a deadline (no timer operation). */
  cancel(d: Deadline): void {
    d.fire = undefined;
    const lane = d.lane;
    const q = lane.items;
    // Deadlines usually end in the order they began: drop finished ones at the tail.
    while (q.length > lane.head && !q[q.length - 1].fire) q.pop();
    if (q.length === lane.head) {
      q.length = 0;
      lane.head = 0;
    }
  }

  /** Deadlines still pending. */
  get pending(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) {
      for (let i = lane.head; i < lane.items.length; i++) if (lane.items[i].fire) n++;
    }
    return n;
  }

  /** Whether the shared timer is armed. */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Stops the timer when nothing is pending; returns the number pending. */
  stopIfIdle(): number {
    const n = this.pending;
    if (n === 0) {
      this.#lanes.clear();
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    }
    return n;
  }

  #arm(deadline: number, now: number): void {
    // Never armed further than HORIZON ahead: once every deadline is done, the timer
    // ends within HORIZON, so it never keeps a finished program alive for long.
    const at = Math.min(deadline, now + HORIZON);
    if (at >= this.#timerAt) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(this.#tick, Math.max(0, at - now));
  }

  #run(): void {
    const now = this.#clock.now();
    let budget = this.#slice;
    let next = Infinity;
    for (const lane of this.#lanes.values()) {
      const q = lane.items;
      while (lane.head < q.length) {
        const d = q[lane.head];
        if (d.fire && d.at > now) break;
        if (d.fire && budget-- === 0) {
          // A burst: the rest of what is due fires after the callers' reactions to this slice.
          this.#timerAt = -Infinity; // (no timer meanwhile: the resume comes first)
          queueMicrotask(this.#resume);
          return;
        }
        lane.head++;
        const fire = d.fire;
        d.fire = undefined;
        fire?.();
      }
      if (lane.head >= lane.items.length) this.#lanes.delete(lane.ms);
      else {
        if (lane.head > 1024) {
          lane.items = lane.items.slice(lane.head);
          lane.head = 0;
        }
        next = Math.min(next, lane.items[lane.head].at);
      }
    }
    if (next < Infinity) this.#arm(next, now);
  }
}

let shared: DeadlineScheduler | undefined;

const perRequestTimers =
  (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ===
    "Cloudflare-Workers";

/** @internal Calls `fire` after `ms` unless cancelled; returns the handle for {@linkcode cancelDeadline}. */
export function addDeadline(clock: Clock, ms: number, fire: () => void): unknown {
  if (clock !== systemClock || perRequestTimers) return clock.setTimeout(fire, ms);
  return (shared ??= new DeadlineScheduler(systemClock)).add(ms, fire);
}

/** @internal Cancels a deadline made by {@linkcode addDeadline}. */
export function cancelDeadline(clock: Clock, handle: unknown): void {
  if (handle instanceof Deadline) shared!.cancel(handle);
  else clock.clearTimeout(handle);
}

/**
 * @internal For test harnesses: stops the shared timer when no deadline is
 * pending (it would otherwise fire once, later, doing nothing). Returns the
 * number of deadlines still pending.
 */
export function stopIdleScheduler(): number {
  return shared?.stopIfIdle() ?? 0;
}

/**
 * @internal Whether deadlines with the system clock share one timer here
 * (false on Cloudflare Workers, where each gets its own).
 */
export function sharedDeadlineTimer(): boolean {
  return !perRequestTimers;
}

/** @internal Whether the shared timer is armed now (for tests). */
export function sharedTimerArmed(): boolean {
  return shared?.armed ?? false;
}

/**
 * @internal Runs `make` (which constructs an error) without capturing a stack
 * trace, where the runtime allows it (V8, JavaScriptCore: `Error.stackTraceLimit`);
 * the error's `stack` is then its first line only. For errors made when a
 * deadline expires: their stack would show only the scheduler's frames, and
 * capturing it was most of the cost of an expiry.
 */
export function withoutStack<E extends Error>(make: () => E): E {
  const G = Error as { stackTraceLimit?: number };
  const limit = G.stackTraceLimit;
  if (typeof limit !== "number") return make();
  try {
    G.stackTraceLimit = 0;
  } catch {
    return make(); // frozen intrinsics
  }
  let e: E;
  try {
    e = make();
  } finally {
    G.stackTraceLimit = limit;
  }
  // JavaScriptCore leaves no `stack` at all: give it the first line, as V8 does.
  if (typeof e.stack !== "string") e.stack = `${e.name}: ${e.message}`;
  return e;
}
