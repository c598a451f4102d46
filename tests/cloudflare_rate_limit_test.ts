// Shared rate limits in real workerd (miniflare): three Workers — three
// isolates, each with its own limiters — share one Durable Object per key.
// 1,000 requests spread over them against `limit: 100` (an interval of a
// year: nothing refills) admit exactly 100, with or without leases; the
// object counts the RPCs (round trips) each mode costs.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { Miniflare } from "miniflare";
import { rateLimiter } from "../mod.ts";
import { cloudflareRateLimitStore } from "../src/cloudflare/mod.ts";
import { routeRateLimiter } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";
import { bundle } from "./_runtimes.ts";

type Fetcher = {
  fetch(url: string, init?: { headers?: Record<string, string> }): Promise<{
    status: number;
    headers: { get(name: string): string | null };
    text(): Promise<string>;
  }>;
};

const NAMES = ["a", "b", "c"];
const REQUESTS = 1_000;
/** Requests in flight at once (spread over the isolates). */
const CONCURRENCY = 30;

async function start() {
  const script = await bundle("tests/_cloudflare_rl_fixture.ts", "neutral");
  const mf = new Miniflare({
    workers: NAMES.map((name) => ({
      name,
      modules: true,
      script,
      compatibilityDate: "2025-09-01",
      // One namespace for the 3 Workers, as one account's.
      ratelimits: {
        API_LIMIT: { namespace_id: "1001", simple: { limit: 5, period: 60 as never } },
      },
      durableObjects: {
        CIRCUITS: name === "a"
          ? { className: "CountedObject", useSQLite: true }
          : { className: "CountedObject", scriptName: "a", useSQLite: true },
      },
    })),
  });
  const workers = await Promise.all(
    NAMES.map(async (n) => (await mf.getWorker(n)) as unknown as Fetcher),
  );
  const json = async (w: Fetcher, path: string) =>
    JSON.parse(await (await w.fetch(`http://localhost${path}`)).text());
  return { mf, workers, json };
}

/** Sends `REQUESTS` requests, request i to isolate i % 3, `concurrency` at a time. */
async function spread<T>(
  send: (isolate: number, i: number) => Promise<T>,
  concurrency = CONCURRENCY,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < REQUESTS; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, REQUESTS - i) }, (_, j) => i + j);
    out.push(...await Promise.all(batch.map((k) => send(k % NAMES.length, k))));
  }
  return out;
}

test("Durable Object in workerd, 3 isolates: 1,000 takes against limit 100 admit exactly 100 (fixed window and token bucket), one RPC per take until denied; with lease 5 still 100 here (bound limit + isolates × 4 = 112), ~1 RPC per 5 admitted", async () => {
  const { mf, workers, json } = await start();
  try {
    const figures: Record<string, unknown> = {};
    for (const mode of ["exact", "exact-bucket", "lease", "lease-bucket", "lease-sequential"]) {
      // "lease-sequential": one request at a time (30 in flight for the others).
      const answers = await spread(
        (w) =>
          json(workers[w], `/take?mode=${mode}`) as Promise<
            { allowed: boolean; remaining: number }
          >,
        mode === "lease-sequential" ? 1 : CONCURRENCY,
      );
      const perIsolate = NAMES.map((_, w) =>
        answers.filter((a, i) => a.allowed && i % NAMES.length === w).length
      );
      const admitted = answers.filter((a) => a.allowed).length;
      const { runs } = await json(workers[0], `/runs?object=er:rl:${mode}:client`);
      figures[mode] = { admitted, perIsolate, rpcs: runs };
      const leasing = mode.startsWith("lease");
      if (!leasing) {
        assert.equal(admitted, 100, JSON.stringify(figures));
        // One RPC per admitted take; each isolate's denial cache then answers every other
        // denial without a round trip (one denied RPC per isolate, a few more in flight).
        assert.ok(runs >= 100 + NAMES.length, JSON.stringify(figures));
        assert.ok(runs <= 100 + NAMES.length * CONCURRENCY, JSON.stringify(figures));
      } else {
        // The stated bound per interval: limit + isolates × (lease − 1). Within one interval
        // (nothing refills) the leased permits were taken from the store's count: ≤ limit.
        assert.ok(admitted <= 100 + NAMES.length * 4, JSON.stringify(figures));
        assert.ok(admitted <= 100, JSON.stringify(figures));
        // Leases expire after leaseTtl (1 s) unused; at this pace every one is used.
        assert.ok(admitted >= 100 - NAMES.length * 4, JSON.stringify(figures));
        // One lease request per key in flight per isolate: concurrent takes that find no permit
        // meanwhile take their own (at most one RPC each, as without leases). One at a time,
        // about one RPC per 5 admitted takes, plus each isolate's first denial.
        if (mode === "lease-sequential") {
          assert.ok(runs <= 100 / 5 + 2 * NAMES.length, JSON.stringify(figures));
        } else assert.ok(runs <= 100 + NAMES.length * CONCURRENCY, JSON.stringify(figures));
      }
      // Every isolate admitted some: the limit is the fleet's, not one isolate's.
      for (const n of perIsolate) assert.ok(n > 0, JSON.stringify(figures));
    }
    console.log(`workerd, 3 isolates, ${REQUESTS} takes, limit 100: ${JSON.stringify(figures)}`);
  } finally {
    await mf.dispose();
  }
});

