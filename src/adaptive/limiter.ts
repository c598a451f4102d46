// The core of an adaptive concurrency limiter: admission against the learned
// limit, the optional queue, the sample windows, the no-load estimate and its
// probes, and the limit's transitions.
import type { Clock } from "../clock.ts";
import { type Scope, start, type Target } from "../context.ts";
import { type Logger, logRepeated, printable } from "../logger.ts";
import { emit, flags } from "../telemetry.ts";
import type { ResolvedAlgorithm } from "./algorithm.ts";
import { AdaptiveConcurrencyRejectedError, type AdaptiveRefusalReason } from "./errors.ts";
import { Waiter, WaitQueue } from "../wait_queue.ts";

/** Why the limit changed, in a {@linkcode LimitChangeEvent}. */
export type LimitChangeReason = "increase" | "decrease" | "probe" | "probe-end";

/**
 * A transition of an adaptive limiter's limit (`onLimitChange`). Latencies in
 * ms. Frozen: every listener receives the same object.
 */
export interface LimitChangeEvent {
  /** The limiter's name. */
  readonly name: string;
  /** The limit before. */
  readonly from: number;
  /** The limit now. */
  readonly to: number;
  /**
   * `"increase"` / `"decrease"`: the algorithm's step after a sample window;
   * `"probe"`: halved for two windows to re-measure the no-load latency;
   * `"probe-end"`: restored after a probe.
   */
  readonly reason: LimitChangeReason;
  /** The last window's median latency. */
  readonly latency: number;
  /** The no-load latency estimate. */
  readonly noLoadLatency: number;
  /** Calls in flight at the change. */
  readonly inFlight: number;
}

/** Counters of an adaptive limiter, from `getStats()`. JSON-safe; latencies in ms. */
export interface AdaptiveConcurrencyStats {
  /** The limiter's name. */
  name: string;
  /** The algorithm: `"gradient"` or `"vegas"`. */
  algorithm: string;
  /** Calls allowed in flight now. */
  limit: number;
  /** Calls running now (may exceed `limit` just after it fell: running calls are never cut). */
  inFlight: number;
  /** Calls waiting for a slot now. */
  queued: number;
  /** The no-load latency estimate (`null` before the first sample window). */
  noLoadLatency: number | null;
  /** The last sample window's median latency (`null` before the first window). */
  latency: number | null;
  /** Calls refused so far (limit reached, queue full or queue timeout). */
  refused: number;
  /** Calls started so far. */
  admitted: number;
  /**
   * Whether a probe is under way: the limit halved to re-measure the no-load
   * latency (two windows), then one window restored but not yet judged.
   */
  probing: boolean;
}

/** @internal Settings of a limiter, validated. */
export interface LimiterSettings {
  name: string;
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  algorithm: ResolvedAlgorithm;
  maxQueue: number;
  queueTimeout: number | undefined;
  sampleWindow: number;
  minSamples: number;
  probeInterval: number;
  clock: Clock;
  logger: Logger | undefined;
  onLimitChange: ((e: LimitChangeEvent) => void) | undefined;
}

/** Samples kept per window (later ones overwrite earlier ones in turn). */
const CAP = 256;
/** Weight of an unqueued window in the no-load estimate. */
const NO_LOAD_GAIN = 0.25;
/** Timed calls wanted per window at high rates. */
const SAMPLES = 128;
/** At most one call in this many goes untimed (a sudden fall in rate still gets samples soon). */
const MAX_STRIDE = 64;
const NO_PROBE = 0;
const DRAIN = 1;
const MEASURE = 2;
const RESUME = 3;

/** A timeout, from this library (`ResilienceTimeoutError`, by fields) or the platform (`TimeoutError`). */
function isTimeout(e: unknown): boolean {
  const o = e as { name?: unknown; timeout?: unknown; operation?: unknown } | null | undefined;
  return o?.name === "TimeoutError" ||
    (typeof o?.timeout === "number" && typeof o.operation === "string");
}

