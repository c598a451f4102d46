// Tests written to kill the mutants of src/hono/timeout.ts that survived its
// own tests (docs/mutation-testing.md): when a route answers 504, what its
// handler's signal follows and when it stops following it, through
// `app.request` and a FakeClock.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { ResilienceTimeoutError } from "../mod.ts";
import { type ResilienceEnv, routeTimeout } from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { macrotask, recordingLogger, silent, test } from "./_harness.ts";

/** A handler that never answers and fails with its signal's reason once aborted. */
const hang = (c: { var: { signal: AbortSignal } }) =>
  new Promise<Response>((_, reject) => {
    c.var.signal.addEventListener("abort", () => reject(c.var.signal.reason), { once: true });
  });

test("routeTimeout: a deadline under 10 ms answers at the deadline, not at 10 ms", async () => {
  for (const ms of [5, 10]) {
    const clock = new FakeClock();
    const app = new Hono<ResilienceEnv>();
    app.get("/slow", routeTimeout(ms, { clock, logger: silent }), hang);
    let res: Response | undefined;
    const p = Promise.resolve(app.request("/slow")).then((r) => (res = r));
    await clock.tickAsync(ms - 1);
    await macrotask();
    assert.ok(!res, `${ms} ms: not before the deadline`);
    await clock.tickAsync(1);
    await p;
    assert.equal((res as Response | undefined)?.status, 504, `${ms} ms`);
    assert.equal(clock.pending, 0);
  }
});

test("routeTimeout: the handler's signal is aborted with the route's timeout error, which is logged once", async () => {
  const clock = new FakeClock();
  const logger = recordingLogger();
  const app = new Hono<ResilienceEnv>();
  let signal: AbortSignal | undefined;
  app.get("/slow", routeTimeout(30, { clock, logger }), (c) => {
    signal = c.var.signal;
    return hang(c);
  });
  const p = app.request("/slow");
  await clock.tickAsync(30);
  assert.equal((await p).status, 504);
  assert.ok(signal!.reason instanceof ResilienceTimeoutError);
  assert.equal((signal!.reason as ResilienceTimeoutError).timeout, 30);
  assert.equal((signal!.reason as ResilienceTimeoutError).operation, "route");
  assert.equal(logger.lines.length, 1);
  assert.match(logger.lines[0], /Timeout after 30ms: route/);
});

test("routeTimeout: an inner routeTimeout follows the outer one's deadline at once", async () => {
  const clock = new FakeClock();
  const app = new Hono<ResilienceEnv>();
  let signal: AbortSignal | undefined;
  app.get(
    "/nested",
    routeTimeout(40, { clock, logger: silent }),
    routeTimeout(1_000, { clock, logger: silent }),
    (c) => {
      signal = c.var.signal;
      return hang(c);
    },
  );
  const p = app.request("/nested");
  await clock.tickAsync(40);
  assert.equal(signal!.aborted, true, "the outer deadline aborts the inner route's signal");
  assert.equal((signal!.reason as ResilienceTimeoutError).timeout, 40);
  assert.equal((await p).status, 504);
  assert.equal(clock.pending, 0, "the inner deadline is cleared too");
});

test("routeTimeout: an inner routeTimeout reached after the outer deadline starts aborted", async () => {
  const clock = new FakeClock();
  const app = new Hono<ResilienceEnv>();
  let aborted: boolean | undefined;
  app.get(
    "/late",
    routeTimeout(20, { clock, logger: silent }),
    async (c, next) => {
      // A slow middleware between the two: the outer deadline passes while it runs.
      await new Promise<void>((r) => c.var.signal.addEventListener("abort", () => r()));
      await next();
    },
    routeTimeout(1_000, { clock, logger: silent }),
    (c) => {
      aborted = c.var.signal.aborted;
      return c.text("late");
    },
  );
  const p = app.request("/late");
  await clock.tickAsync(20);
  assert.equal((await p).status, 504);
  await macrotask();
  assert.equal(aborted, true);
});

