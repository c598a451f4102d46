import assert from "node:assert/strict";
import { type Context, Hono } from "hono";
import { routeFallback, type RouteFallbackOptions } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { macrotask, test } from "./_harness.ts";

test("routeFallback: serves the last good response for the URL when the route fails", async () => {
  let fail = false;
  const a = new Hono();
  a.get("/prices", routeFallback({ lastGood: true }), (c) => {
    if (fail) throw new Error("upstream down");
    return c.json({ price: 42 }, 200, { "x-origin": "live" });
  });
  const first = await a.request("/prices");
  assert.deepEqual(await first.json(), { price: 42 });
  await macrotask(); // the copy is stored in the background
  fail = true;
  const res = await a.request("/prices");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-resilience-fallback"), "last-good");
  assert.equal(res.headers.get("x-origin"), "live");
  assert.deepEqual(await res.json(), { price: 42 });
  // A URL never seen before has no last good answer: the failure passes.
  assert.equal((await a.request("/prices?x=1")).status, 500);
});

test("routeFallback: configured response on 5xx, with the cause", async () => {
  const a = new Hono();
  const seen: number[] = [];
  a.get(
    "/x",
    routeFallback({
      fallback: (c, cause) => {
        seen.push(cause.response.status);
        return c.json({ stale: true }, 200);
      },
    }),
    (c) => c.text("bad gateway", 502),
  );
  const res = await a.request("/x");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { stale: true });
  assert.deepEqual(seen, [502]);
});

test("routeFallback: successes pass through; isFailureResult decides; maxEntries bounds the store", async () => {
  const a = new Hono();
  let status = 200;
  a.get(
    "/k/:n",
    routeFallback({
      lastGood: { maxEntries: 1 },
      isFailureResult: (res) => res.status === 404,
      fallback: (c) => c.text("fallback"),
    }),
    (c) => c.text(`v${c.req.param("n")}`, status as 200),
  );
  assert.equal(await (await a.request("/k/1")).text(), "v1");
  await macrotask();
  assert.equal(await (await a.request("/k/2")).text(), "v2");
  await macrotask();
  status = 404;
  assert.equal(await (await a.request("/k/2")).text(), "v2"); // last good of /k/2
  assert.equal(await (await a.request("/k/1")).text(), "fallback"); // evicted
  status = 500;
  assert.equal((await a.request("/k/1")).status, 500); // not a fallback case per isFailureResult
});

test("routeFallback: bad options fail at setup", () => {
  assert.throws(() => routeFallback({}), /'fallback' or 'lastGood'/);
  assert.throws(() => routeFallback({ lastGood: { maxEntries: 0 } }), RangeError);
  assert.throws(() => routeFallback({ lastGood: { maxBytes: 0 } }), /maxBytes/);
  assert.throws(() => routeFallback({ fallback: "x" as never }), TypeError);
  assert.throws(() => routeFallback({ lastGood: true, isFailure: 1 as never }), /'isFailure'/);
  assert.throws(
    () => routeFallback({ lastGood: true, when: () => true } as never),
    /^TypeError: routeFallback: option 'when' is now 'isFailureResult' \(responses\) and 'isFailure' \(thrown errors\)$/,
  );
  assert.throws(
    () => routeFallback(undefined as never),
    (e: unknown) => e instanceof TypeError && /'fallback' or 'lastGood'/.test(e.message),
  );
});

test("routeFallback: bodies over lastGood.maxBytes and event streams are not kept", async () => {
  const a = new Hono();
  let fail = false;
  const big = "x".repeat(2048);
  a.get("/big", routeFallback({ lastGood: { maxBytes: 1024 } }), (c) => {
    if (fail) return c.text("down", 500);
    // A streamed body (no content-length): the copy is abandoned past maxBytes.
    return new Response(new Blob([big]).stream());
  });
  a.get("/events", routeFallback({ lastGood: true }), (c) => {
    if (fail) return c.text("down", 500);
    return c.body("data: 1\n\n", 200, { "content-type": "text/event-stream" });
  });
  assert.equal((await (await a.request("/big")).text()).length, 2048); // the client gets it all
  assert.equal(await (await a.request("/events")).text(), "data: 1\n\n");
  await macrotask();
  fail = true;
  assert.equal((await a.request("/big")).status, 500);
  assert.equal((await a.request("/events")).status, 500);
});

