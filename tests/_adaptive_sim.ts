// A deterministic simulation of callers, a limiter and an upstream, on a
// FakeClock, for the adaptive concurrency acceptance test and the table in
// docs/capacity.md (`deno run tests/_adaptive_sim_table.ts` prints it).
//
// The upstream serves `c` calls at once, 50 ms each, and queues the rest
// (FIFO, unbounded). It never learns that a caller gave up: a call abandoned
// in its queue is still served later (wasted work, as a real server does).
// Callers arrive at random (Poisson, seeded), each with a 500 ms deadline
// (their signal aborts with a ResilienceTimeoutError, as `timeout` would).
import {
  adaptiveConcurrency,
  type AdaptiveConcurrencyOptions,
  bulkhead,
  type Policy,
  ResilienceTimeoutError,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";

export const SERVICE_MS = 50;
export const DEADLINE_MS = 500;
/** Calls per ms the nominal upstream (c = 20) serves. */
const NOMINAL_RATE = 20 / SERVICE_MS;

/** One step of the scenario: offered load (× the nominal capacity) and the upstream's `c`. */
export interface Phase {
  /** Seconds of simulated time. */
  seconds: number;
  /** Offered load, a multiple of the nominal capacity (c = 20: 400 calls/s). */
  load: number;
  /** Calls the upstream serves at once. */
  c: number;
}

/** The scenario: 0.5× → 3× (c 20 → 10 → 20 meanwhile) → 0.5×. */
export const SCENARIO: readonly Phase[] = [
  { seconds: 20, load: 0.5, c: 20 },
  { seconds: 20, load: 3, c: 20 },
  { seconds: 20, load: 3, c: 10 },
  { seconds: 20, load: 3, c: 20 },
  { seconds: 20, load: 0.5, c: 20 },
];

/** What the simulation measured over one phase. */
export interface PhaseResult extends Phase {
  /** Calls completed within their deadline, per second. */
  goodput: number;
  /** The upstream's capacity in calls per second (c / 50 ms). */
  capacity: number;
  /** The same, after the first `settle` seconds of the phase. */
  goodputSettled: number;
  /** p99 latency of admitted calls (a call past its deadline counts 500 ms), ms. */
  p99: number;
  /** The same, after the first `settle` seconds. */
  p99Settled: number;
  /** Calls refused by the limiter, per second. */
  refused: number;
  /**
   * Seconds after the phase began until the limit stayed within [0.8 c, 1.5 c]
   * (Infinity: never), probe dips (the limit halved for two windows to
   * re-measure the no-load latency) left out.
   */
  settledAfter: number;
  /** Lowest and highest limit over the last half of the phase (probe dips left out). */
  limitRange: [number, number];
}

/** The limiter under test. */
export type Subject =
  | { kind: "none" }
  | { kind: "bulkhead"; size: number }
  | { kind: "adaptive"; options?: AdaptiveConcurrencyOptions };

/** A small seeded PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Job {
  resolve: () => void;
  done: boolean;
}

function p99(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

/** Runs the scenario against `subject`; `settle` seconds are left out of the `*Settled` figures. */
export async function simulate(
  subject: Subject,
  { phases = SCENARIO, seed = 1, settle = 1, onStep }: {
    phases?: readonly Phase[];
    seed?: number;
    settle?: number;
    /** Called every simulated ms after the events of that ms (property checks). */
    onStep?: (now: number) => void;
  } = {},
): Promise<{ phases: PhaseResult[]; limits: number[]; policy: Policy }> {
  const clock = new FakeClock();
  const random = prng(seed);
  const policy: Policy & { getStats?: () => { limit?: number } } = subject.kind === "none"
    ? Object.assign((fn: () => unknown) => fn, {
      execute: <T>(fn: (c: { signal: AbortSignal; attempt: number }) => T, signal?: AbortSignal) =>
        Promise.resolve(fn({ signal: signal!, attempt: 1 })),
    }) as unknown as Policy
    : subject.kind === "bulkhead"
    ? bulkhead({ maxConcurrent: subject.size, clock })
    : adaptiveConcurrency({ minLimit: 1, clock, ...subject.options });
  const limitOf = subject.kind === "adaptive"
    ? () => (policy.getStats!() as { limit: number }).limit
    : () => subject.kind === "bulkhead" ? subject.size : Infinity;

  // The upstream.
  let c = phases[0].c;
  let serving = 0;
  const waiting: Job[] = [];
  let waitHead = 0;
  const inService: { at: number; job: Job }[] = [];
  let serviceHead = 0;
  const serve = (now: number) => {
    while (serving < c && waitHead < waiting.length) {
      const job = waiting[waitHead++];
      serving++;
      inService.push({ at: now + SERVICE_MS, job });
    }
  };
  const upstream = (signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      const job: Job = { resolve, done: false };
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      waiting.push(job);
      serve(clock.now());
    });

  // The callers.
  const deadlines: { at: number; controller: AbortController; settled: boolean }[] = [];
  let deadlineHead = 0;
  const results = phases.map(() => ({
    good: 0,
    latencies: [] as number[],
    settledLat: [] as number[],
    goodSettled: 0,
    refused: 0,
  }));
  const limits: number[] = [];
  const probing: boolean[] = [];
  let phaseIndex = 0;
  let phaseStart = 0;
  let nextArrival = 0;
  const total = phases.reduce((s, p) => s + p.seconds * 1000, 0);

  for (let now = 0; now < total; now++) {
    clock.tick(now === 0 ? 0 : 1);
    if (now - phaseStart >= phases[phaseIndex].seconds * 1000) {
      phaseStart = now;
      phaseIndex++;
      c = phases[phaseIndex].c;
      serve(now);
    }
    const phase = phases[phaseIndex];
    const r = results[phaseIndex];
    const settled = now - phaseStart >= settle * 1000;
    // Upstream completions.
    while (serviceHead < inService.length && inService[serviceHead].at <= now) {
      const { job } = inService[serviceHead++];
      serving--;
      job.done = true;
      job.resolve();
    }
    if (serviceHead > 4096) inService.splice(0, serviceHead), serviceHead = 0;
    serve(now);
    if (waitHead > 4096) waiting.splice(0, waitHead), waitHead = 0;
    // Deadlines.
    while (deadlineHead < deadlines.length && deadlines[deadlineHead].at <= now) {
      const d = deadlines[deadlineHead++];
      if (!d.settled) d.controller.abort(new ResilienceTimeoutError("call", DEADLINE_MS));
    }
    if (deadlineHead > 4096) deadlines.splice(0, deadlineHead), deadlineHead = 0;
    // Arrivals (Poisson).
    const rate = phase.load * NOMINAL_RATE;
    while (nextArrival < now + 1) {
      nextArrival += -Math.log(1 - random()) / rate;
      const start = now;
      const controller = new AbortController();
      const d = { at: now + DEADLINE_MS, controller, settled: false };
      deadlines.push(d);
      let admitted = true;
      policy.execute(({ signal }) => upstream(signal), controller.signal).then(() => {
        d.settled = true;
        const lat = clock.now() - start;
        r.latencies.push(lat);
        if (settled) r.settledLat.push(lat);
        if (lat <= DEADLINE_MS) {
          r.good++;
          if (settled) r.goodSettled++;
        }
      }, (e) => {
        d.settled = true;
        if (e instanceof ResilienceTimeoutError) {
          r.latencies.push(DEADLINE_MS);
          if (settled) r.settledLat.push(DEADLINE_MS);
        } else {
          admitted = false;
          r.refused++;
        }
      });
      void admitted;
    }
    for (let i = 0; i < 12; i++) await null;
    if (now % 100 === 0) {
      limits.push(limitOf());
      probing.push(
        subject.kind === "adaptive" && (policy.getStats!() as { probing: boolean }).probing,
      );
    }
    onStep?.(now);
  }

  // Per phase figures.
  let t = 0;
  const out: PhaseResult[] = phases.map((p, i) => {
    const r = results[i];
    const capacity = (p.c / SERVICE_MS) * 1000;
    const from = t / 100;
    t += p.seconds * 1000;
    const to = t / 100;
    const ls = limits.slice(from, to);
    let settledAfter = 0;
    const dips = probing.slice(from, to);
    for (let k = ls.length - 1; k >= 0; k--) {
      if (!dips[k] && !(ls[k] >= 0.8 * p.c && ls[k] <= 1.5 * p.c)) {
        settledAfter = k === ls.length - 1 ? Infinity : (k + 1) / 10;
        break;
      }
    }
    const tail = ls.filter((_, k) => !dips[k]).slice(ls.length >> 1);
    return {
      ...p,
      capacity,
      goodput: r.good / p.seconds,
      goodputSettled: r.goodSettled / (p.seconds - settle),
      p99: p99(r.latencies),
      p99Settled: p99(r.settledLat),
      refused: r.refused / p.seconds,
      settledAfter,
      limitRange: [Math.min(...tail), Math.max(...tail)],
    };
  });
  return { phases: out, limits, policy };
}