/** @internal One limiter; its `run` is the policy's runner. */
export class Limiter {
  inFlight = 0;
  refused = 0;
  admitted = 0;
  /** The limit as the algorithm keeps it (fractional); `limit` is its floor. */
  estimate: number;
  limit: number;
  noLoad: number | undefined = undefined;
  latency: number | undefined = undefined;
  readonly queue: WaitQueue | undefined;
  /** Listeners added with the policy's `onLimitChange(listener)`. */
  listeners: Set<(e: LimitChangeEvent) => void> | undefined = undefined;
  // The current sample window.
  readonly samples = new Float64Array(CAP);
  n = 0;
  ok = 0;
  drops = 0;
  windowStart: number;
  maxInFlight = 0;
  // Probes of the no-load latency.
  probe = NO_PROBE;
  nextProbe = 0;
  saved = 0;
  /** The limit when decreases began that latency has not answered (0: none), and the latency then. */
  stallFrom = 0;
  stallLatency = 0;
  // Sampling: one call in `stride` is timed; `settled` counts the window's calls.
  stride = 1;
  skipped = 0;
  settled = 0;

  constructor(readonly s: LimiterSettings) {
    this.estimate = s.initialLimit;
    this.limit = s.initialLimit;
    this.windowStart = s.clock.now();
    this.queue = s.maxQueue > 0
      ? new WaitQueue(s.clock, s.queueTimeout, (w) => w.reject(this.refuse("queue-timeout")))
      : undefined;
  }

  run(fn: Target, thisArg: unknown, args: readonly unknown[], parent: Scope | undefined) {
    if (parent?.aborted) return Promise.reject(parent.reason);
    if (this.inFlight < this.limit) return this.launch(fn, thisArg, args, parent);
    const q = this.queue;
    if (q === undefined) return Promise.reject(this.refuse("limit"));
    if (q.size >= this.s.maxQueue) return Promise.reject(this.refuse("queue-full"));
    return new Promise((resolve, reject) => {
      q.push(new Waiter(fn, thisArg, args, parent, resolve, reject));
    });
  }

  /**
   * Starts a call on a free slot. One call in `stride` is timed (a sample); at
   * high rates the others only count, so that reading the clock (two reads
   * per sample) stays off most calls.
   */
  launch(fn: Target, thisArg: unknown, args: readonly unknown[], parent: Scope | undefined) {
    const n = ++this.inFlight;
    if (n > this.maxInFlight) this.maxInFlight = n;
    this.admitted++;
    if (++this.skipped >= this.stride) {
      this.skipped = 0;
      return this.timed(fn, thisArg, args, parent);
    }
    let work: unknown;
    try {
      work = start(parent, fn, thisArg, args);
    } catch (e) {
      // Never thrown from here: `execute` rejects, and a waiter started by `drain` must not
      // fail the call whose settling freed its slot.
      this.untimedFailed(e);
      return Promise.reject(e);
    }
    return Promise.resolve(work).then(this.untimedOk, this.untimedFail);
  }

  /** Settle handlers of untimed calls, shared (no closure per call). */
  readonly untimedOk = (v: unknown) => {
    this.inFlight--;
    this.settled++;
    if (this.queue !== undefined && this.queue.size > 0) this.drain();
    return v;
  };
  readonly untimedFail = (e: unknown) => {
    this.untimedFailed(e);
    throw e;
  };

  /** Frees the slot of an untimed call that failed. */
  untimedFailed(e: unknown): void {
    this.inFlight--;
    this.settled++;
    // A timeout still counts (the caller's deadline reaches the call as its signal's reason).
    if (isTimeout(e)) this.drops++;
    if (this.queue !== undefined && this.queue.size > 0) this.drain();
  }

