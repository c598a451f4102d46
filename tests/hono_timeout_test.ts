import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { ResilienceTimeoutError } from "../mod.ts";
import { type ResilienceEnv, routeTimeout } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { macrotask, recordingLogger, type Runtime, test } from "./_harness.ts";
import { startUpstream, until } from "./_upstream.ts";

/** Tests that serve a loopback HTTP upstream: a Worker cannot listen on a socket. */
const UPSTREAM = {
  runtimes: ["deno", "node", "bun"] as Runtime[],
  why: "serves a loopback HTTP upstream (node:http), and a Worker cannot listen on a socket",
};

test(
  "routeTimeout: the upstream fetch is really aborted at the deadline (upstream sees the disconnect)",
  async () => {
    const up = await startUpstream(() => {/* never answers */});
    try {
      const app = new Hono<ResilienceEnv>();
      let fetchError: unknown;
      app.get("/slow", routeTimeout(100), async (c) => {
        try {
          const r = await fetch(`${up.url}/data`, { signal: c.var.signal });
          return new Response(r.body, r);
        } catch (e) {
          fetchError = e;
          throw e;
        }
      });
      const res = await app.request("/slow");
      assert.equal(res.status, 504);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      const body = await res.json();
      assert.equal(body.status, 504);
      assert.equal(body.title, "Gateway Timeout");
      await until(() => up.disconnects === 1);
      await until(() => fetchError !== undefined);
      assert.ok(
        fetchError instanceof ResilienceTimeoutError || (fetchError as Error).name === "AbortError",
      );
    } finally {
      await up.close();
    }
  },
  UPSTREAM,
);

test("routeTimeout: fast handlers are untouched and the signal is not aborted", async () => {
  const app = new Hono<ResilienceEnv>();
  let signal: AbortSignal | undefined;
  app.get("/fast", routeTimeout(1000), (c) => {
    signal = c.var.signal;
    return c.text("ok");
  });
  const res = await app.request("/fast");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok");
  assert.equal(signal!.aborted, false);
});

test("routeTimeout: custom Response and HTTPException answers", async () => {
  const clock = new FakeClock();
  const app = new Hono<ResilienceEnv>();
  const hang = () => new Promise<Response>(() => {});
  app.get("/custom", routeTimeout(50, { clock, onTimeout: (c) => c.text("too slow", 503) }), hang);
  app.get(
    "/exception",
    routeTimeout(50, {
      clock,
      onTimeout: () => new HTTPException(504, { message: "upstream slow" }),
    }),
    hang,
  );
  const p1 = app.request("/custom");
  const p2 = app.request("/exception");
  await clock.tickAsync(50);
  const r1 = await p1;
  assert.equal(r1.status, 503);
  assert.equal(await r1.text(), "too slow");
  const r2 = await p2;
  assert.equal(r2.status, 504);
  assert.equal(await r2.text(), "upstream slow");
  assert.equal(clock.pending, 0);
});

test("routeTimeout: a client disconnect aborts the handler's signal", async () => {
  const app = new Hono<ResilienceEnv>();
  let signal: AbortSignal | undefined;
  app.get("/x", routeTimeout(10_000), (c) => {
    signal = c.var.signal;
    return new Promise<Response>((_, reject) =>
      c.var.signal.addEventListener("abort", () => reject(c.var.signal.reason))
    );
  });
  const ctl = new AbortController();
  const p = app.request(new Request("http://localhost/x", { signal: ctl.signal }));
  await until(() => signal !== undefined);
  ctl.abort(new Error("client gone"));
  const res = await p;
  assert.equal(res.status, 500); // nobody is listening any more; the work stopped
  assert.equal(signal!.aborted, true);
});

test("routeTimeout: bad options fail at setup", () => {
  assert.throws(() => routeTimeout(0), RangeError);
  assert.throws(() => routeTimeout(NaN), RangeError);
  assert.throws(() => routeTimeout(10, { onTimeout: 5 as never }), /onTimeout/);
  assert.throws(() => routeTimeout(10, { clock: 5 as never }), /'clock'/);
});

