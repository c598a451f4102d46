// Tests written to kill the mutants of src/hono/fallback.ts that survived the
// routeFallback tests (docs/mutation-testing.md): the option checks and their
// defaults, what is kept (size, Vary, variants, methods, statuses) and what a
// fallback takes over from the failed route's context, through `app.request`.
import assert from "node:assert/strict";
import { type Context, Hono } from "hono";
import { routeFallback, type RouteFallbackOptions } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { macrotask, test } from "./_harness.ts";

/** Lets background copies finish (a streamed body takes a few turns). */
async function settle() {
  for (let i = 0; i < 5; i++) await macrotask();
}

/** An app whose GET /x answers `answer(c)` until `state.fail`, then a 500. */
function flaky(
  answer: (c: Context) => Response | Promise<Response>,
  options: RouteFallbackOptions = { lastGood: true },
) {
  const state = { fail: false };
  const app = new Hono();
  app.get("/x", routeFallback(options), (c) => state.fail ? c.text("down", 500) : answer(c));
  return { app, state };
}

test("routeFallback: option messages name the option", () => {
  const cases: [unknown, RegExp][] = [
    [{ lastGood: 5 }, /^routeFallback: option 'lastGood' must be an object/],
    [{ lastGood: { size: 1 } }, /^routeFallback: lastGood: unknown option 'size'/],
    [{ lastGood: { key: "url" } }, /^routeFallback: option 'lastGood.key' must be a function/],
    [{ lastGood: { maxEntries: 1.5 } }, /'lastGood.maxEntries'/],
    [{ lastGood: { maxEntries: 1_000_001 } }, /'lastGood.maxEntries'/],
    [{ lastGood: { maxBytes: 1.5 } }, /'lastGood.maxBytes'/],
    [
      { lastGood: { credentialed: 1, key: () => "k" } },
      /^routeFallback: option 'lastGood.credentialed' must be a boolean$/,
    ],
    [
      { lastGood: { credentialed: true } },
      /^routeFallback: option 'lastGood.credentialed' needs option 'lastGood.key', which decides who shares an entry \(include the user's identity\)$/,
    ],
    [{ lastGood: false }, /^routeFallback: give option 'fallback' or 'lastGood' \(or both\)$/],
    [{ lastGood: true, clock: 5 }, /^routeFallback: option 'clock' must be an object/],
    [
      { lastGood: true, isFailureResult: 5 },
      /^routeFallback: option 'isFailureResult' must be a function/,
    ],
    [{ lastGood: true, isFailure: 5 }, /^routeFallback: option 'isFailure' must be a function/],
    [{ fallback: 5 }, /^routeFallback: option 'fallback' must be a function/],
  ];
  for (const [o, message] of cases) {
    assert.throws(() => routeFallback(o as never), { message }, String(message));
  }
  // Accepted: the bounds, credentialed false without a key, every lastGood option.
  routeFallback({ lastGood: { maxEntries: 1_000_000, maxBytes: 1, refreshInterval: 0 } });
  routeFallback({ lastGood: { credentialed: false } });
  routeFallback({
    lastGood: { key: () => "k", credentialed: true, maxEntries: 1, maxBytes: 1 },
    clock: new FakeClock(),
    isFailure: () => true,
    isFailureResult: () => true,
    fallback: () => new Response(""),
  });
});

test("routeFallback: lastGood false keeps nothing (the fallback answers)", async () => {
  const { app, state } = flaky((c) => c.text("live"), {
    lastGood: false,
    fallback: (c) => c.text("fallback"),
  });
  assert.equal(await (await app.request("/x")).text(), "live");
  await settle();
  state.fail = true;
  assert.equal(await (await app.request("/x")).text(), "fallback");
});

test("routeFallback: only GET 2xx answers are kept", async () => {
  const app = new Hono();
  let fail = false;
  let status = 404;
  const mw = routeFallback({ lastGood: true, isFailureResult: (r) => r.status === 503 });
  app.on(
    ["GET", "POST"],
    "/x",
    mw,
    (c) => fail ? c.text("down", 503) : c.text("ok", status as 404),
  );
  assert.equal((await app.request("/x")).status, 404); // not a failure, not good either
  status = 200;
  assert.equal((await app.request("/x", { method: "POST" })).status, 200);
  await settle();
  fail = true;
  assert.equal((await app.request("/x")).status, 503);
});

test("routeFallback: a body of exactly maxBytes is kept, streamed in chunks or with content-length", async () => {
  const chunks = ["ab", "cd", "ef"];
  const streamed = flaky(() =>
    new Response(
      new ReadableStream({
        start(ctl) {
          for (const s of chunks) ctl.enqueue(new TextEncoder().encode(s));
          ctl.close();
        },
      }),
    ), { lastGood: { maxBytes: 6 } });
  assert.equal(await (await streamed.app.request("/x")).text(), "abcdef");
  await settle();
  streamed.state.fail = true;
  assert.equal(await (await streamed.app.request("/x")).text(), "abcdef");

  const sized = flaky((c) => c.body("abcdef", 200, { "content-length": "6" }), {
    lastGood: { maxBytes: 6 },
  });
  await (await sized.app.request("/x")).text();
  await settle();
  sized.state.fail = true;
  assert.equal(await (await sized.app.request("/x")).text(), "abcdef");

  // One byte more: not kept, whether announced or streamed.
  const over = flaky((c) => c.body("abcdefg", 200, { "content-length": "7" }), {
    lastGood: { maxBytes: 6 },
  });
  await (await over.app.request("/x")).text();
  await settle();
  over.state.fail = true;
  assert.equal((await over.app.request("/x")).status, 500);
});

test("routeFallback: lastGood defaults: 1 MiB bodies, 100 keys, a 1000 ms refresh interval", async () => {
  const mib = 1 << 20;
  let size = mib;
  const big = flaky(() => new Response(new Uint8Array(size)));
  await (await big.app.request("/x")).arrayBuffer();
  await settle();
  big.state.fail = true;
  assert.equal((await (await big.app.request("/x")).arrayBuffer()).byteLength, mib);
  size = mib + 1;
  const bigger = flaky(() => new Response(new Uint8Array(size)));
  await (await bigger.app.request("/x")).arrayBuffer();
  await settle();
  bigger.state.fail = true;
  assert.equal((await bigger.app.request("/x")).status, 500);

  const app = new Hono();
  let fail = false;
  app.get(
    "/k/:n",
    routeFallback({ lastGood: true }),
    (c) => fail ? c.text("down", 500) : c.text(`v${c.req.param("n")}`),
  );
  for (let i = 0; i <= 100; i++) {
    await (await app.request(`/k/${i}`)).text();
    await macrotask();
  }
  await settle();
  fail = true;
  assert.equal((await app.request("/k/0")).status, 500, "the 101st key evicts the first");
  assert.equal(await (await app.request("/k/1")).text(), "v1");
  assert.equal(await (await app.request("/k/100")).text(), "v100");

  const clock = new FakeClock(5000); // not 0: the time since the copy is a difference
  let version = 0;
  const hot = flaky(() => new Response(`v${++version}`), { lastGood: true, clock });
  await (await hot.app.request("/x")).text();
  await settle();
  clock.tick(999);
  await (await hot.app.request("/x")).text();
  await settle();
  hot.state.fail = true;
  assert.equal(await (await hot.app.request("/x")).text(), "v1");
  hot.state.fail = false;
  clock.tick(1);
  await (await hot.app.request("/x")).text();
  await settle();
  hot.state.fail = true;
  assert.equal(await (await hot.app.request("/x")).text(), "v3");
});

test("routeFallback: two keys fit in maxEntries 2; a key kept again is the newest", async () => {
  const app = new Hono();
  let fail = false;
  app.get(
    "/k/:n",
    routeFallback({ lastGood: { maxEntries: 2, refreshInterval: 0 } }),
    (c) => fail ? c.text("down", 500) : c.text(`v${c.req.param("n")}`),
  );
  const get = async (n: number) => await (await app.request(`/k/${n}`)).text();
  await get(1);
  await settle();
  await get(2);
  await settle();
  await get(1); // kept again: now the newest
  await settle();
  await get(3); // evicts 2
  await settle();
  fail = true;
  assert.equal(await get(1), "v1");
  assert.equal(await get(3), "v3");
  assert.equal(await get(2), "down");
});

test("routeFallback: a kept answer is served again and again", async () => {
  const { app, state } = flaky((c) => c.text("live"));
  await (await app.request("/x")).text();
  await settle();
  state.fail = true;
  for (let i = 0; i < 3; i++) assert.equal(await (await app.request("/x")).text(), "live");
});

test("routeFallback: a 200 without a body is not kept", async () => {
  const { app, state } = flaky((c) => c.body(null, 200));
  await app.request("/x");
  await settle();
  state.fail = true;
  assert.equal((await app.request("/x")).status, 500);
});

test("routeFallback: proxy-revalidate and a no-store with a value are never kept", async () => {
  for (const cc of ["proxy-revalidate", 'no-store="x"', "max-age=5,,no-cache"]) {
    const { app, state } = flaky((c) => c.text("page", 200, { "cache-control": cc }));
    await (await app.request("/x")).text();
    await settle();
    state.fail = true;
    assert.equal((await app.request("/x")).status, 500, cc);
  }
  const { app, state } = flaky((c) => c.text("page", 200, { "cache-control": "max-age=5" }));
  await (await app.request("/x")).text();
  await settle();
  state.fail = true;
  assert.equal(await (await app.request("/x")).text(), "page");
});

test("routeFallback: at most 4 Vary variants per key; the same variant kept again replaces its copy", async () => {
  let n = 0;
  const { app, state } = flaky(
    (c) => c.text(`${c.req.header("accept-language")}${++n}`, 200, { vary: "Accept-Language, " }),
    { lastGood: { refreshInterval: 0 } },
  );
  const lang = (l: string) =>
    app.request(new Request("http://localhost/x", { headers: { "accept-language": l } }));
  for (const l of ["a", "b", "c", "d", "e", "e", "e", "e"]) {
    await (await lang(l)).text();
    await settle();
  }
  state.fail = true;
  assert.equal((await lang("a")).status, 500, "the fifth variant drops the first");
  assert.equal(await (await lang("b")).text(), "b2");
  assert.equal(await (await lang("d")).text(), "d4");
  assert.equal(await (await lang("e")).text(), "e8");
});

test("routeFallback: a kept answer drops Retry-After and the other hop-by-hop headers", async () => {
  const { app, state } = flaky((c) =>
    c.text("page", 200, {
      "retry-after": "5",
      te: "trailers",
      "proxy-authenticate": "Basic",
      "x-kept": "1",
    })
  );
  await (await app.request("/x")).text();
  await settle();
  state.fail = true;
  const res = await app.request("/x");
  assert.equal(await res.text(), "page");
  assert.equal(res.headers.get("x-kept"), "1");
  for (const h of ["retry-after", "te", "proxy-authenticate"]) {
    assert.equal(res.headers.get(h), null, h);
  }
});

test("routeFallback: the fallback takes none of the failed route's response headers, but those set in front", async () => {
  const outside = {
    "access-control-allow-origin": "*",
    vary: "Origin",
    "x-request-id": "r-1",
  };
  const inside: Record<string, string> = {
    "set-cookie": "a=1",
    "cache-control": "max-age=60",
    expires: "Thu, 01 Jan 2030 00:00:00 GMT",
    pragma: "x",
    age: "5",
    etag: '"v1"',
    "last-modified": "Thu, 01 Jan 2020 00:00:00 GMT",
    "retry-after": "9",
    location: "/elsewhere",
    "www-authenticate": "Basic",
    "clear-site-data": '"cache"',
    "content-type": "application/x-failed",
    "content-encoding": "x-failed",
    "content-language": "fr",
    "content-location": "/failed",
    "content-range": "bytes 0-1/2",
    "content-disposition": "attachment",
  };
  const app = new Hono();
  app.use("*", async (c, next) => {
    for (const [k, v] of Object.entries(outside)) c.header(k, v);
    await next();
  });
  // onError builds its own Response: the failed one shows none of the context's headers.
  app.onError(() => new Response("error", { status: 500 }));
  app.get("/x", routeFallback({ fallback: (c) => c.body("fallback") }), (c) => {
    c.status(500);
    for (const [k, v] of Object.entries(inside)) c.header(k, v);
    throw new Error("down");
  });
  // A failed response naming headers of its own (not in the list): dropped too.
  const stray = { "x-access-control-x": "1", "vary-x": "1", "x-request-id-x": "1" };
  app.get(
    "/y",
    routeFallback({ fallback: (c) => c.body("fallback") }),
    (c) => c.text("down", 500, stray),
  );
  for (const path of ["/x", "/y"]) {
    const res = await app.request(path);
    assert.equal(res.status, 200, path);
    assert.equal(await res.text(), "fallback");
    for (const [k, v] of Object.entries(outside)) {
      assert.equal(res.headers.get(k), v, `${path} ${k}`);
    }
    for (const k of Object.keys(path === "/x" ? inside : stray)) {
      if (k === "content-type") {
        assert.notEqual(res.headers.get(k), "application/x-failed", path);
      } else assert.equal(res.headers.get(k), null, `${path} ${k}`);
    }
  }
});

test("routeFallback: the fallback gets the thrown error; its 429 keeps Retry-After, another status its statusText", async () => {
  const seen: unknown[] = [];
  const boom = new Error("boom");
  const app = new Hono();
  app.get(
    "/busy",
    routeFallback({
      fallback: (_c, cause) => {
        seen.push(cause.error, cause.response.status);
        return new Response("slow down", { status: 429, headers: { "retry-after": "3" } });
      },
    }),
    () => {
      throw boom;
    },
  );
  app.get(
    "/stale",
    routeFallback({
      fallback: () =>
        new Response("stale", {
          status: 203,
          statusText: "Stale Copy",
          headers: { "retry-after": "3", "x-own": "1" },
        }),
    }),
    (c) => c.text("down", 500),
  );
  const busy = await app.request("/busy");
  assert.equal(busy.status, 429);
  assert.equal(busy.headers.get("retry-after"), "3");
  assert.equal(await busy.text(), "slow down");
  assert.deepEqual(seen, [boom, 500]);
  const stale = await app.request("/stale");
  assert.equal(stale.status, 203);
  assert.equal(stale.statusText, "Stale Copy");
  assert.equal(stale.headers.get("retry-after"), null);
  assert.equal(stale.headers.get("x-own"), "1");
  assert.equal(await stale.text(), "stale");
});

test("routeFallback: without isFailure every thrown error falls back; a failure with nothing kept and no fallback passes", async () => {
  const app = new Hono();
  app.onError((e, c) => c.text(e.message, 404));
  app.get("/x", routeFallback({ fallback: (c) => c.text("fallback") }), () => {
    throw new Error("gone");
  });
  app.get("/y", routeFallback({ lastGood: true }), () => {
    throw new Error("gone");
  });
  assert.equal(await (await app.request("/x")).text(), "fallback");
  const y = await app.request("/y");
  assert.equal(y.status, 404);
  assert.equal(await y.text(), "gone");
});

test("routeFallback: a number is not options", () => {
  assert.throws(() => routeFallback(5 as never), {
    name: "TypeError",
    message: /^routeFallback: option 'options' must be an object/,
  });
});

test("routeFallback: a failure with no body still gets the fallback", async () => {
  const app = new Hono();
  app.get("/x", routeFallback({ fallback: (c) => c.text("fallback") }), (c) => c.body(null, 503));
  const res = await app.request("/x");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "fallback");
});