  /** Starts a timed call: its latency is a sample. */
  timed(fn: Target, thisArg: unknown, args: readonly unknown[], parent: Scope | undefined) {
    const t0 = this.s.clock.now();
    let work: unknown;
    try {
      work = start(parent, fn, thisArg, args);
    } catch (e) {
      this.settle(t0, parent, e, true);
      return Promise.reject(e);
    }
    return Promise.resolve(work).then((v) => {
      this.settle(t0, parent, undefined, false);
      return v;
    }, (e) => {
      this.settle(t0, parent, e, true);
      throw e;
    });
  }

  /** Frees the slot of a call started at `t0` and records its sample. */
  settle(t0: number, parent: Scope | undefined, error: unknown, failed: boolean): void {
    this.inFlight--;
    this.settled++;
    const now = this.s.clock.now();
    if (!failed) this.record(now - t0, 1);
    else if (parent?.aborted) {
      // The caller's own cancellation says nothing of the upstream; its deadline does.
      if (isTimeout(parent.reason)) this.record(now - t0, 2);
    } else this.record(now - t0, isTimeout(error) ? 2 : 0);
    if (
      now - this.windowStart >= Math.max(this.s.sampleWindow, this.latency ?? 0) &&
      (this.n >= this.s.minSamples || (this.drops > 0 && this.n > 0))
    ) this.update(now);
    if (this.queue !== undefined && this.queue.size > 0) this.drain();
  }

  /** Records a latency: kind 1 a success, 0 a failure, 2 a timeout. */
  record(ms: number, kind: 0 | 1 | 2): void {
    this.samples[this.n % CAP] = ms;
    this.n++;
    if (kind === 1) this.ok++;
    else if (kind === 2) this.drops++;
  }

  /** Starts queued calls while there are free slots. */
  drain(): void {
    const q = this.queue!;
    while (q.size > 0 && this.inFlight < this.limit) {
      const w = q.shift();
      if (w === undefined) return;
      w.resolve(this.launch(w.fn, w.thisArg, w.args, w.parent));
    }
  }

  /** Ends a sample window: updates the estimates and the limit. */
  update(now: number): void {
    const m = Math.min(this.n, CAP);
    const median = this.samples.subarray(0, m).sort()[m >> 1];
    const trusted = this.ok * 2 >= this.n; // mostly answers: says something of the no-load latency
    const drops = this.drops;
    const busiest = this.maxInFlight;
    // About SAMPLES timed calls per window at the current rate (every call at low rates).
    this.stride = Math.max(1, Math.min(MAX_STRIDE, Math.floor(this.settled / SAMPLES)));
    this.n =
      this.ok =
      this.drops =
      this.settled =
        0;
    this.windowStart = now;
    this.maxInFlight = this.inFlight;
    this.latency = median;
    // A median of 0 (a clock that did not move during the calls: cache hits, Workers between
    // I/O) measures nothing: an estimate of 0 would make every later window look endlessly queued.
    const measured = trusted && median > 0;
    if (measured) {
      // The no-load estimate follows (smoothed) the windows our limit held nothing back; probes
      // replace it. Not a minimum: with noisy latencies the minimum is the luckiest window, and
      // every ordinary one would then look congested.
      if (this.noLoad === undefined) this.noLoad = median;
      else if (busiest < this.limit) this.noLoad += NO_LOAD_GAIN * (median - this.noLoad);
    }
    if (this.probe === DRAIN) {
      this.probe = MEASURE; // the calls admitted before the probe are done: measure now
      return;
    }
    if (this.probe === RESUME) {
      this.probe = NO_PROBE; // this window began at half the limit: its latency flatters
      return;
    }
    if (this.probe === MEASURE) {
      this.probe = RESUME;
      if (measured && drops === 0) this.noLoad = median;
      this.nextProbe = now + this.s.probeInterval;
      this.setLimit(this.saved, "probe-end");
      return;
    }
    const noLoad = this.noLoad ?? median;
    if (this.s.probeInterval > 0 && now >= this.nextProbe) {
      if (busiest < this.limit) {
        // The limit held nothing back: this window served as a probe (it counted above).
        this.nextProbe = now + this.s.probeInterval;
      } else {
        this.saved = this.estimate;
        this.probe = DRAIN;
        this.setLimit(this.estimate / 2, "probe");
        return;
      }
    }
    const next = this.s.algorithm.update(this.estimate, {
      latency: median,
      noLoad,
      maxInFlight: busiest,
      drops,
    });
    if (next >= this.estimate) this.stallFrom = 0;
    else if (this.stallFrom === 0 || median < this.stallLatency * 0.9) {
      // Decreases begin (or latency answered them): watch whether latency follows the limit down.
      this.stallFrom = this.estimate;
      this.stallLatency = median;
    } else if (next <= this.stallFrom / 2) {
      // The limit halved and latency did not fall: the upstream got slower, not busier.
      this.stallFrom = 0;
      this.nextProbe = now; // re-measure the no-load latency at the next window
    }
    this.setLimit(next, next > this.estimate ? "increase" : "decrease");
  }