test("Durable Object in workerd, 3 isolates, lease 5: across a fixed window's edge the fleet admits limit + isolates × (lease − 1) = 112 at most, also after concurrent takes — and this worst case comes near it", async () => {
  const { mf, workers, json } = await start();
  try {
    const object = "er:rl:edge:client";
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 + 1_000;
    await json(workers[0], `/setnow?object=${object}&ms=${t0}`);
    // Late in one window each isolate takes 10 times at once: one take leases 5 and keeps 4,
    // the 9 others take their own permit (were each to lease 5, each isolate would keep 40).
    const first = await Promise.all(
      workers.flatMap((w) => Array.from({ length: 10 }, () => json(w, "/take?mode=edge"))),
    );
    assert.ok(first.every((a: { allowed: boolean }) => a.allowed));
    // The next window: the store grants 100 afresh; the isolates still hold 3 × 4.
    await json(workers[0], `/setnow?object=${object}&ms=${t0 + 60_000}`);
    const answers = await spread((w) => json(workers[w], "/take?mode=edge"));
    const admitted = answers.filter((a: { allowed: boolean }) => a.allowed).length;
    const { runs } = await json(workers[0], `/runs?object=${object}`);
    console.log(
      `workerd, 3 isolates, lease 5, across a window edge: ${admitted} admitted, ${runs} RPCs`,
    );
    assert.ok(admitted <= 100 + NAMES.length * 4, `${admitted}`);
    // Reached or nearly (a take arriving after the lease came back used one of its permits).
    assert.ok(admitted > 100, `${admitted}: permits leased before the edge were used after it`);
  } finally {
    await mf.dispose();
  }
});

test("routeRateLimiter in 3 Workers (isolates) sharing the Durable Object: 1,000 requests of one client → 100 answered 200, 900 answered 429 with Retry-After and RateLimit headers; another client unaffected", async () => {
  const { mf, workers, json } = await start();
  try {
    const ip = { "cf-connecting-ip": "203.0.113.7" };
    const responses = await spread(async (w) => {
      const r = await workers[w].fetch("http://localhost/api/hello", { headers: ip });
      return {
        status: r.status,
        body: await r.text(),
        policy: r.headers.get("ratelimit-policy"),
        rateLimit: r.headers.get("ratelimit"),
        retryAfter: r.headers.get("retry-after"),
      };
    });
    const ok = responses.filter((r) => r.status === 200);
    const limited = responses.filter((r) => r.status === 429);
    assert.equal(ok.length, 100);
    assert.equal(limited.length, REQUESTS - 100);
    for (const r of responses) {
      assert.equal(r.policy, `"api";q=100;w=${365 * 86_400}`);
      assert.match(r.rateLimit ?? "", /^"api";r=\d+;t=\d+$/);
    }
    // Remaining counts down across the isolates: each value 0..99 was given to one request.
    const remaining = ok.map((r) => Number(/r=(\d+)/.exec(r.rateLimit!)![1])).sort((a, b) => a - b);
    assert.deepEqual(remaining, Array.from({ length: 100 }, (_, i) => i));
    for (const r of limited) {
      assert.match(r.rateLimit!, /;r=0;/);
      assert.ok(Number(r.retryAfter) >= 1, r.retryAfter ?? "no Retry-After");
      assert.equal(
        JSON.parse(r.body).type,
        "https://iana.org/assignments/http-problem-types#quota-exceeded",
      );
    }
    // One RPC per admitted request; the denial caches answer most of the rest.
    const object = encodeURIComponent("er:rl:route%3Aapi:203.0.113.7");
    const { runs } = await json(workers[0], `/runs?object=${object}`);
    console.log(
      `routeRateLimiter, 3 isolates, ${REQUESTS} requests: ${ok.length} × 200, ${limited.length} × 429, ${runs} RPCs`,
    );
    assert.ok(runs >= 100 + NAMES.length && runs <= 100 + NAMES.length * CONCURRENCY, `${runs}`);
    // Another client has its own limit (its own object).
    const other = await workers[1].fetch("http://localhost/api/hello", {
      headers: { "cf-connecting-ip": "198.51.100.1" },
    });
    assert.equal(other.status, 200);
    assert.match(other.headers.get("ratelimit") ?? "", /;r=99;/);
    await other.text();
  } finally {
    await mf.dispose();
  }
});

