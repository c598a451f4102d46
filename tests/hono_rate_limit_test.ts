import assert from "node:assert/strict";
import { Hono } from "hono";
import { HealthCheck, type RateLimitOp, rateLimitReducer } from "../mod.ts";
import { ipKey, routeRateLimiter } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

type Options = Parameters<typeof routeRateLimiter>[0];

function app(options: Partial<Options> = {}) {
  let handled = 0;
  const mw = routeRateLimiter({
    name: "api",
    limit: 2,
    interval: 60_000,
    key: (c) => c.req.header("x-client") ?? "anon",
    ...options,
  } as Options);
  const a = new Hono();
  a.onError((e, c) => c.text(String(e), 500));
  a.use("/api/*", mw);
  a.get("/api/items", (c) => {
    handled++;
    return c.json({ items: [] });
  });
  a.get("/api/raw", () => {
    handled++;
    return new Response("raw"); // (headers added to a response the handler built itself)
  });
  return { a, mw, handled: () => handled };
}
const as = (client: string) => ({ headers: { "x-client": client } });

test("routeRateLimiter: draft-11 fields on every counted response; over the limit 429 problem+json with Retry-After; the handler does not run", async () => {
  const { a, mw, handled } = app();
  const ok = await a.request("/api/items", as("alice"));
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("ratelimit-policy"), `"api";q=2;w=60`);
  assert.equal(ok.headers.get("ratelimit"), `"api";r=1;t=30`);
  const raw = await a.request("/api/raw", as("alice"));
  assert.equal(await raw.text(), "raw");
  assert.equal(raw.headers.get("ratelimit"), `"api";r=0;t=60`);
  const limited = await a.request("/api/items", as("alice"));
  assert.equal(limited.status, 429);
  assert.equal(handled(), 2);
  assert.equal(limited.headers.get("content-type"), "application/problem+json");
  assert.equal(limited.headers.get("retry-after"), "30");
  assert.equal(limited.headers.get("ratelimit"), `"api";r=0;t=60`);
  assert.equal(limited.headers.get("ratelimit-policy"), `"api";q=2;w=60`);
  assert.deepEqual(await limited.json(), {
    type: "https://iana.org/assignments/http-problem-types#quota-exceeded",
    title: "Too Many Requests",
    status: 429,
    detail: "Rate limit 'api' exceeded: 2 requests per 60s. Retry in 30s.",
    "violated-policies": ["api"],
    limiter: "api",
    retryAfter: 30,
  });
  assert.equal((await a.request("/api/items", as("bob"))).status, 200, "keys are independent");
  assert.deepEqual(mw.limiter.getStats(), {
    name: "api",
    keys: 2,
    admitted: 3,
    limited: 1,
    waiting: 0,
    evicted: 0,
  });
});

test("routeRateLimiter: key is required at setup, naming it; bad options are refused", () => {
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000 } as never),
    /routeRateLimiter: option 'key' is required/,
  );
  const key = () => "k";
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000, key, headers: "draft-8" as never }),
    /option 'headers'/,
  );
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000, key, kye: 1 } as never),
    /did you mean 'key'/,
  );
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000, key, maxWait: 5 } as never),
    /unknown option 'maxWait'/,
  );
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000, key, cost: 2 as never }),
    /option 'cost'/,
  );
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000, key, name: "é" }),
    /option 'name' must be printable ASCII/,
  );
  assert.throws(() => routeRateLimiter({ limit: 0, interval: 1000, key }), /option 'limit'/);
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000, key, storeKey: "x" }),
    /option 'storeKey' needs option 'store'/,
  );
  assert.throws(
    () => routeRateLimiter({ limit: 1, interval: 1000, key, store: { kind: "advisory" } as never }),
    /option 'store' is advisory .*use durableObjectStore or denoKvStore/,
  );
});

