// A Worker for tests/cloudflare_test.ts, run in workerd by miniflare: it
// exports the CircuitBreakerObject and drives scenarios in which several
// breaker instances — standing for isolates, each with its own local view —
// share one Durable Object or one KV namespace.
import {
  type CircuitBreaker,
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  rateLimiter,
  ResilienceTimeoutError,
  type SharedStore,
  sharedStore,
  type StoreOp,
  timeout,
} from "../mod.ts";
import {
  type CircuitBreakerNamespace,
  durableObjectStore,
  type KvNamespaceLike,
  workersKvStore,
} from "../src/cloudflare/mod.ts";
import { CountingStore, FaultyStore } from "./_stores.ts";
import fc from "fast-check";
import { MODES, run as runDifferential, schedules } from "./_differential.ts";
import type { FakeClock } from "../src/testing/mod.ts";
import { sharedDeadlineTimer } from "../src/scheduler.ts";

import { CircuitBreakerObject } from "../src/cloudflare/object.ts";
export { CircuitBreakerObject };

/** The real object, plus a way to write raw values into its storage (corruption, skew). */
export class TestCircuitObject extends CircuitBreakerObject {
  #fake: number | undefined;
  async poke(value: unknown): Promise<void> {
    await this.ctx.storage.put("state", value);
  }
  /** Runs the object on a test's fake wall time (the differential test's FakeClock). */
  setNow(ms: number): void {
    this.#fake = ms;
  }
  protected override now(): number {
    return this.#fake ?? Date.now();
  }
}

interface TestNamespace extends CircuitBreakerNamespace {
  get(id: never): ReturnType<CircuitBreakerNamespace["get"]> & {
    poke(v: unknown): Promise<void>;
    setNow(ms: number): Promise<void>;
  };
}

interface Env {
  CIRCUITS: CircuitBreakerNamespace;
  TEST_CIRCUITS: TestNamespace;
  CIRCUIT_KV: KvNamespaceLike & { put(k: string, v: string): Promise<void> };
}

function recording() {
  const lines: string[] = [];
  const add = (m: string) => void lines.push(m);
  return { lines, info: add, warn: add, error: add };
}

const YEAR = 365 * 86_400_000;
const futureOpen = () => ({
  state: "open",
  generation: 1,
  failures: 5,
  successes: 0,
  openedAt: Date.now() + YEAR,
  permits: [],
});

const silent = { info() {}, warn() {}, error() {} };
const boom = () => Promise.reject(new Error("boom"));

function fleet(n: number, store: SharedStore, key: string, opts: Record<string, unknown> = {}) {
  clearCircuitBreakers();
  return Array.from({ length: n }, (_, i) =>
    circuitBreaker({
      name: `${key}-isolate-${i}`,
      storeKey: key,
      store,
      logger: silent,
      failureThreshold: 5,
      resetTimeout: 300,
      halfOpenMaxCalls: 3,
      storeOptions: { timeout: 5000 },
      ...opts,
    }));
}