// Cloudflare's Rate Limiting binding as a store (cloudflareRateLimitStore).

/** A stand-in for the binding: `limit` per `period` s per key, periods on the epoch grid. */
function fakeBinding(clock: FakeClock, limit: number, period: number) {
  const counts = new Map<string, number>();
  const b = {
    calls: 0,
    fail: false,
    async limit({ key }: { key: string }) {
      b.calls++;
      await Promise.resolve();
      if (b.fail) throw new Error("binding unavailable");
      const k = `${Math.floor(clock.wallNow() / (period * 1000))}:${key}`;
      const n = counts.get(k) ?? 0;
      if (n >= limit) return { success: false };
      counts.set(k, n + 1);
      return { success: true };
    },
  };
  return b;
}

test("cloudflareRateLimitStore: refused at construction unless the limiter says what the binding does (fixed-window, its limit, its period of 10 or 60 s)", () => {
  const clock = new FakeClock();
  const b = fakeBinding(clock, 5, 60);
  assert.throws(
    () => cloudflareRateLimitStore({} as never, { limit: 5, period: 60 }),
    /cloudflareRateLimitStore: expected a Rate Limiting binding/,
  );
  assert.throws(
    () => cloudflareRateLimitStore(b, undefined as never),
    /options 'limit' and 'period' \(the binding's own\) are required/,
  );
  assert.throws(
    () => cloudflareRateLimitStore(b, { limit: 5, period: 30 }),
    (e) => e instanceof RangeError && /option 'period' must be 10 or 60/.test(e.message),
  );
  assert.throws(
    () => cloudflareRateLimitStore(b, { limit: 0, period: 10 }),
    (e) => e instanceof RangeError && /option 'limit'/.test(e.message),
  );
  assert.throws(
    () => cloudflareRateLimitStore(b, { limit: 5, perod: 60 } as never),
    /unknown option 'perod' \(did you mean 'period'\?\)/,
  );
  const store = cloudflareRateLimitStore(b, { limit: 5, period: 60, clock });
  const base = { limit: 5, interval: 60_000, algorithm: "fixed-window" as const, store };
  assert.ok(rateLimiter(base));
  for (
    const [wrong, message] of [
      [{ algorithm: undefined }, /algorithm is "token-bucket", not "fixed-window"/],
      [{ algorithm: "sliding-window" }, /algorithm is "sliding-window"/],
      [{ limit: 6 }, /limit is 6, the binding's is 5/],
      [{ interval: 10_000 }, /interval is 10000 ms, the binding's period is 60000 ms/],
    ] as const
  ) {
    assert.throws(
      () => rateLimiter({ ...base, ...wrong }),
      (e) =>
        e instanceof TypeError &&
        /^rateLimiter: option 'store' cannot count this limit: .*fixed-window, 5 per 60 s/.test(
          e.message,
        ) && message.test(e.message),
    );
  }
  assert.throws(
    () => routeRateLimiter({ ...base, limit: 6, key: () => "k" }),
    /rateLimiter: option 'store' cannot count this limit: .*limit is 6/,
  );
  assert.equal(b.calls, 0);
});

test("cloudflareRateLimitStore (fake binding): one binding call per take (cost n: n calls), denials cached to the period's end, peek and reset never call it; a failing binding is an outage answered locally", async () => {
  const clock = new FakeClock(0, 1_800_000_020_000); // 20 s into a minute
  const b = fakeBinding(clock, 5, 60);
  const events: boolean[] = [];
  const l = rateLimiter({
    limit: 5,
    interval: 60_000,
    algorithm: "fixed-window",
    clock,
    logger: silent,
    store: cloudflareRateLimitStore(b, { limit: 5, period: 60, clock }),
    onStoreStatus: (e) => events.push(e.available),
  });
  assert.deepEqual(await l.take("k"), {
    allowed: true,
    limit: 5,
    remaining: 4, // an upper bound: the binding does not say
    resetAfter: 40_000,
    retryAfter: 0,
  });
  assert.equal((await l.take("k", 3)).allowed, true);
  assert.equal(b.calls, 4);
  assert.equal((await l.peek("k")).allowed, true);
  assert.equal(b.calls, 4, "peek never calls the binding (it cannot look without counting)");
  const denied = await l.take("k", 2); // 1 left: the first call succeeds, the second is refused
  assert.deepEqual(denied, {
    allowed: false,
    limit: 5,
    remaining: 0,
    resetAfter: 40_000,
    retryAfter: 40_000,
  });
  assert.equal(b.calls, 6);
  // A take of cost 1 asks again (a denial is cached per cost): refused, as the cost-2 take's
  // first call stayed counted. Then the cache answers until the period's end.
  for (let i = 0; i < 100; i++) assert.equal((await l.take("k")).allowed, false);
  assert.equal(b.calls, 7, "denials answered from the cache until the period's end");
  await l.reset("k");
  assert.equal(b.calls, 7);
  clock.tick(40_000); // the next period
  assert.equal((await l.take("k")).allowed, true);
  assert.equal(b.calls, 8);
  b.fail = true;
  assert.equal((await l.take("other")).allowed, true, "answered by the local limiter");
  assert.deepEqual(events, [false]);
});

test("routeRateLimiter on cloudflareRateLimitStore (fake binding): admitted responses carry RateLimit-Policy but no RateLimit (remaining unknown); a 429 carries r=0 and Retry-After", async () => {
  const clock = new FakeClock(0, 1_800_000_000_000);
  for (const headers of ["draft-11", "draft-7", "draft-6"] as const) {
    const app = new Hono();
    app.use(
      routeRateLimiter({
        name: "api",
        algorithm: "fixed-window",
        limit: 2,
        interval: 10_000,
        headers,
        clock,
        key: () => `client-${headers}`,
        store: cloudflareRateLimitStore(fakeBinding(clock, 2, 10), { limit: 2, period: 10, clock }),
      }),
    );
    app.get("/", (c) => c.text("ok"));
    for (let i = 0; i < 2; i++) {
      const ok = await app.request("/");
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get("ratelimit-policy") ?? "", /q=2;w=10|^2;w=10$/);
      assert.equal(ok.headers.get("ratelimit"), null, headers);
      assert.equal(ok.headers.get("ratelimit-remaining"), null, headers);
    }
    const limited = await app.request("/");
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "10");
    const field = headers === "draft-6"
      ? limited.headers.get("ratelimit-remaining")
      : limited.headers.get("ratelimit");
    assert.match(field ?? "", headers === "draft-11" ? /^"api";r=0;t=10$/ : /0/, headers);
  }
});

test("Cloudflare's Rate Limiting binding in workerd (miniflare's implementation): 3 Workers share one namespace: routeRateLimiter admits the binding's 5, refuses the 6th with 429, RateLimit r=0 and Retry-After", async () => {
  // The binding counts in periods on the epoch grid: out of a minute's last 5 s, the 6
  // requests below fall in one period.
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
  const { mf, workers } = await start();
  try {
    const ip = { headers: { "cf-connecting-ip": "192.0.2.1" } };
    for (let i = 0; i < 5; i++) {
      const r = await workers[i % 3].fetch("http://localhost/cf/hello", ip);
      assert.equal(r.status, 200, await r.text());
      assert.equal(r.headers.get("ratelimit-policy"), '"cf";q=5;w=60');
      assert.equal(r.headers.get("ratelimit"), null);
    }
    const limited = await workers[2].fetch("http://localhost/cf/hello", ip);
    assert.equal(limited.status, 429);
    assert.match(limited.headers.get("ratelimit") ?? "", /^"cf";r=0;t=\d+$/);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    await limited.text();
    // Another key has its own count.
    const other = await workers[0].fetch("http://localhost/cf/hello", {
      headers: { "cf-connecting-ip": "192.0.2.2" },
    });
    assert.equal(other.status, 200);
    await other.text();
  } finally {
    await mf.dispose();
  }
});