test("routeFallback: a streamed body over maxBytes is not kept (the failure passes as it is)", async () => {
  const { app, state } = flaky(() => new Response(new Blob(["abcdefg"]).stream()), {
    lastGood: { maxBytes: 6 },
  });
  await (await app.request("/x")).text();
  await settle();
  state.fail = true;
  const res = await app.request("/x");
  assert.equal(res.status, 500);
  assert.equal(await res.text(), "down");
});

test("routeFallback: Pragma and Cache-Control directives are read trimmed", async () => {
  for (
    const headers of <Record<string, string>[]> [
      { pragma: "x, no-cache" },
      { "cache-control": 'no-cache ="set-cookie"' },
    ]
  ) {
    const { app, state } = flaky((c) => c.text("page", 200, headers));
    await (await app.request("/x")).text();
    await settle();
    state.fail = true;
    assert.equal((await app.request("/x")).status, 500, JSON.stringify(headers));
  }
});

test("routeFallback: the remaining hop-by-hop headers are not kept", async () => {
  const { app, state } = flaky((c) =>
    c.text("page", 200, { "proxy-authorization": "Basic eA==", "transfer-encoding": "chunked" })
  );
  await (await app.request("/x")).text();
  await settle();
  state.fail = true;
  const res = await app.request("/x");
  assert.equal(await res.text(), "page");
  assert.equal(res.headers.get("proxy-authorization"), null);
  assert.equal(res.headers.get("transfer-encoding"), null);
});

