// Deadlines for timeouts. With the system clock, one real timer serves every
// pending deadline: deadlines of equal duration expire in the order they were
// set, so each duration has a FIFO lane, and the timer is armed for the
// earliest head. A deadline that is cancelled costs no timer operation; the
// timer is left to fire (once) when nothing is due, and then stops.
//
// Cloudflare Workers tie a timer to the request that created it, so one timer
// cannot serve deadlines of several requests: there (and with an injected
// clock) every deadline gets its own timer.
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

class Lane {
  items: Deadline[] = [];
  head = 0;
  constructor(readonly ms: number) {}
}

/** A pending deadline of the shared scheduler. */
class Deadline {
  constructor(public at: number, public fire: (() => void) | undefined, readonly lane: Lane) {}
}

const lanes = new Map<number, Lane>();
let timer: TimerHandle | undefined;
let timerAt = Infinity;

const perRequestTimers =
  (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ===
    "Cloudflare-Workers";

function arm(at: number, now: number): void {
  if (at >= timerAt) return;
  if (timer !== undefined) systemClock.clearTimeout(timer);
  timerAt = at;
  timer = systemClock.setTimeout(tick, Math.max(0, at - now));
}

function tick(): void {
  timer = undefined;
  timerAt = Infinity;
  const now = systemClock.now();
  let next = Infinity;
  for (const lane of lanes.values()) {
    const q = lane.items;
    while (lane.head < q.length) {
      const d = q[lane.head];
      if (d.fire && d.at > now) break;
      lane.head++;
      const fire = d.fire;
      d.fire = undefined;
      fire?.();
    }
    if (lane.head >= q.length) lanes.delete(lane.ms);
    else {
      if (lane.head > 1024) {
        lane.items = q.slice(lane.head);
        lane.head = 0;
      }
      next = Math.min(next, lane.items[lane.head].at);
    }
  }
  if (next < Infinity) arm(next, now);
}

/** @internal Calls `fire` after `ms` unless cancelled; returns the handle for {@linkcode cancelDeadline}. */
export function addDeadline(clock: Clock, ms: number, fire: () => void): unknown {
  if (clock !== systemClock || perRequestTimers) return clock.setTimeout(fire, ms);
  const now = clock.now();
  let lane = lanes.get(ms);
  if (!lane) lanes.set(ms, lane = new Lane(ms));
  const d = new Deadline(now + ms, fire, lane);
  lane.items.push(d);
  arm(d.at, now);
  return d;
}

/** @internal Cancels a deadline made by {@linkcode addDeadline}. */
export function cancelDeadline(clock: Clock, handle: unknown): void {
  if (!(handle instanceof Deadline)) {
    clock.clearTimeout(handle);
    return;
  }
  handle.fire = undefined;
  const lane = handle.lane;
  const q = lane.items;
  // Deadlines usually end in the order they began: drop finished ones at the tail.
  while (q.length > lane.head && !q[q.length - 1].fire) q.pop();
  if (q.length === lane.head) {
    q.length = 0;
    lane.head = 0;
  }
}

/**
 * @internal For test harnesses: stops the shared timer when no deadline is
 * pending (it would otherwise fire once, later, doing nothing). Returns the
 * number of deadlines still pending.
 */
export function stopIdleScheduler(): number {
  let pending = 0;
  for (const lane of lanes.values()) {
    for (let i = lane.head; i < lane.items.length; i++) if (lane.items[i].fire) pending++;
  }
  if (pending === 0) {
    lanes.clear();
    if (timer !== undefined) systemClock.clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
  }
  return pending;
}

/**
 * @internal Whether deadlines with the system clock share one timer here
 * (false on Cloudflare Workers, where each gets its own).
 */
export function sharedDeadlineTimer(): boolean {
  return !perRequestTimers;
}