async function flushAll(bs: CircuitBreaker[]) {
  for (const b of bs) await b.flush();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const longTimeout = timeout(10_000, { logger: silent });
const shortTimeout = timeout(50, { logger: silent });

const scenarios: Record<string, (env: Env, key: string, n?: number) => Promise<unknown>> = {
  /** A 10 s deadline set (and finished) in one request... */
  async "timeout-first"() {
    return { value: await longTimeout.execute(() => 1) };
  },
  /** ...must not break a 50 ms deadline in the next request (timers belong to their request). */
  async "timeout-second"() {
    const t0 = Date.now();
    const e = await shortTimeout.execute(() => new Promise(() => {})).catch((e) => e);
    return {
      timedOut: e instanceof ResilienceTimeoutError,
      ms: Date.now() - t0,
      sharedTimer: sharedDeadlineTimer(),
    };
  },

  /** Failures spread over 4 instances open the circuit at the threshold in total. */
  async threshold(env, key) {
    const bs = fleet(4, durableObjectStore(env.CIRCUITS), key);
    const statesAfter: string[] = [];
    for (let i = 0; i < 5; i++) {
      await bs[i % 4].execute(boom).catch(() => {});
      await bs[i % 4].flush();
      statesAfter.push(bs[i % 4].state);
    }
    await flushAll(bs);
    let ran = 0;
    const failFast: boolean[] = [];
    for (const b of bs) {
      const e = await b.execute(() => ran++).catch((e) => e);
      failFast.push(e instanceof CircuitOpenError);
    }
    return { statesAfter, failFast, ran, failureCount: bs[0].getStats().failureCount };
  },

  /** 200 concurrent calls in HALF_OPEN across 5 instances: probes never exceed halfOpenMaxCalls. */
  async halfopen(env, key) {
    const bs = fleet(5, durableObjectStore(env.CIRCUITS), key, { failureThreshold: 1 });
    await bs[0].execute(boom).catch(() => {});
    await flushAll(bs);
    await sleep(350);
    let running = 0;
    let maxRunning = 0;
    let admitted = 0;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        bs[i % 5].execute(async () => {
          admitted++;
          running++;
          maxRunning = Math.max(maxRunning, running);
          await sleep(30);
          running--;
          return "ok";
        }).catch((e) => (e instanceof CircuitOpenError ? "rejected" : String(e)))),
    );
    await flushAll(bs);
    return {
      admitted,
      maxRunning,
      rejected: results.filter((r) => r === "rejected").length,
      other: results.filter((r) => r !== "ok" && r !== "rejected"),
      stateAfter: bs[0].getStats().state,
    };
  },

  /** Store operations while CLOSED: none on the call path, batched in the background. */
  async ops(env, key) {
    const store = new CountingStore(durableObjectStore(env.CIRCUITS));
    const [b] = fleet(1, store, key, { storeOptions: { batchSize: 25, refreshInterval: 60_000 } });
    await b.execute(() => 0);
    await b.flush();
    const before = store.total;
    let waitedOnStore = 0;
    for (let i = 0; i < 100; i++) {
      const opsBefore = store.total;
      await b.execute(() => i);
      if (store.ops.acquire > 0 || store.total - opsBefore > 1) waitedOnStore++;
    }
    await b.flush();
    return { waitedOnStore, ops: store.total - before, outcomes: store.outcomes };
  },

  /** Opens the circuit (for the persistence test). */
  async open(env, key) {
    const [b] = fleet(1, durableObjectStore(env.CIRCUITS), key, {
      failureThreshold: 1,
      resetTimeout: 600_000,
    });
    await b.execute(boom).catch(() => {});
    await b.flush();
    return { state: b.state };
  },

  /** A fresh instance (a new isolate) learns the shared state on its first call. */
  async fresh(env, key) {
    const [b] = fleet(1, durableObjectStore(env.CIRCUITS), key, { resetTimeout: 600_000 });
    let ran = false;
    const e = await b.execute(() => (ran = true)).catch((e) => e);
    return { ran, failFast: e instanceof CircuitOpenError, state: b.state };
  },

  /** KV: one instance opens and broadcasts; another (fresh) isolate fails fast from its first call. */
  async kv(env, key) {
    const store = workersKvStore(env.CIRCUIT_KV, { cacheTtl: 0 });
    const [a] = fleet(1, store, key, { failureThreshold: 2, resetTimeout: 60_000 });
    await a.execute(boom).catch(() => {});
    await a.execute(boom).catch(() => {});
    await a.flush();
    const [b] = fleet(1, workersKvStore(env.CIRCUIT_KV, { cacheTtl: 0 }), key, {
      failureThreshold: 2,
      resetTimeout: 60_000,
    });
    let ran = false;
    const e = await b.execute(() => (ran = true)).catch((e) => e);
    return {
      aState: a.state,
      bRan: ran,
      bFailFast: e instanceof CircuitOpenError,
      bState: b.state,
    };
  },
};

/** A corrupt stored value is repaired once; the instances are back on the shared circuit. */
async function repairScenario(bs: CircuitBreaker[], log: { lines: string[] }) {
  for (const b of bs) {
    await b.execute(boom).catch(() => {});
    await b.flush();
  }
  await flushAll(bs);
  let ran = 0;
  const failFast: boolean[] = [];
  for (const b of bs) {
    const e = await b.execute(() => ran++).catch((e) => e);
    failFast.push(e instanceof CircuitOpenError);
  }
  return {
    repairs: log.lines.filter((l) => l.includes("was unreadable")).length,
    available: bs.map((b) => b.getStats().storeAvailable),
    failFast,
    ran,
  };
}

