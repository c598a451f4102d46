// Shared rate limits in real workerd (miniflare): three Workers — three
// isolates, each with its own limiters — share one Durable Object per key.
// 1,000 requests spread over them against `limit: 100` (an interval of a
// year: nothing refills) admit exactly 100, with or without leases; the
// object counts the RPCs (round trips) each mode costs.
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { test } from "./_harness.ts";
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

/** Sends `REQUESTS` requests, request i to isolate i % 3, `CONCURRENCY` at a time. */
async function spread<T>(send: (isolate: number, i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < REQUESTS; i += CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CONCURRENCY, REQUESTS - i) }, (_, j) => i + j);
    out.push(...await Promise.all(batch.map((k) => send(k % NAMES.length, k))));
  }
  return out;
}

test("Durable Object in workerd, 3 isolates: 1,000 takes against limit 100 admit exactly 100 (fixed window and token bucket), one RPC per take until denied; with lease 5 still 100 here (bound limit + isolates × 4 = 112), ~1 RPC per 5 admitted", async () => {
  const { mf, workers, json } = await start();
  try {
    const figures: Record<string, unknown> = {};
    for (const mode of ["exact", "exact-bucket", "lease", "lease-bucket"]) {
      const answers = await spread((w) =>
        json(workers[w], `/take?mode=${mode}`) as Promise<{ allowed: boolean; remaining: number }>
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
        // About one RPC per 5 admitted takes, plus the denials that reach the store.
        assert.ok(runs <= 100 / 5 + NAMES.length * CONCURRENCY, JSON.stringify(figures));
        assert.ok(runs < (figures[mode.replace("lease", "exact")] as { rpcs: number }).rpcs);
      }
      // Every isolate admitted some: the limit is the fleet's, not one isolate's.
      for (const n of perIsolate) assert.ok(n > 0, JSON.stringify(figures));
    }
    console.log(`workerd, 3 isolates, ${REQUESTS} takes, limit 100: ${JSON.stringify(figures)}`);
  } finally {
    await mf.dispose();
  }
});

test("Durable Object in workerd, 3 isolates, lease 5: across a fixed window's edge the fleet admits limit + isolates × (lease − 1) = 112 at most — and this worst case reaches it", async () => {
  const { mf, workers, json } = await start();
  try {
    const object = "er:rl:edge:client";
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 + 1_000;
    await json(workers[0], `/setnow?object=${object}&ms=${t0}`);
    // Late in one window each isolate takes once: leases 5, uses 1, keeps 4.
    for (const w of workers) assert.equal((await json(w, "/take?mode=edge")).allowed, true);
    // The next window: the store grants 100 afresh; the isolates still hold 3 × 4.
    await json(workers[0], `/setnow?object=${object}&ms=${t0 + 60_000}`);
    const answers = await spread((w) => json(workers[w], "/take?mode=edge"));
    const admitted = answers.filter((a: { allowed: boolean }) => a.allowed).length;
    const { runs } = await json(workers[0], `/runs?object=${object}`);
    console.log(
      `workerd, 3 isolates, lease 5, across a window edge: ${admitted} admitted, ${runs} RPCs`,
    );
    assert.ok(admitted <= 100 + NAMES.length * 4, `${admitted}`);
    assert.equal(
      admitted,
      112,
      "the worst case is reached: 100 granted + 12 leased before the edge",
    );
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
