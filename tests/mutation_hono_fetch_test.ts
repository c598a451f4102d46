// Tests written to kill the mutants of src/hono/fetch.ts that survived its own
// tests (docs/mutation-testing.md): which options and methods resilientFetch
// accepts and retries, the default backoff, when Retry-After counts, the
// HTTP-date edges, the names in its logs, and the errors it answers with.
// No sockets: an in-process fetch and a FakeClock (runs in workerd too).
import assert from "node:assert/strict";
import { circuitBreaker, CircuitOpenError, ResilienceTimeoutError } from "../mod.ts";
import {
  GatewayTimeoutError,
  parseRetryAfter,
  resilientFetch,
  UpstreamCircuitOpenError,
} from "../src/hono/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, silent, test } from "./_harness.ts";

/** A fetch whose answers the test scripts; records each request. */
function scripted(answer: (n: number, req: Request) => Promise<Response> | Response) {
  const seen: Request[] = [];
  const fetch = (req: Request) => {
    seen.push(req);
    return Promise.resolve(answer(seen.length, req));
  };
  return { seen, fetch };
}

/** A response that never comes, until the request's signal aborts. */
function hang(req: Request): Promise<Response> {
  return new Promise((_, reject) => {
    if (req.signal.aborted) return reject(req.signal.reason);
    req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true });
  });
}

const URL_ = "http://upstream.test/x";

test("resilientFetch: every RequestInit member and runtime extension passes the option check", async () => {
  const names = [
    "body",
    "cache",
    "credentials",
    "headers",
    "integrity",
    "keepalive",
    "method",
    "mode",
    "priority",
    "redirect",
    "referrer",
    "referrerPolicy",
    "signal",
    "window",
    "duplex",
    "cf",
    "client",
    "dispatcher",
    "verbose",
    "proxy",
    "tls",
    "unix",
    "decompress",
  ];
  for (const name of names) {
    const up = scripted(() => new Response("ok"));
    // Present but undefined: the check reads names; the Request ignores the value.
    const res = await resilientFetch(URL_, { [name]: undefined, fetch: up.fetch } as RequestInit);
    assert.equal(await res.text(), "ok", name);
  }
});

test("resilientFetch: GET, HEAD, OPTIONS, PUT and DELETE are retried; POST and PATCH are not", async () => {
  for (const method of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"]) {
    const up = scripted(() => new Response(null, { status: 503 }));
    const res = await resilientFetch(URL_, {
      method,
      maxAttempts: 3,
      initialDelay: 0,
      fetch: up.fetch,
      logger: silent,
    });
    assert.equal(res.status, 503, method);
    const idempotent = method !== "POST" && method !== "PATCH";
    assert.equal(up.seen.length, idempotent ? 3 : 1, method);
    assert.ok(up.seen.every((r) => r.method === method), method);
  }
});

test("resilientFetch: the default backoff waits 200 ms (± 25%), then doubles", async () => {
  const clock = new FakeClock();
  const up = scripted((n) => new Response(null, { status: n < 3 ? 500 : 200 }));
  const delays: number[] = [];
  const p = resilientFetch(URL_, {
    fetch: up.fetch,
    clock,
    logger: silent,
    onRetry: (e) => delays.push(e.delay),
  });
  await clock.tickAsync(1_000);
  assert.equal((await p).status, 200);
  assert.equal(delays.length, 2);
  assert.ok(delays[0] >= 150 && delays[0] < 250, `first wait ${delays[0]}`);
  assert.ok(delays[1] >= 300 && delays[1] < 500, `second wait ${delays[1]}`);
});

test("resilientFetch: Retry-After counts on 429 and 503 only", async () => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    const clock = new FakeClock();
    const up = scripted((n) =>
      new Response(null, {
        status: n === 1 ? status : 200,
        headers: { "retry-after": "7" },
      })
    );
    const delays: number[] = [];
    const p = resilientFetch(URL_, {
      initialDelay: 1,
      maxAttempts: 2,
      fetch: up.fetch,
      clock,
      logger: silent,
      onRetry: (e) => delays.push(e.delay),
    });
    await clock.tickAsync(10_000);
    assert.equal((await p).status, 200, String(status));
    const honoured = status === 429 || status === 503;
    assert.ok(honoured ? delays[0] === 7_000 : delays[0] < 2, `${status}: waited ${delays[0]}`);
  }
});