test("routeFallback: the fallback never inherits the failed response's headers; Retry-After only on 503/429", async () => {
  const a = new Hono();
  const failed = {
    "set-cookie": "session=alice",
    "cache-control": "max-age=3600",
    "retry-after": "120",
    "x-upstream-error": "db down",
  };
  a.use("*", async (c, next) => {
    c.header("x-request-id", "r-1"); // middleware in front of the route: kept
    await next();
  });
  a.get(
    "/returned",
    routeFallback({ fallback: (c) => c.json({ stale: true }, 200) }),
    (c) => c.text("down", 500, failed),
  );
  a.get("/thrown", routeFallback({ fallback: (c) => c.json({ stale: true }) }), (c) => {
    c.status(500);
    for (const [k, v] of Object.entries(failed)) c.header(k, v);
    throw new Error("down");
  });
  a.get(
    "/busy",
    routeFallback({
      fallback: (c) => c.json({ busy: true }, 503, { "retry-after": "5" }),
    }),
    (c) => c.text("down", 500, failed),
  );
  a.get(
    "/own",
    routeFallback({
      // A fallback that is not 503/429 carries no Retry-After, even its own.
      fallback: () => new Response("ok", { headers: { "retry-after": "5", "x-own": "1" } }),
    }),
    (c) => c.text("down", 500, failed),
  );
  a.onError((_e, c) => c.text("error", 500));
  for (const path of ["/returned", "/thrown"]) {
    const res = await a.request(path);
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), { stale: true });
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("x-request-id"), "r-1", path);
    for (const h of Object.keys(failed)) assert.equal(res.headers.get(h), null, `${path} ${h}`);
  }
  const busy = await a.request("/busy");
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("retry-after"), "5");
  assert.equal(busy.headers.get("set-cookie"), null);
  await busy.body?.cancel();
  const own = await a.request("/own");
  assert.equal(own.headers.get("retry-after"), null);
  assert.equal(own.headers.get("x-own"), "1");
  assert.equal(await own.text(), "ok");
});

/** An app whose /x route answers `answer(c)` until `fail` is set. */
function twoUsersApp(
  answer: (c: Context) => Response,
  lastGood: RouteFallbackOptions["lastGood"] = true,
) {
  const state = { fail: false };
  const app = new Hono();
  app.get("/x", routeFallback({ lastGood }), (c) => {
    if (state.fail) return c.text("down", 500);
    return answer(c);
  });
  return { app, state };
}

const as = (user: string, extra: Record<string, string> = {}) =>
  new Request("http://localhost/x", { headers: { cookie: `session=${user}`, ...extra } });

test("routeFallback lastGood is private by default: user B never gets user A's body or cookie", async () => {
  // A credentialed request's response is neither kept nor served.
  const perUser = twoUsersApp((c) =>
    c.json({ user: c.req.header("cookie") }, 200, { "x-personal": "1" })
  );
  assert.equal((await perUser.app.request(as("alice"))).status, 200);
  await macrotask();
  perUser.state.fail = true;
  const b = await perUser.app.request(as("bob"));
  assert.equal(b.status, 500);
  assert.equal(await b.text(), "down");
  assert.equal((await perUser.app.request("/x")).status, 500); // anonymous: nothing was kept

  // Set-Cookie, Cache-Control private or no-store: never kept, even for anonymous requests.
  for (
    const headers of <Record<string, string>[]> [
      { "set-cookie": "session=alice; HttpOnly" },
      { "cache-control": "private, no-store" },
      { "cache-control": "private" },
      { "cache-control": "max-age=60, No-Store" },
      { "cache-control": 'private="x-user"' },
      { "cache-control": "no-cache" },
      { "cache-control": "max-age=60, must-revalidate" },
      { pragma: "no-cache" },
      { vary: "*" },
    ]
  ) {
    const { app, state } = twoUsersApp((c) => c.text("alice's page", 200, headers));
    assert.equal((await app.request("/x")).status, 200);
    await macrotask();
    state.fail = true;
    const res = await app.request("/x");
    assert.equal(res.status, 500, JSON.stringify(headers));
    assert.equal(res.headers.get("set-cookie"), null);
    assert.equal(await res.text(), "down");
  }

  // A public response kept from an anonymous request is not served to a credentialed one.
  const pub = twoUsersApp((c) => c.text("news", 200));
  await pub.app.request("/x");
  await macrotask();
  pub.state.fail = true;
  assert.equal((await pub.app.request(as("bob"))).status, 500);
  assert.equal(
    (await pub.app.request(
      new Request("http://localhost/x", {
        headers: { authorization: "Bearer bob" },
      }),
    )).status,
    500,
  );
  assert.equal(
    (await pub.app.request(
      new Request("http://localhost/x", { headers: { "proxy-authorization": "Basic Ym9i" } }),
    )).status,
    500,
  );
  const anon = await pub.app.request("/x");
  assert.equal(await anon.text(), "news");
  assert.equal(anon.headers.get("x-resilience-fallback"), "last-good");
});