/** A response whose body is sent when `close()` is called: its copy is pending until then. */
function held(text: string) {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  return {
    response: new Response(body),
    close() {
      ctl.enqueue(new TextEncoder().encode(text));
      ctl.close();
    },
  };
}

test("routeFallback: a copy under way counts as taken: the key's next answers are not copied too", async () => {
  const clock = new FakeClock(5000);
  const pending: ReturnType<typeof held>[] = [];
  const app = new Hono();
  let fail = false;
  app.get("/x", routeFallback({ lastGood: true, clock }), (c) => {
    if (fail) return c.text("down", 500);
    const h = held(`v${pending.length + 1}`);
    pending.push(h);
    return h.response;
  });
  const first = await app.request("/x");
  fail = true;
  // Failing while the copy is read: nothing kept yet, the failure passes.
  const failed = await app.request("/x");
  assert.equal(await failed.text(), "down");
  fail = false;
  const second = await app.request("/x");
  for (const h of pending) h.close();
  await Promise.all([first.text(), second.text()]);
  await settle();
  fail = true;
  assert.equal(await (await app.request("/x")).text(), "v1");
});

test("routeFallback: the interval counts from when the copy was started, not when it was read", async () => {
  const clock = new FakeClock(5000);
  let version = 0;
  const pending: ReturnType<typeof held>[] = [];
  const app = new Hono();
  let fail = false;
  app.get("/x", routeFallback({ lastGood: true, clock }), (c) => {
    if (fail) return c.text("down", 500);
    const h = held(`v${++version}`);
    pending.push(h);
    return h.response;
  });
  const first = await app.request("/x"); // copy started at 5000
  clock.tick(500);
  pending[0].close(); // read at 5500
  await first.text();
  await settle();
  clock.tick(500); // 6000: a second since the copy started
  const second = await app.request("/x");
  pending[1]?.close();
  await second.text();
  await settle();
  fail = true;
  assert.equal(await (await app.request("/x")).text(), "v2");
});