test("resilientFetch: only the listed retryStatuses are retried; 100 and 599 are valid codes, 99 and 600 not", async () => {
  const up = scripted((n) => new Response(null, { status: n === 1 ? 599 : 200 }));
  const res = await resilientFetch(URL_, {
    retryStatuses: [100, 599],
    initialDelay: 0,
    fetch: up.fetch,
    logger: silent,
  });
  assert.equal(res.status, 200);
  assert.equal(up.seen.length, 2);
  // A status not listed is returned as is.
  const once = scripted(() => new Response(null, { status: 503 }));
  const r2 = await resilientFetch(URL_, { retryStatuses: [500], fetch: once.fetch });
  assert.equal(r2.status, 503);
  assert.equal(once.seen.length, 1);
  for (const bad of [[99], [600], [500.5], "503", new Set([503])]) {
    await assert.rejects(
      resilientFetch(URL_, { retryStatuses: bad as never, fetch: once.fetch }),
      /^TypeError: resilientFetch: option 'retryStatuses' must be an array of HTTP status codes/,
      String(bad),
    );
  }
});

test("resilientFetch: a breaker option that is not a breaker (null included) is refused by name", async () => {
  for (const breaker of [null, 0, "b", { getStats: 1 }]) {
    await assert.rejects(
      resilientFetch(URL_, { breaker: breaker as never }),
      /^TypeError: resilientFetch: option 'breaker' must be a circuit breaker/,
      String(breaker),
    );
  }
});

test("resilientFetch: a hedged HEAD is allowed; a hedged POST is refused naming its method", async () => {
  const up = scripted(() => new Response(null));
  const res = await resilientFetch(URL_, {
    method: "HEAD",
    hedge: { delay: 50 },
    fetch: up.fetch,
    logger: silent,
  });
  assert.equal(res.status, 200);
  await assert.rejects(
    resilientFetch(URL_, { method: "POST", hedge: { delay: 50 }, fetch: up.fetch }),
    /^TypeError: resilientFetch: option 'hedge' is for GET and HEAD only \(a hedged POST could run twice\)$/,
  );
});

test("resilientFetch: the body of every discarded response is cancelled; the last is returned unread", async () => {
  const cancelled: number[] = [];
  const body = (n: number) =>
    new ReadableStream({
      pull(c) {
        c.enqueue(new TextEncoder().encode(`answer ${n}`));
        c.close();
      },
      cancel() {
        cancelled.push(n);
      },
    });
  const up = scripted((n) => new Response(body(n), { status: 503 }));
  const res = await resilientFetch(URL_, {
    maxAttempts: 3,
    initialDelay: 0,
    fetch: up.fetch,
    logger: silent,
  });
  assert.equal(res.status, 503);
  assert.deepEqual(cancelled, [1, 2]);
  assert.equal(await res.text(), "answer 3");
});

test("resilientFetch: its timeouts are logged and thrown under its name (the call's, then each attempt's)", async () => {
  for (
    const [options, operation, ms] of [
      [{ totalTimeout: 40 }, "quotes", 40],
      [{ attemptTimeout: 30, maxAttempts: 1 }, "quotes (attempt)", 30],
    ] as const
  ) {
    const clock = new FakeClock();
    const logger = recordingLogger();
    const p = resilientFetch(URL_, {
      ...options,
      name: "quotes",
      fetch: hang,
      clock,
      logger,
    }).catch((e) => e);
    await clock.tickAsync(ms);
    const e = await p;
    assert.ok(e instanceof GatewayTimeoutError, operation);
    assert.ok(e instanceof ResilienceTimeoutError);
    assert.equal(e.operation, operation);
    assert.equal(e.timeout, ms);
    assert.equal(e.message, (e.cause as Error).message, "the message of the deadline it reports");
    assert.match(e.message, new RegExp(`${ms}ms`));
    assert.ok(e.message.includes(operation), e.message);
    assert.ok(
      logger.lines.some((l) => l.includes(operation)),
      `logged under ${operation}: ${logger.lines}`,
    );
    assert.equal(clock.pending, 0);
  }
});

