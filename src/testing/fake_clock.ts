import type { Clock, TimerHandle } from "../clock.ts";

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** Lets pending promise reactions run (one macrotask turn). */
function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A manual {@linkcode Clock}: time moves only when told to, and timers fire
 * in order as it passes. Pass it as the `clock` option of any pattern.
 *
 * @example Testing a backoff schedule without sleeping
 * ```ts
 * import { retry } from "edge-resilience";
 * import { FakeClock } from "edge-resilience/testing";
 *
 * const clock = new FakeClock();
 * let calls = 0;
 * const p = retry({ clock, jitter: false, initialDelay: 1_000 }).execute(() => {
 *   if (++calls < 3) throw new Error("flaky");
 *   return "ok";
 * });
 * await clock.tickAsync(3_000); // 1 s + 2 s of backoff, instantly
 * console.log(await p, calls); // "ok" 3
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #wall: number;
  #timers: FakeTimer[] = [];
  #nextId = 1;

  /** Starts at monotonic time `start` and wall time `wallStart` (epoch ms). */
  constructor(start: number = 0, wallStart: number = Date.UTC(2026, 0, 1)) {
    this.#now = start;
    this.#wall = wallStart - start;
  }

  /** Current fake monotonic time. */
  now(): number {
    return this.#now;
  }

  /** Current fake wall time (epoch ms), moving with {@linkcode now}. */
  wallNow(): number {
    return this.#wall + this.#now;
  }

  /** Schedules `fn` at `now() + ms`. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(t);
    return t.id;
  }

  /** Cancels a pending timer. */
  clearTimeout(handle: TimerHandle): void {
    const i = this.#timers.findIndex((t) => t.id === handle);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Number of timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing due timers synchronously, in order. */
  tick(ms: number): void {
    const target = this.#now + ms;
    for (let t = this.#next(target); t; t = this.#next(target)) {
      this.#now = t.at;
      t.fn();
    }
    this.#now = target;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting
   * promise reactions run before and after each one, so async code awaiting
   * those timers proceeds as it would in real time.
   */
  async tickAsync(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (let t = this.#next(target); t; t = this.#next(target)) {
      this.#now = t.at;
      t.fn();
      await flush();
    }
    this.#now = target;
    await flush();
  }

  /** Fires every pending timer (and ones they schedule), advancing time. */
  async runAllAsync(limit = 10_000): Promise<void> {
    await flush();
    for (let i = 0; this.#timers.length > 0; i++) {
      if (i >= limit) throw new Error(`FakeClock: more than ${limit} timers fired`);
      const t = this.#next(Infinity)!;
      this.#now = Math.max(this.#now, t.at);
      t.fn();
      await flush();
    }
  }

  #next(until: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (t.at <= until && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) {
        best = t;
      }
    }
    if (best) this.#timers.splice(this.#timers.indexOf(best), 1);
    return best;
  }
}