test("routeTimeout: a nested routeTimeout does not read the request's signal (the outer one does)", async () => {
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
  app.get(
    "/nested",
    routeTimeout(1_000, { clock, logger: silent }),
    routeTimeout(500, { clock, logger: silent }),
    hang,
  );
  const p = app.request(new CountingRequest("http://localhost/nested"));
  await clock.tickAsync(10);
  assert.equal(reads, 1);
  await clock.tickAsync(490);
  assert.equal((await p).status, 504);
  assert.equal(reads, 1);
  assert.equal(clock.pending, 0);
});

test("routeTimeout: once the route has answered, a client leaving no longer aborts the handler's signal", async () => {
  const clock = new FakeClock();
  const client = new AbortController();
  const app = new Hono<ResilienceEnv>();
  let signal: AbortSignal | undefined;
  let done!: () => void;
  app.get("/work", routeTimeout(1_000, { clock, logger: silent }), async (c) => {
    signal = c.var.signal;
    await new Promise<void>((r) => (done = r));
    return c.text("ok");
  });
  const p = app.request(new Request("http://localhost/work", { signal: client.signal }));
  await clock.tickAsync(10); // the route follows the client from now on
  done();
  assert.equal(await (await p).text(), "ok");
  client.abort(new Error("client gone after the answer"));
  assert.equal(signal!.aborted, false, "background work on c.var.signal goes on");
});

test("routeTimeout: the 504 replaces the aborted handler's error answer, headers included", async () => {
  const clock = new FakeClock();
  const app = new Hono<ResilienceEnv>();
  app.onError((_, c) => c.text("handler failed", 500, { "x-error-page": "1" }));
  app.get("/slow", routeTimeout(20, { clock, logger: silent }), hang);
  const p = app.request("/slow");
  await clock.tickAsync(20);
  const res = await p;
  assert.equal(res.status, 504);
  assert.equal(res.headers.get("x-error-page"), null);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
});

test("routeTimeout: options and ms are checked by name", () => {
  assert.throws(
    () => routeTimeout(10, 5 as never),
    /routeTimeout: option 'options' must be an object/,
  );
  assert.throws(() => routeTimeout(-1), /routeTimeout: option 'ms'/);
  assert.throws(
    () => routeTimeout(10, { clock: 5 as never }),
    { message: /^routeTimeout: option 'clock' must be an object/ },
  );
  assert.throws(
    () => routeTimeout(10, { logger: 5 as never }),
    /routeTimeout: option 'logger' must be an object/,
  );
  assert.throws(
    () => routeTimeout(10, { onTimeout: 5 as never }),
    /routeTimeout: option 'onTimeout'/,
  );
});

test("routeTimeout: the timeout warning carries the operation and the deadline as fields", async () => {
  const clock = new FakeClock();
  const warned: [string, unknown][] = [];
  const logger = {
    info() {},
    error() {},
    warn: (m: string, f?: unknown) => void warned.push([m, f]),
  };
  const app = new Hono<ResilienceEnv>();
  app.get("/slow", routeTimeout(25, { clock, logger }), hang);
  const p = app.request("/slow");
  await clock.tickAsync(25);
  assert.equal((await p).status, 504);
  assert.deepEqual(warned, [["Timeout after 25ms: route", { operation: "route", timeout: 25 }]]);
});

test("routeTimeout: a deadline of 10 ms or less never reads the request's signal", async () => {
  const clock = new FakeClock();
  let reads = 0;
  class CountingRequest extends Request {
    override get signal(): AbortSignal {
      reads++;
      return new AbortController().signal;
    }
  }
  const app = new Hono<ResilienceEnv>();
  app.get("/slow", routeTimeout(10, { clock, logger: silent }), hang);
  const p = app.request(new CountingRequest("http://localhost/slow"));
  await clock.tickAsync(10);
  assert.equal((await p).status, 504);
  assert.equal(reads, 0);
  assert.equal(clock.pending, 0);
});
