// The differential runner: one schedule of calls, clock steps and operator
// controls, run through a local breaker and through breakers sharing a store.
// A shared circuit must be the same machine as a local one: the same
// admissions, results, transitions (with reasons) and stats. Used by
// tests/shared_differential_test.ts (MemoryStore, Deno KV) and inside workerd
// by tests/_cloudflare_fixture.ts (the Durable Object).
import fc from "fast-check";
import {
  type CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerOptions,
  CircuitOpenError,
  type SharedStore,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";

/** An error class the breakers exclude (neutral: counts nothing). */
export class NotFound extends Error {}

/** What one step does. */
export type Step =
  | { t: "call"; kind: "ok" | "fail" | "excluded" | "badResult" | "abort" | "hang"; at: number }
  | { t: "settle"; i: number; ok: boolean }
  | { t: "tick"; ms: number }
  | { t: "open"; at: number }
  | { t: "reset"; at: number }
  | { t: "isolate"; at: number }
  | { t: "release" };

/** The trip modes compared (consecutive failures, a count window, a time window). */
export const MODES: Record<string, CircuitBreakerOptions> = {
  consecutive: { failureThreshold: 3 },
  count: {
    failureRateThreshold: 0.5,
    windowCalls: 6,
    minimumThroughput: 4,
    slowCallDuration: 50,
    slowCallRateThreshold: 0.8,
  },
  time: { failureRateThreshold: 0.5, windowDuration: 1000, windowBuckets: 5, minimumThroughput: 4 },
};

/** Random schedules. `instances`: which instance of a fleet a call or control goes to. */
export function schedules(instances = 1): fc.Arbitrary<Step[]> {
  const at = fc.nat({ max: instances - 1 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        t: fc.constant("call" as const),
        kind: fc.constantFrom(
          "ok",
          "fail",
          "excluded",
          "badResult",
          "abort",
          "hang",
        ) as fc.Arbitrary<"ok">,
        at,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ t: fc.constant("settle" as const), i: fc.nat(), ok: fc.boolean() }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant("tick" as const),
        ms: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.constantFrom(199, 200, 201, 1000)),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("open" as const), at }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("reset" as const), at }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("isolate" as const), at }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("release" as const) }) },
  );
  return fc.array(step, { maxLength: 40 });
}

/** The options every compared breaker gets (with the mode's trip rules). */
function options(mode: CircuitBreakerOptions, clock: FakeClock): CircuitBreakerOptions {
  return {
    ...mode,
    resetTimeout: 200,
    halfOpenMaxCalls: 2,
    excludedErrors: [NotFound],
    isFailureResult: (v) => v === "bad",
    clock,
    logger: { info() {}, warn() {}, error() {} },
  };
}

/** What a breaker shows, as compared. */
function view(b: CircuitBreaker<unknown>): string {
  const s = b.getStats();
  return JSON.stringify([
    s.state,
    s.failureCount,
    s.successCount,
    s.timeUntilReset,
    s.halfOpenInFlight,
    s.isolated,
    s.generation,
    s.totalCalls,
    s.totalSuccesses,
    s.totalFailures,
    s.totalRejections,
    s.lateResults,
    s.openDuration,
    s.window ?? null,
  ]);
}

const settle = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Runs `steps` on breakers (one per instance, all sharing one clock) and
 * returns the trace: every admission and result, every transition, and
 * (`withStats`) every instance's stats after each step.
 */
export async function run(
  steps: Step[],
  mode: CircuitBreakerOptions,
  makeStore: ((clock: FakeClock) => SharedStore) | undefined,
  instances: number,
  withStats: boolean,
  key: string,
): Promise<string[]> {
  const clock = new FakeClock();
  const store = makeStore?.(clock);
  const trace: string[] = [];
  const bs = Array.from({ length: instances }, (_, i) =>
    circuitBreaker({
      ...options(mode, clock),
      ...(store
        ? { store, storeKey: key, storeOptions: { refreshInterval: 0, batchSize: 1 } }
        : {}),
      onStateChange: (e) => trace.push(`event ${i}: ${e.from}>${e.to} ${e.reason}`),
    }));
  const sync = async () => {
    // Every instance in step with the store (its reports sent, its replica refreshed).
    for (let round = 0; round < 2; round++) for (const b of bs) await b.flush();
  };
  const hung: { release: (ok: boolean) => void; done: Promise<unknown> }[] = [];
  let handle: (() => void) | undefined;
  let n = 0;
  for (const s of steps) {
    if (s.t === "tick") clock.tick(s.ms);
    else if (s.t === "open") bs[s.at].open();
    else if (s.t === "reset") {
      bs[s.at].reset();
      handle = undefined;
    } else if (s.t === "isolate") {
      if (!handle) handle = bs[s.at].isolate(store ? { scope: "fleet" } : undefined);
    } else if (s.t === "release") {
      handle?.();
      handle = undefined;
    } else if (s.t === "settle") {
      if (hung.length > 0) {
        const [h] = hung.splice(s.i % hung.length, 1);
        h.release(s.ok);
        await h.done;
      }
    } else {
      const id = n++;
      let ran = false;
      const ctl = new AbortController();
      let release!: (ok: boolean) => void;
      const fn = (): Promise<string> => {
        ran = true;
        switch (s.kind) {
          case "ok":
            return Promise.resolve("ok");
          case "fail":
            return Promise.reject(new Error("boom"));
          case "excluded":
            return Promise.reject(new NotFound("404"));
          case "badResult":
            return Promise.resolve("bad");
          case "abort":
            return new Promise((_, reject) => {
              ctl.signal.addEventListener("abort", () => reject(ctl.signal.reason));
            });
          default:
            return new Promise((resolve, reject) => {
              release = (ok) => (ok ? resolve("late ok") : reject(new Error("late boom")));
            });
        }
      };
      let finished = false;
      const done = bs[s.at].execute(fn, ctl.signal).then(
        (v) => trace.push(`call ${id}: ${v}`),
        (e) =>
          trace.push(
            `call ${id}: ${
              e instanceof CircuitOpenError
                ? `rejected (${e.state}${e.isolated ? ", isolated" : ""}, ${e.timeUntilReset})`
                : String(e)
            }`,
          ),
      );
      done.finally(() => (finished = true));
      // Admitted (the function runs) or answered: a store round trip may take a while (a
      // real server's: bounded in time, not in turns — 1,000 turns can pass before a reply).
      for (const end = Date.now() + 10_000; Date.now() < end && !ran && !finished;) {
        await settle();
      }
      if (s.kind === "abort" && ran) ctl.abort(new Error("caller gave up"));
      if (s.kind === "hang" && ran) hung.push({ release: (ok) => release(ok), done });
      else await done;
      trace.push(`call ${id} ran: ${ran}`);
    }
    await sync();
    if (withStats) { for (const [i, b] of bs.entries()) trace.push(`stats ${i}: ${view(b)}`); }
  }
  for (const h of hung) {
    h.release(true);
    await h.done;
  }
  await sync();
  return trace;
}