test("routeFallback lastGood: a key that opts in to credentialed requests decides who shares", async () => {
  assert.throws(() => routeFallback({ lastGood: { credentialed: true } }), /lastGood.key/);
  const { app, state } = twoUsersApp(
    (c) => c.json({ user: c.req.header("cookie") }),
    { credentialed: true, key: (c) => `${c.req.header("cookie")} ${c.req.url}` },
  );
  await app.request(as("alice"));
  await macrotask();
  state.fail = true;
  const a = await app.request(as("alice"));
  assert.deepEqual(await a.json(), { user: "session=alice" });
  assert.equal((await app.request(as("bob"))).status, 500);
});

test("routeFallback lastGood honours Vary and drops hop-by-hop headers", async () => {
  const { app, state } = twoUsersApp(
    (c) =>
      c.text(`hello in ${c.req.header("accept-language")}`, 200, {
        vary: "Accept-Language",
        connection: "x-hop",
        "x-hop": "1",
        "keep-alive": "timeout=5",
        "proxy-connection": "keep-alive",
        trailer: "x-checksum",
        upgrade: "h2c",
        "x-kept": "yes",
      }),
    { refreshInterval: 0 }, // both languages within the interval: keep each
  );
  const lang = (l: string) =>
    new Request("http://localhost/x", { headers: { "accept-language": l } });
  await app.request(lang("en"));
  await macrotask();
  await app.request(lang("fr"));
  await macrotask();
  state.fail = true;
  const en = await app.request(lang("en"));
  assert.equal(await en.text(), "hello in en");
  const fr = await app.request(lang("fr"));
  assert.equal(await fr.text(), "hello in fr");
  assert.equal((await app.request(lang("de"))).status, 500);
  assert.equal(fr.headers.get("x-kept"), "yes");
  assert.equal(fr.headers.get("vary"), "Accept-Language");
  for (const h of ["connection", "x-hop", "keep-alive", "proxy-connection", "trailer", "upgrade"]) {
    assert.equal(fr.headers.get(h), null, h);
  }
});

test("routeFallback lastGood: a key's copy is refreshed at most once per refreshInterval", async () => {
  const clock = new FakeClock();
  let version = 1;
  let fail = false;
  const app = new Hono();
  app.get("/v", routeFallback({ lastGood: { refreshInterval: 1000 }, clock }), (c) => {
    if (fail) return c.text("down", 500);
    return c.text(`v${version++}`);
  });
  const served = async () => {
    fail = true;
    const text = await (await app.request("/v")).text();
    fail = false;
    return text;
  };
  for (let i = 0; i < 50; i++) assert.equal(await (await app.request("/v")).text(), `v${i + 1}`);
  await macrotask();
  assert.equal(await served(), "v1"); // 49 answers within the interval were not copied
  clock.tick(1000);
  assert.equal(await (await app.request("/v")).text(), "v51");
  await macrotask();
  assert.equal(await served(), "v51");
  assert.throws(
    () => routeFallback({ lastGood: { refreshInterval: -1 } }),
    /lastGood.refreshInterval/,
  );
});

test("routeFallback: isFailure judges thrown errors (not the 500 onError made of them), as for routeCircuitBreaker", async () => {
  class NotFound extends Error {}
  const a = new Hono();
  a.onError((e, c) => c.text(e.message, e instanceof NotFound ? 404 : 500));
  a.get(
    "/e/:kind",
    routeFallback({
      fallback: (c) => c.text("fallback"),
      isFailure: (e) => !(e instanceof NotFound),
      isFailureResult: () => false, // never asked for a thrown error
    }),
    (c) => {
      throw c.req.param("kind") === "missing" ? new NotFound("missing") : new Error("bug");
    },
  );
  assert.equal(await (await a.request("/e/bug")).text(), "fallback");
  const missing = await a.request("/e/missing");
  assert.equal(missing.status, 404);
  assert.equal(await missing.text(), "missing");
});
