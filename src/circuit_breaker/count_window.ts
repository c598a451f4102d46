// The last N calls: a ring buffer of one byte per call (bit 1 failed, bit 2
// slow) and running totals, so adding a call is O(1) and allocates nothing.
import type { CallWindow } from "./window.ts";

/** A window of the last `size` calls. */
export class CountWindow implements CallWindow {
  get timed(): boolean {
    return false;
  }
  calls = 0;
  failures = 0;
  slowCalls = 0;
  #ring: Uint8Array;
  #pos = 0;

  constructor(readonly size: number) {
    this.#ring = new Uint8Array(size);
  }

  add(failed: boolean, slow: boolean, _now: number): void {
    const ring = this.#ring;
    const pos = this.#pos;
    if (this.calls === ring.length) {
      const old = ring[pos];
      this.failures -= old & 1;
      this.slowCalls -= old >> 1;
    } else {
      this.calls++;
    }
    ring[pos] = (failed ? 1 : 0) | (slow ? 2 : 0);
    if (failed) this.failures++;
    if (slow) this.slowCalls++;
    this.#pos = pos + 1 === ring.length ? 0 : pos + 1;
  }

  /**
   * Adds a call older than every call in the window (a late report), as its
   * oldest: it leaves first. Not added when the window is full (it would
   * already have slid out).
   */
  addOldest(failed: boolean, slow: boolean): void {
    const ring = this.#ring;
    if (this.calls === ring.length) return;
    const n = ring.length;
    ring[(this.#pos - this.calls - 1 + 2 * n) % n] = (failed ? 1 : 0) | (slow ? 2 : 0);
    this.calls++;
    if (failed) this.failures++;
    if (slow) this.slowCalls++;
  }

  roll(_now: number): void {}

  clear(): void {
    this.calls =
      this.failures =
      this.slowCalls =
      this.#pos =
        0;
  }

  /** The calls, oldest first, one digit each (bit 1 failed, bit 2 slow): how stores keep it. */
  save(): string {
    const ring = this.#ring;
    // The calls are the `calls` slots ending just before `pos` (oldest first).
    const start = (this.#pos - this.calls + ring.length) % ring.length;
    let out = "";
    for (let i = 0; i < this.calls; i++) out += ring[(start + i) % ring.length];
    return out;
  }

  /** Refills the window from {@linkcode save}'s text (the newest `size` calls of it). */
  load(saved: string): void {
    this.clear();
    for (let i = Math.max(0, saved.length - this.size); i < saved.length; i++) {
      const d = saved.charCodeAt(i) - 48;
      this.add((d & 1) === 1, (d & 2) === 2, 0);
    }
  }
}
