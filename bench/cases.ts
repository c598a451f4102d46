// The benchmark cases: identical work (`fn = async () => 42`, built once and
// shared) through each library, built once. Every case is checked before
// timing (see `verify`), so no library is timed doing less work.
import {
  adaptiveConcurrency as ourAdaptive,
  bulkhead as ourBulkhead,
  chaos as ourChaos,
  circuitBreaker as ourBreaker,
  clearCircuitBreakers,
  compose,
  fallback as ourFallback,
  hedge as ourHedge,
  rateLimiter as ourRateLimiter,
  retry as ourRetry,
  timeout as ourTimeout,
} from "../mod.ts";
import {
  bulkhead as ckBulkhead,
  circuitBreaker as ckBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  fallback as ckFallback,
  handleAll,
  retry as ckRetry,
  timeout as ckTimeout,
  TimeoutStrategy,
  wrap,
} from "cockatiel";
import CircuitBreaker from "opossum";
import pRetry from "p-retry";
import pTimeout from "p-timeout";

const silent = { info() {}, warn() {}, error() {} };

let calls = 0;
/** The shared work. */
export const fn = async () => {
  calls++;
  return 42;
};
/** A pre-built error, for the raw-reject baseline. */
export const prebuilt = new Error("pre-built");

export type Case = {
  name: string;
  run: () => Promise<unknown>;
  expectCalls: number;
  expect?: unknown;
};

clearCircuitBreakers();

// --- ours
const ours = {
  retry: ourRetry({ maxAttempts: 3, initialDelay: 100, logger: silent })(fn),
  breaker: ourBreaker({ name: "bench-ok", logger: silent })(fn),
  // Rate mode (issue #13): the default window (the last 100 calls), and 30 s in 10 buckets.
  rateCount: ourBreaker({ name: "bench-rate-count", failureRateThreshold: 0.5, logger: silent })(
    fn,
  ),
  rateTime: ourBreaker({
    name: "bench-rate-time",
    failureRateThreshold: 0.5,
    windowDuration: 30_000,
    logger: silent,
  })(fn),
  open: (() => {
    const b = ourBreaker({ name: "bench-open", logger: silent });
    b.open();
    return b(fn);
  })(),
  timeout: ourTimeout(10_000, { logger: silent })(fn),
  composed: compose(
    ourFallback(() => 0, { logger: silent }),
    ourBreaker({ name: "bench-composed", logger: silent }),
    ourRetry({ maxAttempts: 3, initialDelay: 100, logger: silent }),
    ourTimeout(10_000, { logger: silent }),
  )(fn),
};

// --- cockatiel
const ck = {
  retry: ckRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
  breaker: ckBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  open: ckBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  timeout: ckTimeout(10_000, TimeoutStrategy.Cooperative),
  composed: wrap(
    ckFallback(handleAll, () => 0),
    ckBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    ckRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
    ckTimeout(10_000, TimeoutStrategy.Cooperative),
  ),
};
const ckIsolation = ck.open.isolate(); // held open for the whole run
void ckIsolation;

// --- opossum
const op = {
  breaker: new CircuitBreaker(fn, { timeout: false }),
  open: new CircuitBreaker(fn, { timeout: false }),
  timeout: new CircuitBreaker(fn, { timeout: 10_000 }),
};
op.open.open();

const swallow = (p: Promise<unknown>) => p.catch(() => "rejected");

/**
 * The breaker's floor: the least a consecutive-failures breaker can do per CLOSED call (a
 * counter; the clock only once the threshold is reached), with no stats, events or options.
 */
let floorFails = 0;
let floorOpenUntil = 0;
async function floorBreaker(): Promise<number> {
  if (floorFails >= 5 && performance.now() < floorOpenUntil) throw prebuilt;
  try {
    const v = await fn();
    floorFails = 0;
    return v;
  } catch (e) {
    if (++floorFails >= 5) floorOpenUntil = performance.now() + 60_000;
    throw e;
  }
}

