// The FIFO queue of calls waiting for a slot, shared by `bulkhead` and
// `adaptiveConcurrency`: a doubly linked list (O(1) removal from anywhere),
// one deadline per waiter on the shared scheduler, and a waiter leaves at
// once when its caller aborts.
import type { Clock } from "./clock.ts";
import type { Scope, Target } from "./context.ts";
import { addDeadline, cancelDeadline } from "./scheduler.ts";

/** @internal A call waiting for a slot. */
export class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  deadline: unknown = undefined;
  offAbort: (() => void) | undefined = undefined;
  constructor(
    readonly fn: Target,
    readonly thisArg: unknown,
    readonly args: readonly unknown[],
    readonly parent: Scope | undefined,
    readonly resolve: (v: unknown) => void,
    readonly reject: (e: unknown) => void,
  ) {}
}

/** @internal The queue; `onTimeout` is told of a waiter that waited `timeout` ms (already removed). */
export class WaitQueue {
  size = 0;
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;

  constructor(
    readonly clock: Clock,
    readonly timeout: number | undefined,
    readonly onTimeout: (w: Waiter) => void,
  ) {}

  push(w: Waiter): void {
    this.size++;
    if (this.tail) {
      this.tail.next = w;
      w.prev = this.tail;
    } else this.head = w;
    this.tail = w;
    if (this.timeout !== undefined) {
      w.deadline = addDeadline(this.clock, this.timeout, () => {
        w.deadline = undefined;
        if (this.unlink(w)) this.onTimeout(w);
      });
    }
    if (w.parent?.live) {
      w.offAbort = w.parent.onAbort((reason) => {
        if (this.unlink(w)) w.reject(reason);
      });
    }
  }

  /** Removes and returns the first waiter whose caller has not aborted (those are rejected). */
  shift(): Waiter | undefined {
    for (let w = this.head; w; w = this.head) {
      this.unlink(w);
      if (!w.parent?.aborted) return w;
      w.reject(w.parent.reason); // its abort listener would run later in this task
    }
    return undefined;
  }

  /** Removes a waiter; false when it had already left. */
  unlink(w: Waiter): boolean {
    if (w.prev === undefined && this.head !== w) return false;
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = w.next = undefined;
    this.size--;
    if (w.deadline !== undefined) {
      cancelDeadline(this.clock, w.deadline);
      w.deadline = undefined;
    }
    const off = w.offAbort;
    w.offAbort = undefined;
    off?.();
    return true;
  }
}