test("routeRateLimiter: draft-7, draft-6 and none; w and t round up to whole seconds", async () => {
  const clock = new FakeClock();
  const seven = app({ headers: "draft-7", interval: 1500, clock });
  const r7 = await seven.a.request("/api/items");
  assert.equal(r7.headers.get("ratelimit-policy"), "2;w=2");
  assert.equal(r7.headers.get("ratelimit"), "limit=2, remaining=1, reset=1");
  const six = app({ headers: "draft-6", algorithm: "fixed-window", clock });
  const r6 = await six.a.request("/api/items");
  assert.equal(r6.headers.get("ratelimit-policy"), "2;w=60");
  assert.equal(r6.headers.get("ratelimit-limit"), "2");
  assert.equal(r6.headers.get("ratelimit-remaining"), "1");
  assert.equal(r6.headers.get("ratelimit-reset"), "60");
  assert.equal(r6.headers.get("ratelimit"), null);
  const none = app({ headers: "none" });
  const rn = await none.a.request("/api/items");
  assert.equal(rn.headers.get("ratelimit"), null);
  assert.equal(rn.headers.get("ratelimit-policy"), null);
  await none.a.request("/api/items");
  const limited = await none.a.request("/api/items");
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "30");
  // A sub-second interval: w=1, and Retry-After is never 0.
  const fast = app({ interval: 100, limit: 1, clock });
  const f1 = await fast.a.request("/api/items");
  assert.equal(f1.headers.get("ratelimit-policy"), `"api";q=1;w=1`);
  const f2 = await fast.a.request("/api/items");
  assert.equal(f2.status, 429);
  assert.equal(f2.headers.get("retry-after"), "1");
  assert.equal((await f2.json()).retryAfter, 1);
});

test("routeRateLimiter: pk is a hash of the key, only when asked; the key never appears in headers or bodies", async () => {
  const secret = "user-4242@example.com";
  const { a } = app({ partitionKey: true, key: () => secret });
  const res = await a.request("/api/items");
  const pk = /;pk=(:[A-Za-z0-9+/=]+:)$/.exec(res.headers.get("ratelimit")!)?.[1];
  assert.ok(pk, res.headers.get("ratelimit")!);
  assert.ok(res.headers.get("ratelimit-policy")!.endsWith(`;pk=${pk}`));
  assert.equal(
    (await a.request("/api/items")).headers.get("ratelimit")!.endsWith(pk!),
    true,
    "stable",
  );
  const limited = await a.request("/api/items");
  const text = JSON.stringify([...limited.headers]) + await limited.text();
  assert.ok(!text.includes("4242"), text);
  const other = app({ partitionKey: true, key: () => "someone-else" });
  const pk2 = (await other.a.request("/api/items")).headers.get("ratelimit")!;
  assert.ok(!pk2.endsWith(pk!));
  const off = app({ key: () => secret });
  assert.ok(!(await off.a.request("/api/items")).headers.get("ratelimit")!.includes("pk="));
});

test("routeRateLimiter: cost, skip, fallback, safeKey and a key function that gives nothing", async () => {
  const keys: string[] = [];
  const { a, mw } = app({
    limit: 10,
    cost: (c) => c.req.query("heavy") ? 5 : 1,
    skip: (c) => c.req.header("x-probe") === "1",
    fallback: (_c, e) => {
      keys.push(e.key!);
      return new Response(`slow down ${e.limiterName} ${e.retryAfter}`, { status: 429 });
    },
    key: (c) => c.req.header("x-client") ?? "",
  });
  const long = "x".repeat(5000) + "\n";
  assert.equal((await a.request("/api/items?heavy=1", as(long))).status, 200);
  assert.equal((await a.request("/api/items?heavy=1", as(long))).status, 200);
  for (let i = 0; i < 5; i++) {
    const probe = await a.request("/api/items", { headers: { "x-client": long, "x-probe": "1" } });
    assert.equal(probe.status, 200, "skipped: not counted");
    assert.equal(probe.headers.get("ratelimit"), null);
  }
  const res = await a.request("/api/items", as(long));
  assert.equal(res.status, 429);
  assert.match(await res.text(), /^slow down api \d+$/);
  assert.ok(res.headers.get("ratelimit"), "the fallback's answer still carries the fields");
  assert.ok(keys[0].length < 100 && !keys[0].includes("\n"), "the key passed safeKey");
  assert.equal(mw.limiter.getStats().keys, 1);
  const empty = await a.request("/api/items");
  assert.equal(empty.status, 500, "key(c) gave '': an error, not a shared bucket for everyone");
  assert.match(await empty.text(), /option 'key' must give a non-empty string/);
});