test("routeFallback: maxEntries counts copies under way; a copy finished after its key was dropped is kept", async () => {
  const pending = new Map<string, ReturnType<typeof held>>();
  const app = new Hono();
  let fail = false;
  app.get("/k/:n", routeFallback({ lastGood: { maxEntries: 1, refreshInterval: 0 } }), (c) => {
    const n = c.req.param("n");
    if (fail) return c.text("down", 500);
    if (n === "slow") {
      const h = held("slow");
      pending.set(n, h);
      return h.response;
    }
    return c.text(`v${n}`);
  });
  const get = async (n: string) => await (await app.request(`/k/${n}`)).text();
  assert.equal(await get("1"), "v1");
  await settle();
  const slow = await app.request("/k/slow"); // its copy under way: /k/1 dropped
  fail = true;
  assert.equal(await get("1"), "down");
  fail = false;
  assert.equal(await get("2"), "v2"); // drops the slow key's entry
  await settle();
  pending.get("slow")!.close(); // finished now: kept, /k/2 dropped
  assert.equal(await slow.text(), "slow");
  await settle();
  fail = true;
  assert.equal(await get("slow"), "slow");
  assert.equal(await get("2"), "down");
});

test("routeFallback: variants differing in one of two Vary'd headers are both kept; a changed Vary replaces", async () => {
  let vary = "Accept-Language, X-V";
  const { app, state } = flaky(
    (c) => c.text(`${c.req.header("accept-language")}${c.req.header("x-v")}`, 200, { vary }),
    { lastGood: { refreshInterval: 0 } },
  );
  const req = (l: string, v: string) =>
    app.request(new Request("http://localhost/x", { headers: { "accept-language": l, "x-v": v } }));
  await (await req("en", "1")).text();
  await settle();
  await (await req("en", "2")).text();
  await settle();
  state.fail = true;
  assert.equal(await (await req("en", "1")).text(), "en1");
  assert.equal(await (await req("en", "2")).text(), "en2");
  // Vary narrowed to none: the new copy serves every request.
  state.fail = false;
  vary = "";
  await (await req("de", "3")).text();
  await settle();
  state.fail = true;
  assert.equal(await (await req("en", "1")).text(), "de3");
});
