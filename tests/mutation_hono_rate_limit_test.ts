// Tests written to kill the mutants of src/hono/rate_limit.ts that survived
// its own tests (docs/mutation-testing.md): the header fields, problem body,
// health check and option messages a client or an operator sees, through
// `app.request`.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { HealthCheck, MemoryStore } from "../mod.ts";
import { routeRateLimiter } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

type Options = Parameters<typeof routeRateLimiter>[0];

function app(options: Partial<Options> = {}) {
  const mw = routeRateLimiter({
    name: "api",
    limit: 2,
    interval: 60_000,
    key: () => "client",
    ...options,
  } as Options);
  const a = new Hono();
  a.onError((e, c) => c.text(String(e), 500));
  a.use("/api/*", mw);
  a.get("/api/items", (c) => c.text("ok"));
  return { a, mw };
}

/** A shared store whose answers cannot tell the permits left (like Cloudflare's binding). */
function blindStore() {
  const inner = new MemoryStore();
  return {
    kind: "authoritative" as const,
    knowsRemaining: false,
    run: (key: string, op: Parameters<NonNullable<MemoryStore["run"]>>[1]) => inner.run(key, op),
  };
}

/**
 * The headers a response carries besides the body's own `content-type` (which runtimes set
 * differently: Bun's `Response` lists it lazily), sorted.
 */
function ours(h: Headers): string[] {
  return [...h.keys()].filter((k) => k !== "content-type").sort();
}

test("routeRateLimiter: a store that cannot tell the permits left: admitted answers carry the policy only, a 429 says 0 left", async () => {
  for (
    const [headers, admitted, limited] of [
      [
        "draft-11",
        [["ratelimit-policy", `"api";q=1;w=60`], ["ratelimit", null]],
        [["ratelimit-policy", `"api";q=1;w=60`], ["ratelimit", `"api";r=0;t=60`]],
      ],
      [
        "draft-7",
        [["ratelimit-policy", "1;w=60"], ["ratelimit", null]],
        [["ratelimit-policy", "1;w=60"], ["ratelimit", "limit=1, remaining=0, reset=60"]],
      ],
      [
        "draft-6",
        [["ratelimit-limit", "1"], ["ratelimit-remaining", null], ["ratelimit-reset", "60"]],
        [["ratelimit-limit", "1"], ["ratelimit-remaining", "0"], ["ratelimit-reset", "60"]],
      ],
    ] as const
  ) {
    const { a } = app({ headers, limit: 1, store: blindStore() as never, storeKey: headers });
    const ok = await a.request("/api/items");
    assert.equal(ok.status, 200, headers);
    for (const [h, v] of admitted) assert.equal(ok.headers.get(h), v, `${headers} admitted ${h}`);
    const fields = admitted.filter(([, v]) => v !== null).map(([h]) => h);
    assert.deepEqual(
      ours(ok.headers),
      [...(headers === "draft-6" ? ["ratelimit-policy"] : []), ...fields].sort(),
      `${headers}: no other header`,
    );
    const no = await a.request("/api/items");
    assert.equal(no.status, 429, headers);
    for (const [h, v] of limited) assert.equal(no.headers.get(h), v, `${headers} limited ${h}`);
  }
});

test("routeRateLimiter: with a store that knows, admitted answers say what is left", async () => {
  const { a } = app({ limit: 3, store: new MemoryStore() });
  const ok = await a.request("/api/items");
  assert.equal(ok.headers.get("ratelimit"), `"api";r=2;t=20`);
});