test("resilientFetch: unnamed, its policies are named resilientFetch (never the URL)", async () => {
  const clock = new FakeClock();
  const logger = recordingLogger();
  const p = resilientFetch("http://secret-host.test/?key=abc", {
    totalTimeout: 20,
    fetch: hang,
    clock,
    logger,
  }).catch((e) => e);
  await clock.tickAsync(20);
  const e = await p;
  assert.equal(e.operation, "resilientFetch");
  assert.ok(logger.lines.length > 0);
  assert.ok(logger.lines.every((l) => !l.includes("secret")), String(logger.lines));
});

test("resilientFetch: bad options are refused naming the option", async () => {
  const cases: [unknown, RegExp][] = [
    [null, /^TypeError: resilientFetch: option 'init' must be an object, got null$/],
    [{ fetch: 5 }, /^TypeError: resilientFetch: option 'fetch' must be a function/],
    [{ name: 5 }, /^TypeError: resilientFetch: option 'name' must be a non-empty string/],
    [{ onRetry: 5 }, /^TypeError: resilientFetch: option 'onRetry' must be a function/],
    [
      { maxAttempts: 2.5 },
      /^RangeError: resilientFetch: option 'maxAttempts' must be an integer >= 1 and <= 50, got 2\.5$/,
    ],
    // Refused for a method never retried too (only one attempt would be made).
    [
      { maxAttempts: 2.5, method: "POST" },
      /^RangeError: resilientFetch: option 'maxAttempts' must be an integer/,
    ],
    [{ maxAttempts: "3" }, /^TypeError: resilientFetch: option 'maxAttempts' must be a number/],
    [{ attemptTimeout: 0 }, /^RangeError: resilientFetch: option 'attemptTimeout' must be .* > 0/],
    [{ attemptTimeout: "1" }, /^TypeError: resilientFetch: option 'attemptTimeout'/],
    [{ totalTimeout: 0 }, /^RangeError: resilientFetch: option 'totalTimeout' must be .* > 0/],
    [{ totalTimeout: "1" }, /^TypeError: resilientFetch: option 'totalTimeout'/],
    [{ maxDelay: -1 }, /^RangeError: resilientFetch: option 'maxDelay'/],
  ];
  for (const [init, message] of cases) {
    await assert.rejects(resilientFetch(URL_, init as never), message, JSON.stringify(init));
  }
});

test("resilientFetch: retries that end in an error throw that error as is", async () => {
  const failure = new TypeError("connection refused");
  const up = scripted(() => Promise.reject(failure));
  const e = await resilientFetch(URL_, {
    maxAttempts: 2,
    initialDelay: 0,
    fetch: up.fetch,
    logger: silent,
  }).catch((e) => e);
  assert.equal(e, failure);
  assert.equal(up.seen.length, 2);
});

test("resilientFetch: an AbortError the caller did not cause (an upstream's or a proxy's) is retried", async () => {
  const up = scripted((n) =>
    n === 1 ? Promise.reject(new DOMException("aborted", "AbortError")) : new Response("ok")
  );
  const logger = recordingLogger();
  const res = await resilientFetch(URL_, { initialDelay: 0, fetch: up.fetch, logger });
  assert.equal(await res.text(), "ok");
  assert.equal(up.seen.length, 2);
  assert.ok(!logger.lines.some((l) => l.startsWith("ERROR")), String(logger.lines));
});

test("resilientFetch: retrying an error or a body-less response needs no onRetry (no hook error logged)", async () => {
  const logger = recordingLogger();
  const up = scripted((n) =>
    n === 1
      ? Promise.reject(new TypeError("reset"))
      : n === 2
      ? new Response(null, { status: 503 })
      : new Response("ok")
  );
  const res = await resilientFetch(URL_, { initialDelay: 0, fetch: up.fetch, logger });
  assert.equal(await res.text(), "ok");
  assert.equal(up.seen.length, 3);
  assert.ok(!logger.lines.some((l) => l.startsWith("ERROR")), String(logger.lines));
});