  setLimit(estimate: number, reason: LimitChangeReason): void {
    const { minLimit, maxLimit } = this.s;
    const e = Number.isFinite(estimate)
      ? Math.max(minLimit, Math.min(maxLimit, estimate))
      : minLimit;
    this.estimate = e;
    const from = this.limit;
    const to = Math.floor(e);
    if (to === from) return;
    this.limit = to;
    if (this.queue !== undefined && this.queue.size > 0) this.drain();
    this.announce(from, to, reason);
  }

  announce(from: number, to: number, reason: LimitChangeReason): void {
    const { name, clock, logger, onLimitChange } = this.s;
    const latency = this.latency ?? 0;
    const noLoadLatency = this.noLoad ?? 0;
    // Frozen, as every hook event: a listener cannot change what the next one sees.
    const event: LimitChangeEvent = Object.freeze({
      name,
      from,
      to,
      reason,
      latency,
      noLoadLatency,
      inFlight: this.inFlight,
    });
    logRepeated(
      logger,
      clock,
      "info",
      `Adaptive limiter '${name}' limit ${from} -> ${to} (${reason}; latency ${
        latency.toFixed(1)
      }ms, no-load ${noLoadLatency.toFixed(1)}ms)`,
      { ...event },
      `adaptive ${name} limit`,
    );
    if (flags.on) {
      emit({ type: "limit.changed", kind: "adaptiveConcurrency", name, limit: to, previous: from });
    }
    const notify = (l: (e: LimitChangeEvent) => void) => {
      try {
        l(event);
      } catch (e) {
        logRepeated(
          logger,
          clock,
          "error",
          `Adaptive limiter '${name}' limit listener threw: ${printable(e)}`,
          { name, error: e },
          `adaptive ${name} listener`,
        );
      }
    };
    if (onLimitChange) notify(onLimitChange);
    if (this.listeners) { for (const l of this.listeners) notify(l); }
  }

  refuse(reason: AdaptiveRefusalReason): AdaptiveConcurrencyRejectedError {
    this.refused++;
    if (flags.on) {
      emit({ type: "adaptive.rejected", kind: "adaptiveConcurrency", name: this.s.name, reason });
    }
    return AdaptiveConcurrencyRejectedError.fast(this.s.name, this.limit, this.inFlight, reason);
  }

  stats(): AdaptiveConcurrencyStats {
    return {
      name: this.s.name,
      algorithm: this.s.algorithm.type,
      limit: this.limit,
      inFlight: this.inFlight,
      queued: this.queue?.size ?? 0,
      noLoadLatency: this.noLoad ?? null,
      latency: this.latency ?? null,
      refused: this.refused,
      admitted: this.admitted,
      probing: this.probe !== NO_PROBE,
    };
  }
}