test("routeRateLimiter: health is degraded while limiting", async () => {
  const health = new HealthCheck();
  const { a } = app({ limit: 1, health });
  let h = await health.runAll();
  assert.equal(h.status, "healthy");
  await a.request("/api/items");
  assert.equal((await health.runAll()).status, "healthy");
  assert.equal((await a.request("/api/items")).status, 429);
  h = await health.runAll();
  assert.equal(h.status, "degraded");
  assert.match(JSON.stringify(h.toDict()), /limiting: 1 request refused so far/);
});

test("routeRateLimiter: with a store, instances share the count under `rl:` + the encoded `route:<name>`, `:<key>`", async () => {
  const clock = new FakeClock();
  const entries = new Map<string, unknown>();
  const store = {
    kind: "authoritative" as const,
    run(key: string, op: RateLimitOp) {
      const r = rateLimitReducer(entries.get(key), op, clock.wallNow());
      if (r.write) entries.set(key, r.value);
      return Promise.resolve(r.answer);
    },
  };
  const one = app({ store, clock, limit: 3 });
  const two = app({ store, clock, limit: 3 });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push((await (i % 2 ? one : two).a.request("/api/items", as("1.2.3.4"))).status);
  }
  assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
  assert.deepEqual([...entries.keys()], ["rl:route%3Aapi:1.2.3.4"]);
});