test(
  "routeTimeout: the abandoned handler's failure is not logged by Hono's default onError; other errors still reach onError",
  async () => {
    const up = await startUpstream(() => {/* never answers */});
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      // The README's setup: no onError of the user's.
      const app = new Hono<ResilienceEnv>();
      const silentLogger = { info() {}, warn() {}, error() {} };
      app.get("/slow", routeTimeout(50, { logger: silentLogger }), async (c) => {
        const r = await fetch(`${up.url}/data`, { signal: c.var.signal });
        return new Response(r.body, r);
      });
      for (let i = 0; i < 3; i++) assert.equal((await app.request("/slow")).status, 504);
      await until(() => up.disconnects === 3);
      assert.deepEqual(logged, []);

      // A bug (thrown before the deadline) still reaches the user's onError.
      const seen: unknown[] = [];
      const app2 = new Hono<ResilienceEnv>();
      app2.onError((err, c) => {
        seen.push(err);
        return c.text("oops", 500);
      });
      app2.get("/bug", routeTimeout(1_000), () => {
        throw new Error("bug");
      });
      assert.equal(await (await app2.request("/bug")).text(), "oops");
      assert.equal((seen[0] as Error).message, "bug");
    } finally {
      console.error = original;
      await up.close();
    }
  },
  UPSTREAM,
);

test("routeTimeout: a fast handler never touches the request's signal; a slow one follows it from 10 ms on", async () => {
  const clock = new FakeClock();
  let reads = 0;
  const client = new AbortController();
  class CountingRequest extends Request {
    override get signal(): AbortSignal {
      reads++;
      return client.signal;
    }
  }
  const app = new Hono<ResilienceEnv>();
  app.get("/fast", routeTimeout(1_000, { clock }), (c) => c.text("ok"));
  let signal: AbortSignal | undefined;
  app.get("/slow", routeTimeout(1_000, { clock }), (c) => {
    signal = c.var.signal;
    return new Promise<Response>((_, reject) =>
      c.var.signal.addEventListener("abort", () => reject(c.var.signal.reason))
    );
  });
  for (let i = 0; i < 100; i++) {
    assert.equal(
      await (await app.request(new CountingRequest("http://localhost/fast"))).text(),
      "ok",
    );
  }
  assert.equal(reads, 0); // reading it costs µs per request on Node and Deno
  assert.equal(clock.pending, 0);

  // The client leaves at once: its signal is read, and followed, at 10 ms.
  const p = app.request(new CountingRequest("http://localhost/slow"));
  await macrotask();
  client.abort(new Error("client gone"));
  assert.equal(signal!.aborted, false);
  await clock.tickAsync(9);
  assert.equal(signal!.aborted, false);
  await clock.tickAsync(1);
  assert.equal(signal!.aborted, true);
  assert.equal((signal!.reason as Error).message, "client gone");
  assert.equal(reads, 1);
  await p;
  assert.equal(clock.pending, 0);
});

test("routeTimeout: a timeout on every request logs one line, then a count (no log storm)", async () => {
  const clock = new FakeClock();
  const logger = recordingLogger();
  const app = new Hono<ResilienceEnv>();
  app.get(
    "/slow",
    routeTimeout(50, { clock, logger }),
    (c) =>
      new Promise<Response>((_, reject) =>
        c.var.signal.addEventListener("abort", () => reject(c.var.signal.reason))
      ),
  );
  for (let i = 0; i < 20; i++) {
    const res = app.request("/slow");
    await clock.tickAsync(50);
    assert.equal((await res).status, 504);
  }
  const lines = logger.lines.filter((l) => l.includes("Timeout after 50ms: route"));
  assert.equal(lines.length, 1, logger.lines.join("\n"));
});