/** A future-dated OPEN: rejected for at most resetTimeout + skew allowance, then a trial runs. */
async function futureScenario(bs: CircuitBreaker[], reset: number) {
  const first = await bs[0].execute(() => "ran").catch((e) => e);
  await sleep(2 * reset + 30);
  const later = await bs[1].execute(() => "ran").catch((e) => String(e));
  await flushAll(bs);
  return {
    firstRejected: first instanceof CircuitOpenError,
    timeUntilReset: (first as CircuitOpenError).timeUntilReset,
    later,
  };
}

Object.assign(scenarios, {
  /** Store faults around the real Durable Object store: 1,000 calls each, never failed by it. */
  async "do-faults"(env: Env, key: string) {
    const t0 = Date.now();
    const faulty = new FaultyStore(durableObjectStore(env.CIRCUITS), 100);
    const log = recording();
    const [b] = fleet(1, faulty, key, {
      failureThreshold: 1_000_000,
      logger: log,
      storeOptions: { timeout: 50, retryInterval: 100, refreshInterval: 0, batchSize: 1 },
    });
    await b.execute(() => 0);
    await b.flush();
    const own = new Error("mine");
    const wrong: string[] = [];
    const faults = ["throw", "corrupt", "lock", "hang", "slow"] as const;
    for (const fault of faults) {
      faulty.fault = fault;
      const results = await Promise.all(
        Array.from(
          { length: 1000 },
          (_, i) => b.execute(() => (i % 2 ? i : Promise.reject(own))).then((v) => v, (e) => e),
        ),
      );
      results.forEach((r, i) => {
        if (r !== (i % 2 ? i : own)) wrong.push(`${fault} #${i}: ${String(r)}`);
      });
      await b.flush();
      if (b.getStats().storeAvailable) wrong.push(`${fault}: not seen as an outage`);
      faulty.heal();
      for (let i = 0; i < 20 && !b.getStats().storeAvailable; i++) {
        await sleep(30);
        await b.execute(() => 1);
        await b.flush();
      }
      if (!b.getStats().storeAvailable) wrong.push(`${fault}: did not recover`);
    }
    return {
      wrong: wrong.slice(0, 5),
      outages: log.lines.filter((l) => l.includes("state store unavailable")).length,
      faults: faults.length,
      ms: Date.now() - t0,
    };
  },
  /** A trial that never reports holds its shared permit no longer than resetTimeout. */
  async "do-hung"(env: Env, key: string) {
    const bs = fleet(2, durableObjectStore(env.CIRCUITS), key, {
      failureThreshold: 1,
      halfOpenMaxCalls: 1,
      resetTimeout: 300,
      storeOptions: { timeout: 5000, refreshInterval: 0 },
    });
    await bs[0].execute(boom).catch(() => {});
    await flushAll(bs);
    await sleep(320);
    let release!: () => void;
    const hung = bs[0].execute(() => new Promise<string>((r) => (release = () => r("late"))));
    await sleep(50);
    const blocked = await bs[1].execute(() => "b").then(
      () => false,
      (e) => e instanceof CircuitOpenError,
    );
    await sleep(320); // past the hung trial's permit TTL (= resetTimeout)
    const later = await bs[1].execute(() => "b").catch((e) => String(e));
    release();
    await hung;
    await flushAll(bs);
    return { blocked, later };
  },
  async "do-corrupt"(env: Env, key: string) {
    const ns = env.TEST_CIRCUITS;
    await ns.get(ns.idFromName(`er:cb:${key}`) as never).poke({
      state: "sideways",
      generation: -1,
    });
    const log = recording();
    const bs = fleet(3, durableObjectStore(ns), key, { failureThreshold: 3, logger: log });
    return await repairScenario(bs, log);
  },
  async "do-future"(env: Env, key: string) {
    const ns = env.TEST_CIRCUITS;
    await ns.get(ns.idFromName(`er:cb:${key}`) as never).poke(futureOpen());
    return await futureScenario(fleet(2, durableObjectStore(ns), key, { resetTimeout: 200 }), 200);
  },
  async "kv-corrupt"(env: Env, key: string) {
    await env.CIRCUIT_KV.put(`er:cb:${key}`, "{not json");
    const log = recording();
    const mk = () => workersKvStore(env.CIRCUIT_KV, { cacheTtl: 0 });
    const [a] = fleet(1, mk(), key, { logger: log });
    const value = await a.execute(() => 1);
    await a.flush();
    const [b] = fleet(1, mk(), key, { logger: log }); // another isolate: reads a valid entry
    await b.execute(() => 2);
    await b.flush();
    const stored = await env.CIRCUIT_KV.get(`er:cb:${key}`, { type: "text" });
    return {
      value,
      repairs: log.lines.filter((l) => l.includes("was unreadable")).length,
      available: [a.getStats().storeAvailable, b.getStats().storeAvailable],
      stored: JSON.parse(stored ?? "null")?.state,
    };
  },
  /**
   * The differential test on the real Durable Object (its SQLite storage and RPC), the
   * object's time set to the test's fake wall time before each operation.
   */
  async differential(env: Env, key: string, runs = 60) {
    const ns = env.TEST_CIRCUITS;
    const makeStore = (clock: FakeClock) =>
      sharedStore({
        kind: "authoritative",
        async run(k: string, op: StoreOp) {
          const stub = ns.get(ns.idFromName(`er:${key}:${k}`) as never);
          await stub.setNow(clock.wallNow());
          return await stub.run(op);
        },
      });
    const mismatches: string[] = [];
    let n = 0;
    for (const [name, mode] of Object.entries(MODES)) {
      const all = fc.sample(schedules(1), { numRuns: runs, seed: 17 });
      for (
        const steps of (globalThis as { ONLY?: number }).ONLY === undefined
          ? all
          : [all[(globalThis as { ONLY?: number }).ONLY!]]
      ) {
        const local = await runDifferential(steps, mode, undefined, 1, true, "local");
        const shared = await runDifferential(steps, mode, makeStore, 1, true, `${name}-${n++}`);
        if (JSON.stringify(local) !== JSON.stringify(shared)) {
          mismatches.push(JSON.stringify({ name, steps, local, shared }));
        }
      }
    }
    return { runs: n, mismatches: mismatches.slice(0, 3) };
  },
  /** Three limiters (isolates) share one rate limit through the Durable Object: exact. */
  async ratelimit(env: Env, key: string) {
    const store = new CountingStore(durableObjectStore(env.CIRCUITS));
    const limiters = Array.from({ length: 3 }, () =>
      rateLimiter({
        name: key,
        limit: 100,
        // Windows on the epoch grid: a minute's edge, crossed mid-run now and then, would
        // start a second window (123 admitted, once). A year's edge is not crossed.
        interval: 365 * 86_400_000,
        algorithm: "fixed-window",
        store,
        logger: silent,
      }));
    let allowed = 0;
    for (let i = 0; i < 1_000; i++) if ((await limiters[i % 3].take("client")).allowed) allowed++;
    return { allowed, roundTrips: store.ops.rate };
  },
  async "kv-future"(env: Env, key: string) {
    await env.CIRCUIT_KV.put(`er:cb:${key}`, JSON.stringify(futureOpen()));
    const mk = () => workersKvStore(env.CIRCUIT_KV, { cacheTtl: 0 });
    const a = fleet(1, mk(), key, { resetTimeout: 200 })[0];
    const b = circuitBreaker({
      name: `${key}-b`,
      storeKey: key,
      store: mk(),
      logger: silent,
      resetTimeout: 200,
    });
    return await futureScenario([a, b], 200);
  },
});

export default {
  async fetch(req: Request, env: Env) {
    const url = new URL(req.url);
    const name = url.pathname.slice(1);
    const run = scenarios[name];
    if (!run) return new Response("no such scenario", { status: 404 });
    try {
      const n = url.searchParams.get("n");
      const only = url.searchParams.get("only");
      (globalThis as { ONLY?: number }).ONLY = only === null ? undefined : Number(only);
      return Response.json(
        await run(env, url.searchParams.get("key") ?? name, n === null ? undefined : Number(n)),
      );
    } catch (e) {
      return Response.json({ error: String(e), stack: (e as Error).stack }, { status: 500 });
    }
  },
};