test("routeRateLimiter: the policy name is a quoted sf-string: quotes and backslashes escaped", async () => {
  const { a } = app({ name: `a"b\\c` });
  const res = await a.request("/api/items");
  assert.equal(res.headers.get("ratelimit-policy"), `"a\\"b\\\\c";q=2;w=60`);
  assert.match(res.headers.get("ratelimit")!, /^"a\\"b\\\\c";r=1;t=30$/);
});

test("routeRateLimiter: a limit of one request is said in the singular; the detail names the interval in seconds", async () => {
  const { a } = app({ limit: 1, interval: 30_000 });
  await a.request("/api/items");
  const res = await a.request("/api/items");
  assert.equal(res.status, 429);
  const body = await res.json();
  assert.equal(body.detail, "Rate limit 'api' exceeded: 1 request per 30s. Retry in 30s.");
  assert.equal(body.title, "Too Many Requests");
});

test("routeRateLimiter: a fallback's answer gets the fields but no Retry-After of ours", async () => {
  const { a } = app({ limit: 1, fallback: (c) => c.text("busy", 429) });
  await a.request("/api/items");
  const res = await a.request("/api/items");
  assert.equal(res.status, 429);
  assert.equal(await res.text(), "busy");
  assert.equal(res.headers.get("retry-after"), null);
  assert.equal(res.headers.get("ratelimit"), `"api";r=0;t=60`);
});

test("routeRateLimiter: its health check: non-critical, 'ok' when idle, then counts refusals in words", async () => {
  const clock = new FakeClock();
  const health = new HealthCheck();
  clock.tick(5_000); // refusals dated at a time other than 0
  const { a } = app({ name: "search", limit: 1, health, clock });
  let [check] = (await health.runAll()).checks;
  assert.deepEqual([check.name, check.critical, check.message], [
    "rateLimiter:search",
    false,
    "ok",
  ]);
  assert.equal(check.details?.limited, 0);
  await a.request("/api/items");
  assert.equal((await a.request("/api/items")).status, 429);
  [check] = (await health.runAll()).checks;
  assert.equal(check.message, "limiting: 1 request refused so far");
  assert.equal((await a.request("/api/items")).status, 429);
  [check] = (await health.runAll()).checks;
  assert.equal(check.message, "limiting: 2 requests refused so far");
  assert.equal(check.details?.limited, 2);
  clock.tick(9_999);
  assert.equal((await health.runAll()).status, "degraded");
  clock.tick(1);
  [check] = (await health.runAll()).checks;
  assert.deepEqual([check.status, check.message], ["healthy", "ok"]);
});

test("routeRateLimiter: option messages name the option", () => {
  const key = () => "k";
  const base = { limit: 1, interval: 1000, key };
  const cases: [Partial<Options>, RegExp][] = [
    [{ skip: 1 as never }, /^routeRateLimiter: option 'skip'/],
    [{ fallback: 1 as never }, /^routeRateLimiter: option 'fallback'/],
    [{ health: 1 as never }, /^routeRateLimiter: option 'health' must be an object/],
    [{ health: {} as never }, /^routeRateLimiter: option 'health' must be a HealthCheck/],
    [
      { headers: "draft-8" as never },
      /^routeRateLimiter: option 'headers' must be one of draft-11, draft-7, draft-6, none$/,
    ],
    [{ partitionKey: 1 as never }, /^routeRateLimiter: option 'partitionKey' must be a boolean$/],
  ];
  for (const [o, message] of cases) {
    assert.throws(
      () => routeRateLimiter({ ...base, ...o } as Options),
      { message },
      String(message),
    );
  }
  assert.throws(() => routeRateLimiter(undefined as never), {
    message: /^routeRateLimiter: option 'key' is required/,
  });
  for (const name of ["éa", "aé", "a\nb"]) {
    assert.throws(() => routeRateLimiter({ ...base, name }), {
      message: /^routeRateLimiter: option 'name' must be printable ASCII/,
    }, JSON.stringify(name));
  }
  // Outside draft-11 the name is not in a header: any name.
  assert.doesNotThrow(() => routeRateLimiter({ ...base, name: "é", headers: "draft-7" }));
  assert.doesNotThrow(() => routeRateLimiter({ ...base, partitionKey: true }));
});

test("routeRateLimiter: headers 'none' adds no header at all", async () => {
  const { a } = app({ headers: "none", limit: 1 });
  const ok = await a.request("/api/items");
  assert.deepEqual(ours(ok.headers), []);
  const no = await a.request("/api/items");
  assert.equal(no.status, 429);
  assert.deepEqual(ours(no.headers), ["retry-after"]);
});

test("routeRateLimiter: a key function giving a non-string is an error naming the option", async () => {
  for (const raw of [42, undefined, { id: 1 }]) {
    const { a } = app({ key: () => raw as never });
    const res = await a.request("/api/items");
    assert.equal(res.status, 500);
    assert.match(
      await res.text(),
      /option 'key' must give a non-empty string, got /,
      JSON.stringify(raw),
    );
  }
});