/** Every case, by group. The first of each group is its baseline. */
export const groups: Record<string, Case[]> = {
  "retry-ok": [
    { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
    { name: "edge-resilience", run: () => ours.retry(), expectCalls: 1, expect: 42 },
    { name: "cockatiel", run: () => ck.retry.execute(fn), expectCalls: 1, expect: 42 },
    { name: "p-retry", run: () => pRetry(fn, { retries: 2 }), expectCalls: 1, expect: 42 },
  ],
  "breaker-ok": [
    { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
    { name: "floor (hand-written)", run: () => floorBreaker(), expectCalls: 1, expect: 42 },
    { name: "edge-resilience", run: () => ours.breaker(), expectCalls: 1, expect: 42 },
    {
      name: "edge-resilience rate, 10-bucket time window",
      run: () => ours.rateTime(),
      expectCalls: 1,
      expect: 42,
    },
    {
      name: "edge-resilience rate, 100-call window",
      run: () => ours.rateCount(),
      expectCalls: 1,
      expect: 42,
    },
    { name: "cockatiel", run: () => ck.breaker.execute(fn), expectCalls: 1, expect: 42 },
    { name: "opossum", run: () => op.breaker.fire(), expectCalls: 1, expect: 42 },
  ],
  "breaker-open": [
    {
      name: "raw-reject",
      run: () => swallow(Promise.reject(prebuilt)),
      expectCalls: 0,
      expect: "rejected",
    },
    { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
    {
      name: "edge-resilience",
      run: () => swallow(ours.open()),
      expectCalls: 0,
      expect: "rejected",
    },
    {
      name: "cockatiel",
      run: () => swallow(ck.open.execute(fn)),
      expectCalls: 0,
      expect: "rejected",
    },
    { name: "opossum", run: () => swallow(op.open.fire()), expectCalls: 0, expect: "rejected" },
  ],
  "timeout-ok": [
    { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
    { name: "edge-resilience", run: () => ours.timeout(), expectCalls: 1, expect: 42 },
    { name: "cockatiel", run: () => ck.timeout.execute(fn), expectCalls: 1, expect: 42 },
    {
      name: "p-timeout",
      run: () => pTimeout(fn(), { milliseconds: 10_000 }),
      expectCalls: 1,
      expect: 42,
    },
    { name: "opossum", run: () => op.timeout.fire(), expectCalls: 1, expect: 42 },
  ],
  "composed-ok": [
    { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
    { name: "edge-resilience", run: () => ours.composed(), expectCalls: 1, expect: 42 },
    { name: "cockatiel", run: () => ck.composed.execute(fn), expectCalls: 1, expect: 42 },
  ],
};

// --- capacity patterns, beside a minimal hand-written version of each (the floor).
const ourBh = ourBulkhead({ maxConcurrent: 100, maxQueue: 10 })(fn);
const ckBh = ckBulkhead(100, 10);
let floorRunning = 0;
const floorBulkhead = async () => {
  if (floorRunning >= 100) throw prebuilt;
  floorRunning++;
  try {
    return await fn();
  } finally {
    floorRunning--;
  }
};
groups["bulkhead-ok"] = [
  { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
  { name: "floor (hand-written)", run: floorBulkhead, expectCalls: 1, expect: 42 },
  { name: "edge-resilience", run: () => ourBh(), expectCalls: 1, expect: 42 },
  { name: "cockatiel", run: () => ckBh.execute(fn), expectCalls: 1, expect: 42 },
];
// Adaptive concurrency beside the bulkhead (same limit and queue). The floor: a counter,
// and one call in 64 timed (two clock reads), as the limiter does at high rates.
const ourAc = ourAdaptive({ initialLimit: 100, maxLimit: 100, maxQueue: 10 })(fn);
let floorInFlight = 0;
let floorSkip = 0;
let floorSum = 0;
const floorAdaptive = async () => {
  if (floorInFlight >= 100) throw prebuilt;
  floorInFlight++;
  if (++floorSkip < 64) {
    try {
      return await fn();
    } finally {
      floorInFlight--;
    }
  }
  floorSkip = 0;
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    floorInFlight--;
    floorSum += performance.now() - t0;
  }
};
groups["adaptive-ok"] = [
  { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
  { name: "floor (hand-written)", run: floorAdaptive, expectCalls: 1, expect: 42 },
  { name: "edge-resilience bulkhead", run: () => ourBh(), expectCalls: 1, expect: 42 },
  { name: "edge-resilience adaptive", run: () => ourAc(), expectCalls: 1, expect: 42 },
];
const ourHg = ourHedge({ delay: 10_000 })(fn);
/** A hedge that never fires: one timer per call, cleared when the first attempt wins. */
const floorHedge = async () => {
  const t = setTimeout(() => {}, 10_000);
  try {
    return await fn();
  } finally {
    clearTimeout(t);
  }
};
groups["hedge-ok"] = [
  { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
  { name: "floor (hand-written, a timer per call)", run: floorHedge, expectCalls: 1, expect: 42 },
  { name: "edge-resilience", run: () => ourHg(), expectCalls: 1, expect: 42 },
];

// --- fault injection that does not inject (issue #21): the cost of leaving a chaos policy in.
const ourChaosZero = ourChaos({ injectionRate: 0, fault: true })(fn);
const ourChaosOff = ourChaos({ injectionRate: 1, fault: true, enabled: false })(fn);
/** The least a chaos wrapper pays per call: one draw and a comparison. */
const floorChaos = async () => {
  if (Math.random() < 0) throw prebuilt;
  return await fn();
};
groups["chaos-off"] = [
  { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
  { name: "floor (hand-written, one draw)", run: floorChaos, expectCalls: 1, expect: 42 },
  { name: "edge-resilience (rate 0)", run: () => ourChaosZero(), expectCalls: 1, expect: 42 },
  { name: "edge-resilience (disabled)", run: () => ourChaosOff(), expectCalls: 1, expect: 42 },
];

// Rate limiting (issue #18): a limit never reached, and one always reached, beside a
// hand-written token bucket (the floor: two numbers, no key, no stats).
const BIG = 1_000_000_000;
const ourRlOk = ourRateLimiter({ limit: BIG, interval: 1_000 });
const ourRlOkFn = ourRlOk(fn);
const ourRlLimited = ourRateLimiter({ limit: 1, interval: 3_600_000 });
const ourRlLimitedFn = ourRlLimited(fn);
await ourRlLimitedFn(); // the only permit of the hour
calls--;
/** A minimal token bucket: `limit` per second, refilled on each call. */
function floorBucket(limit: number, interval: number) {
  let tokens = limit;
  let last = performance.now();
  const rate = limit / interval;
  return async () => {
    const now = performance.now();
    tokens = Math.min(limit, tokens + (now - last) * rate);
    last = now;
    if (tokens < 1) throw prebuilt;
    tokens--;
    return await fn();
  };
}
const floorOk = floorBucket(BIG, 1_000);
const floorLimited = floorBucket(1, 3_600_000);
await floorLimited();
calls--;
groups["ratelimit-ok"] = [
  { name: "raw", run: () => fn(), expectCalls: 1, expect: 42 },
  { name: "floor (hand-written token bucket)", run: floorOk, expectCalls: 1, expect: 42 },
  { name: "edge-resilience", run: () => ourRlOkFn(), expectCalls: 1, expect: 42 },
  {
    name: "edge-resilience take(key)",
    run: async () => (await ourRlOk.take("client")).allowed ? await fn() : 0,
    expectCalls: 1,
    expect: 42,
  },
];
groups["ratelimit-limited"] = [
  {
    name: "raw-reject",
    run: () => swallow(Promise.reject(prebuilt)),
    expectCalls: 0,
    expect: "rejected",
  },
  {
    name: "floor (hand-written token bucket)",
    run: () => swallow(floorLimited()),
    expectCalls: 0,
    expect: "rejected",
  },
  {
    name: "edge-resilience",
    run: () => swallow(ourRlLimitedFn()),
    expectCalls: 0,
    expect: "rejected",
  },
];

/** Runs every case once and checks its result and the number of calls of `fn`. */
export async function verify(): Promise<void> {
  for (const [group, cases] of Object.entries(groups)) {
    for (const c of cases) {
      const before = calls;
      const r = await c.run();
      const n = calls - before;
      if (n !== c.expectCalls || (c.expect !== undefined && r !== c.expect)) {
        throw new Error(
          `${group}/${c.name}: expected ${c.expect} with ${c.expectCalls} call(s), got ${r} with ${n}`,
        );
      }
    }
  }
}

/** Releases what the cases hold (opossum's interval timers). */
export function shutdown(): void {
  for (const b of Object.values(op)) b.shutdown();
}

// --- Hono: the same route bare and behind our middleware stack.
import { Hono, type MiddlewareHandler } from "hono";
import { routeCircuitBreaker, routeFallback, routeTimeout } from "../src/hono/mod.ts";

const bare = new Hono();
bare.get("/x", (c) => c.text("42"));
const guarded = new Hono();
guarded.get(
  "/x",
  routeFallback({ fallback: (c) => c.text("fallback") }),
  routeCircuitBreaker({ name: "bench-route", logger: silent }),
  routeTimeout(10_000, { logger: silent }),
  (c) => c.text("42"),
);
// Hono's own floor for a stack of three middlewares: three that do nothing.
const noop: MiddlewareHandler = async (_c, next) => {
  await next();
};
const noops = new Hono();
noops.get("/x", noop, noop, noop, (c) => c.text("42"));
// ...and the least a route timeout that really aborts must add: a signal for the handler.
const withSignal: MiddlewareHandler = async (c, next) => {
  c.set("signal", new AbortController().signal);
  await next();
};
const noopsSignal = new Hono();
noopsSignal.get("/x", noop, noop, withSignal, (c) => c.text("42"));
const request = (app: Hono) => async () => await (await app.request("/x")).text();
groups["hono-request"] = [
  { name: "bare route", run: request(bare), expectCalls: 0, expect: "42" },
  { name: "3 no-op middlewares", run: request(noops), expectCalls: 0, expect: "42" },
  {
    name: "3 no-op middlewares, one makes a signal",
    run: request(noopsSignal),
    expectCalls: 0,
    expect: "42",
  },
  { name: "edge-resilience stack", run: request(guarded), expectCalls: 0, expect: "42" },
];
