// The last T ms, in B buckets of T/B ms each: the window is the bucket that
// holds `now` and the B - 1 before it. Buckets rotate lazily, from the clock
// readings calls bring (no timer); a gap of B buckets or more empties the
// window, so old failures never count after an idle period (cockatiel's
// SamplingBreaker keeps them). Per call: O(1) amortised (at most B bucket
// clears, B is fixed), no allocation.
import type { CallWindow } from "./window.ts";

/** A time window as stores keep it (see {@linkcode TimeWindow.save}). */
export interface SavedBuckets {
  /** The newest bucket's number (`floor(time / width)`; -1: none yet). */
  at: number;
  /** Calls, failures and slow calls of each bucket, oldest bucket first. */
  counts: number[];
}

/** A window of the last `duration` ms in `buckets` buckets. */
export class TimeWindow implements CallWindow {
  get timed(): boolean {
    return true;
  }
  calls = 0;
  failures = 0;
  slowCalls = 0;
  /** Per bucket: calls, failures, slow calls (3 entries each). */
  #counts: Uint32Array;
  /** Index of the newest bucket. */
  #head = 0;
  /** Absolute number (floor(now / width)) of the newest bucket. */
  #headAt = -Infinity;
  readonly #width: number;

  constructor(readonly duration: number, readonly buckets: number) {
    this.#counts = new Uint32Array(3 * buckets);
    this.#width = duration / buckets;
  }

  roll(now: number): void {
    const at = Math.floor(now / this.#width);
    // A clock that went back (or the same bucket) writes into the newest bucket.
    if (!(at > this.#headAt)) return;
    const n = this.buckets;
    const c = this.#counts;
    if (at - this.#headAt >= n) {
      if (this.calls > 0) {
        c.fill(0);
        this.calls = this.failures = this.slowCalls = 0;
      }
    } else {
      let head = this.#head;
      for (let k = this.#headAt; k < at; k++) {
        head = head + 1 === n ? 0 : head + 1;
        const i = head * 3;
        this.calls -= c[i];
        this.failures -= c[i + 1];
        this.slowCalls -= c[i + 2];
        c[i] = c[i + 1] = c[i + 2] = 0;
      }
      this.#head = head;
    }
    this.#headAt = at;
  }

  add(failed: boolean, slow: boolean, now: number): void {
    this.roll(now);
    // An outcome reported late (a shared window) goes into its own bucket, if still in the window.
    const back = this.#headAt - Math.floor(now / this.#width);
    if (back >= this.buckets) return;
    const n = this.buckets;
    const c = this.#counts;
    const i = (back > 0 ? (this.#head - back + n) % n : this.#head) * 3;
    c[i]++;
    this.calls++;
    if (failed) {
      c[i + 1]++;
      this.failures++;
    }
    if (slow) {
      c[i + 2]++;
      this.slowCalls++;
    }
  }

  clear(): void {
    this.#counts.fill(0);
    this.calls = this.failures = this.slowCalls = 0;
  }

  /**
   * The buckets as stored: the newest bucket's number (`floor(time / width)`,
   * -1 before the first call) and calls, failures, slow calls per bucket,
   * oldest first.
   */
  save(): SavedBuckets {
    const n = this.buckets;
    const counts: number[] = [];
    for (let k = 1; k <= n; k++) {
      const i = ((this.#head + k) % n) * 3;
      counts.push(this.#counts[i], this.#counts[i + 1], this.#counts[i + 2]);
    }
    return { at: Number.isFinite(this.#headAt) ? this.#headAt : -1, counts };
  }

  /** Refills the window from {@linkcode save}'s answer (left empty unless it has this many buckets). */
  load(saved: SavedBuckets): void {
    this.clear();
    const n = this.buckets;
    if (saved.counts.length !== 3 * n) return;
    const c = this.#counts;
    for (let i = 0; i < 3 * n; i++) c[i] = saved.counts[i];
    for (let i = 0; i < 3 * n; i += 3) {
      this.calls += c[i];
      this.failures += c[i + 1];
      this.slowCalls += c[i + 2];
    }
    this.#head = n - 1;
    this.#headAt = saved.at < 0 ? -Infinity : saved.at;
  }
}