test("ipKey: IPv4 unchanged, IPv6 grouped by /64 (or the subnet given), IPv4-mapped as IPv4", () => {
  assert.equal(ipKey("203.0.113.7"), "203.0.113.7");
  assert.equal(ipKey("2001:db8:85a3:8d3:1319:8a2e:370:7348"), "2001:db8:85a3:8d3::/64");
  assert.equal(ipKey("2001:db8:85a3:8d3::1"), "2001:db8:85a3:8d3::/64");
  assert.equal(ipKey("2001:DB8:85A3:08D3:ffff::"), "2001:db8:85a3:8d3::/64");
  assert.equal(ipKey("[2001:db8::1]"), "2001:db8:0:0::/64");
  assert.equal(ipKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(ipKey("::1"), "0:0:0:0::/64");
  assert.equal(ipKey("::ffff:198.51.100.1"), "198.51.100.1");
  assert.equal(ipKey("2001:db8:aaaa:bbbb:cccc::", 48), "2001:db8:aaaa::/48");
  assert.equal(ipKey("2001:db8:aaaa:bbff::", 56), "2001:db8:aaaa:bb00::/56");
  assert.equal(ipKey("2001:db8::1", 128), "2001:db8:0:0:0:0:0:1");
  // Two addresses of one /64 share a key; of two /64s, not.
  assert.equal(ipKey("2001:db8:1:2::a"), ipKey("2001:db8:1:2:ffff::b"));
  assert.notEqual(ipKey("2001:db8:1:2::a"), ipKey("2001:db8:1:3::a"));
  for (
    const junk of [
      "",
      "unknown",
      "1:2:3",
      "1::2::3",
      "g::1",
      "1:2:3:4:5:6:7:8:9",
      "::ffff:1.2.3.999",
    ]
  ) {
    assert.equal(ipKey(junk), junk, junk);
  }
  assert.throws(() => ipKey("::1", 0), RangeError);
});

test("routeRateLimiter: the Workers recipe — cf-connecting-ip through ipKey; one IPv6 /64 shares a limit", async () => {
  const a = new Hono();
  a.use(
    routeRateLimiter({
      limit: 2,
      interval: 60_000,
      key: (c) => ipKey(c.req.header("cf-connecting-ip") ?? "unknown"),
    }),
  );
  a.get("/", (c) => c.text("ok"));
  const from = (ip: string) => a.request("/", { headers: { "cf-connecting-ip": ip } });
  assert.equal((await from("2001:db8:1:2::1")).status, 200);
  assert.equal((await from("2001:db8:1:2:ffff::9")).status, 200);
  assert.equal((await from("2001:db8:1:2:abcd::7")).status, 429, "a third address of the /64");
  assert.equal((await from("2001:db8:1:3::1")).status, 200, "another /64");
  assert.equal((await from("203.0.113.7")).status, 200);
  assert.equal((await from("::ffff:203.0.113.7")).status, 200, "the same IPv4, mapped");
  assert.equal((await from("203.0.113.7")).status, 429);
});

test("ipKey: a port is dropped (one key per address, not per connection)", async () => {
  const { ipKey } = await import("../src/hono/mod.ts");
  assert.equal(ipKey("1.2.3.4:5678"), "1.2.3.4");
  assert.equal(ipKey("[2001:db8::1]:443"), ipKey("2001:db8::1"));
  assert.equal(ipKey("[2001:db8::1]:443"), "2001:db8:0:0::/64");
});

test("routeRateLimiter: health follows the limiter's clock and dates a refusal when it happens, not when polled", async () => {
  const clock = new FakeClock();
  const health = new HealthCheck();
  const { a } = app({ limit: 1, health, clock });
  await a.request("/api/items");
  assert.equal((await a.request("/api/items")).status, 429);
  assert.equal((await health.runAll()).status, "degraded");
  clock.tick(9_000);
  assert.equal((await health.runAll()).status, "degraded");
  clock.tick(2_000); // 11 s after the refusal (the clock's time, not Date.now())
  assert.equal((await health.runAll()).status, "healthy");
  // A refusal not polled at once: 10.5 s later, it is already old.
  assert.equal((await a.request("/api/items")).status, 429);
  clock.tick(10_500);
  assert.equal((await health.runAll()).status, "healthy");
});

test("routeRateLimiter: whenUnavailable 'reject' — RateLimit's t agrees with Retry-After (until the store is tried again)", async () => {
  const clock = new FakeClock();
  const store = { kind: "authoritative" as const, run: () => Promise.reject(new Error("down")) };
  const { a } = app({
    store,
    clock,
    logger: silent,
    storeOptions: { whenUnavailable: "reject", retryInterval: 5000 },
  });
  for (let i = 0; i < 3; i++) {
    const r = await a.request("/api/items");
    assert.equal(r.status, 429);
    const retry = Number(r.headers.get("retry-after"));
    const t = Number(r.headers.get("ratelimit")!.match(/;t=(\d+)/)![1]);
    assert.ok(retry >= 1 && t === retry, `${r.headers.get("ratelimit")} / Retry-After ${retry}`);
    clock.tick(1500);
  }
});

test("routeRateLimiter: a key sent as another key's shortened form does not share its limit", async () => {
  const { a } = app({ limit: 1, key: (c) => c.req.query("k")! });
  const victim = "u".repeat(300);
  const forged = "u".repeat(64) + "…#" + "0".repeat(32);
  const { safeKey } = await import("../src/hono/circuit_breaker.ts");
  const short = safeKey(victim);
  for (const k of [forged, short]) {
    assert.equal((await a.request(`/api/items?k=${encodeURIComponent(k)}`)).status, 200);
  }
  assert.equal((await a.request(`/api/items?k=${victim}`)).status, 200);
});