test("resilientFetch: its own deadline stays a 504 when the caller aborts just after it fired", async () => {
  const clock = new FakeClock();
  const ctl = new AbortController();
  const p = resilientFetch(URL_, {
    totalTimeout: 50,
    signal: ctl.signal,
    fetch: hang,
    clock,
    logger: silent,
  }).catch((e) => e);
  await clock.tickAsync(49);
  clock.tick(1); // the deadline fires; the caller goes away in the same turn
  ctl.abort(new Error("caller gone"));
  const e = await p;
  assert.ok(e instanceof GatewayTimeoutError, String(e));
  assert.equal(e.timeout, 50);
});

test("resilientFetch: an open breaker's error keeps the breaker's fields and its cause", async () => {
  const clock = new FakeClock();
  const breaker = circuitBreaker({
    failureThreshold: 1,
    resetTimeout: 60_000,
    clock,
    logger: silent,
  });
  breaker.open();
  const up = scripted(() => new Response("ok"));
  const e = await resilientFetch(URL_, {
    breaker,
    maxDelay: 1_000,
    fetch: up.fetch,
    clock,
    logger: silent,
  }).catch((e) => e);
  assert.ok(e instanceof UpstreamCircuitOpenError);
  assert.ok(e.cause instanceof CircuitOpenError);
  assert.ok(!(e.cause instanceof UpstreamCircuitOpenError));
  assert.equal(e.state, "open");
  assert.equal(e.timeUntilReset, 60_000);
  assert.equal(e.isolated, false);
  // An isolated breaker: the error says so (and no wait can end it: thrown at once).
  const isolated = circuitBreaker({ clock, logger: silent });
  isolated.isolate();
  const i = await resilientFetch(URL_, {
    breaker: isolated,
    fetch: up.fetch,
    clock,
    logger: silent,
  })
    .catch((e) => e);
  assert.ok(i instanceof UpstreamCircuitOpenError);
  assert.equal(i.isolated, true);
  assert.equal(up.seen.length, 0);
});

test("parseRetryAfter: the edges of an HTTP-date (23:59:59, second 61, a year 50 years ahead)", () => {
  const now = Date.UTC(2026, 0, 1);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 23:59:59 GMT", now), 86_399_000);
  assert.equal(parseRetryAfter("Thursday, 01-Jan-26 23:59:59 GMT", now), 86_399_000);
  assert.equal(parseRetryAfter("Thu Jan  1 23:59:59 2026", now), 86_399_000);
  // 60 is a leap second (read as :59); 61 is no second.
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:60 GMT", now), 59_000);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:61 GMT", now), undefined);
  // rfc850: exactly 50 years ahead is still ahead (more than 50 is the past century).
  assert.equal(
    parseRetryAfter("Wednesday, 01-Jan-76 00:00:00 GMT", now),
    Date.UTC(2076, 0, 1) - now,
  );
  assert.equal(parseRetryAfter("Thursday, 01-Jan-77 00:00:00 GMT", now), 0);
});

/** Counts the abort listeners added to `signal`. */
function listenersAdded(signal: AbortSignal): () => number {
  let added = 0;
  const add = signal.addEventListener.bind(signal);
  signal.addEventListener = ((type: string, l: EventListener, o?: AddEventListenerOptions) => {
    if (type === "abort") added++;
    add(type, l, o);
  }) as typeof signal.addEventListener;
  return () => added;
}

test("resilientFetch: a Request's own signal also given as init.signal is followed like one given once", async () => {
  // E.g. `resilientFetch(c.req.raw, { signal: c.req.raw.signal })`.
  const count = async (twice: boolean) => {
    const ctl = new AbortController();
    const input = new Request(URL_, { signal: ctl.signal });
    const added = listenersAdded(input.signal);
    const up = scripted((_, req) => hang(req));
    const p = resilientFetch(input, {
      ...(twice ? { signal: input.signal } : {}),
      fetch: up.fetch,
      logger: silent,
    });
    for (let i = 0; i < 10 && up.seen.length === 0; i++) await Promise.resolve();
    const during = added();
    ctl.abort(new Error("gone"));
    await assert.rejects(p, /gone/);
    assert.equal(up.seen.length, 1);
    return during;
  };
  const once = await count(false);
  assert.ok(once > 0);
  assert.equal(await count(true), once, "listeners added to the Request's signal");
});
