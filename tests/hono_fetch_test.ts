import assert from "node:assert/strict";
import { Hono } from "hono";
import { ResilienceTimeoutError } from "../mod.ts";
import { GatewayTimeoutError, parseRetryAfter, resilientFetch } from "../src/hono/mod.ts";
import { type Runtime, silent, test } from "./_harness.ts";
import { startUpstream, until } from "./_upstream.ts";

/** Tests that serve a loopback HTTP upstream: a Worker cannot listen on a socket. */
const UPSTREAM = {
  runtimes: ["deno", "node", "bun"] as Runtime[],
  why: "serves a loopback HTTP upstream (node:http), and a Worker cannot listen on a socket",
};

test(
  "resilientFetch: retries 503 for GET, honours Retry-After, cancels discarded bodies",
  async () => {
    const up = await startUpstream((_req, res, n) => {
      if (n < 3) {
        res.writeHead(503, { "retry-after": "0" });
        res.end("busy");
      } else res.end("ok");
    });
    try {
      const delays: number[] = [];
      const res = await resilientFetch(`${up.url}/x`, {
        initialDelay: 5_000, // would make the test slow if Retry-After: 0 were ignored
        onRetry: (e) => delays.push(e.delay),
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok");
      assert.equal(up.requests.length, 3);
      assert.deepEqual(delays, [0, 0]);
    } finally {
      await up.close();
    }
  },
  UPSTREAM,
);

test("resilientFetch: Retry-After is capped by maxDelay", async () => {
  const up = await startUpstream((_req, res, n) => {
    if (n === 1) {
      res.writeHead(429, { "retry-after": "3600" });
      res.end();
    } else res.end("ok");
  });
  try {
    const delays: number[] = [];
    const res = await resilientFetch(up.url, {
      maxDelay: 20,
      onRetry: (e) => delays.push(e.delay),
    });
    assert.equal(await res.text(), "ok");
    assert.deepEqual(delays, [20]);
  } finally {
    await up.close();
  }
}, UPSTREAM);

test(
  "resilientFetch: POST is not retried by default, and is with retryNonIdempotent (body resent)",
  async () => {
    const up = await startUpstream((_req, res, n) => {
      res.statusCode = n <= 2 ? 502 : 200;
      res.end();
    });
    try {
      const r1 = await resilientFetch(up.url, { method: "POST", body: "payload", initialDelay: 0 });
      assert.equal(r1.status, 502);
      assert.equal(up.requests.length, 1);
      const r2 = await resilientFetch(up.url, {
        method: "POST",
        body: "payload-2",
        initialDelay: 0,
        retryNonIdempotent: true,
      });
      assert.equal(r2.status, 200);
      assert.deepEqual(up.requests.slice(1).map((r) => r.body), ["payload-2", "payload-2"]);
    } finally {
      await up.close();
    }
  },
  UPSTREAM,
);

test(
  "resilientFetch: per-attempt timeout aborts each attempt; the last response is returned as is",
  async () => {
    const up = await startUpstream((_req, res, n) => {
      if (n === 1) return; // hangs: the attempt must be aborted
      res.statusCode = 503;
      res.end("still busy");
    });
    try {
      const res = await resilientFetch(up.url, {
        attemptTimeout: 50,
        initialDelay: 0,
        maxAttempts: 2,
      });
      assert.equal(res.status, 503);
      assert.equal(await res.text(), "still busy");
      await until(() => up.disconnects === 1);
    } finally {
      await up.close();
    }
  },
  UPSTREAM,
);

test("resilientFetch: total deadline and the caller's signal stop everything", async () => {
  const up = await startUpstream(() => {/* never answers */});
  try {
    await assert.rejects(
      resilientFetch(up.url, { totalTimeout: 60, attemptTimeout: 1000 }),
      (e) => e instanceof ResilienceTimeoutError && e.timeout === 60,
    );
    const ctl = new AbortController();
    const p = resilientFetch(up.url, { signal: ctl.signal });
    await until(() => up.requests.length === 2);
    ctl.abort(new Error("request cancelled"));
    await assert.rejects(p, /request cancelled/);
    await until(() => up.disconnects === 2);
    assert.equal(up.requests.length, 2); // no retry after the caller gave up
  } finally {
    await up.close();
  }
}, UPSTREAM);

test("resilientFetch: network errors are retried; bad options are refused", async () => {
  let calls = 0;
  const res = await resilientFetch("http://upstream.invalid/", {
    initialDelay: 0,
    fetch: (req) => {
      calls++;
      assert.ok(req instanceof Request);
      if (calls < 3) return Promise.reject(new TypeError("connection refused"));
      return Promise.resolve(new Response("ok"));
    },
  });
  assert.equal(await res.text(), "ok");
  assert.equal(calls, 3);
  await assert.rejects(resilientFetch("http://x/", { maxAttempts: 51 }), RangeError);
  await assert.rejects(resilientFetch("http://x/", { attemptTimeout: 0 }), RangeError);
  await assert.rejects(resilientFetch("http://x/", { fetch: 1 as never }), TypeError);
  await assert.rejects(
    resilientFetch("http://x/", { retryStatuses: [503, 9000] }),
    /retryStatuses/,
  );
  await assert.rejects(resilientFetch("http://x/", { initialDelay: -1 }), RangeError);
});

test("parseRetryAfter: exactly RFC 9110's delay-seconds and HTTP-date forms", () => {
  const now = Date.UTC(1994, 10, 6, 8, 49, 30); // Sun, 06 Nov 1994 08:49:30 GMT
  const table: [string | null, number | undefined][] = [
    ["120", 120_000],
    ["0", 0],
    ["007", 7_000],
    // HTTP-date: IMF-fixdate, then the obsolete rfc850 and asctime forms.
    ["Sun, 06 Nov 1994 08:49:37 GMT", 7_000],
    ["Sunday, 06-Nov-94 08:49:37 GMT", 7_000],
    ["Sun Nov  6 08:49:37 1994", 7_000],
    ["Sun Nov 16 08:49:30 1994", 10 * 86_400_000],
    ["Sun, 06 Nov 1994 08:49:00 GMT", 0], // in the past
    ["Sun, 06 Nov 1994 08:49:60 GMT", 29_000], // a leap second
    // Malformed: ignored, so the normal backoff applies.
    [null, undefined],
    ["", undefined],
    ["1.5", undefined],
    ["-1", undefined],
    ["+1", undefined],
    ["1,5", undefined],
    [" 3", undefined],
    ["3 ", undefined],
    ["1e3", undefined],
    ["0x10", undefined],
    ["soon", undefined],
    ["Sun, 6 Nov 1994 08:49:37 GMT", undefined], // one-digit day
    ["Sun, 06 Nov 1994 08:49:37 UTC", undefined],
    ["Sun, 06 Nov 1994 08:49:37 +0000", undefined],
    ["sun, 06 nov 1994 08:49:37 gmt", undefined], // case-sensitive
    ["Sun, 06 Nov 94 08:49:37 GMT", undefined],
    ["Sun, 31 Feb 1994 08:49:37 GMT", undefined],
    ["Sun, 06 Nov 1994 24:00:00 GMT", undefined],
    ["Sun, 06 Nov 1994 08:61:00 GMT", undefined],
    ["1994-11-06T08:49:37Z", undefined], // ISO 8601 is not an HTTP-date
    ["Nov 6 1994", undefined],
    ["6", 6_000],
  ];
  for (const [value, ms] of table) {
    assert.equal(parseRetryAfter(value, now), ms, `Retry-After: ${JSON.stringify(value)}`);
  }
  // rfc850's two-digit year: more than 50 years ahead means the previous century.
  const in2026 = Date.UTC(2026, 0, 1);
  assert.equal(parseRetryAfter("Thursday, 01-Jan-26 00:00:05 GMT", in2026), 5000);
  assert.equal(parseRetryAfter("Friday, 01-Jan-77 00:00:00 GMT", in2026), 0); // 1977
  assert.equal(
    parseRetryAfter("Saturday, 01-Jan-50 00:00:00 GMT", in2026),
    Date.UTC(2050, 0, 1) - in2026,
  );
});

test("resilientFetch: a malformed Retry-After is ignored (backoff applies), not read as 0", async () => {
  for (const value of ["1.5", "-1", "1,5"]) {
    let n = 0;
    const delays: number[] = [];
    const res = await resilientFetch("http://upstream.invalid/", {
      initialDelay: 1,
      maxAttempts: 2,
      onRetry: (e) => delays.push(e.delay),
      fetch: () =>
        Promise.resolve(
          ++n === 1
            ? new Response("busy", { status: 503, headers: { "retry-after": value } })
            : new Response("ok"),
        ),
    });
    assert.equal(await res.text(), "ok");
    assert.equal(delays.length, 1);
    assert.ok(delays[0] > 0, `Retry-After ${value}: waited ${delays[0]}ms`);
  }
});

test(
  "resilientFetch: the signal of a Request it is given stops it (alone or with init.signal)",
  async () => {
    const up = await startUpstream(() => {/* never answers */});
    try {
      const ctl = new AbortController();
      const p = resilientFetch(new Request(`${up.url}/a`, { signal: ctl.signal }), {
        initialDelay: 0,
        attemptTimeout: 5_000,
      });
      await until(() => up.requests.length === 1);
      ctl.abort(new Error("client gone"));
      await assert.rejects(p, /client gone/);
      await until(() => up.disconnects === 1);

      // Both signals count: the Request's aborts though init.signal does not.
      const fromRequest = new AbortController();
      const fromInit = new AbortController();
      const q = resilientFetch(new Request(`${up.url}/b`, { signal: fromRequest.signal }), {
        signal: fromInit.signal,
      });
      await until(() => up.requests.length === 2);
      fromRequest.abort(new Error("request aborted"));
      await assert.rejects(q, /request aborted/);
      await until(() => up.disconnects === 2);
      assert.equal(up.requests.length, 2); // no retry after the caller gave up

      // Already aborted: nothing is sent.
      const gone = new AbortController();
      gone.abort(new Error("already gone"));
      await assert.rejects(resilientFetch(new Request(up.url, { signal: gone.signal })), /gone/);
      assert.equal(up.requests.length, 2);
    } finally {
      await up.close();
    }
  },
  UPSTREAM,
);

test("resilientFetch: unknown option names are refused; RequestInit and runtime extensions pass", async () => {
  await assert.rejects(
    resilientFetch("http://x/", { maxAttempt: 2 } as never),
    /resilientFetch: unknown option 'maxAttempt' \(did you mean 'maxAttempts'\?\)/,
  );
  await assert.rejects(
    resilientFetch("http://x/", { timeout: 2 } as never),
    /resilientFetch: unknown option 'timeout'/,
  );
  const p = resilientFetch("http://x/", {
    method: "GET",
    headers: { a: "b" },
    redirect: "manual",
    cf: { cacheTtl: 5 },
    fetch: () => Promise.resolve(new Response("ok")),
  } as RequestInit);
  return p.then((r) => r.text());
});

/** Runs `fn` with console.error recorded (Hono's default onError prints there). */
async function consoleErrors(fn: () => Promise<void>): Promise<unknown[][]> {
  const seen: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void seen.push(args);
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return seen;
}

test(
  "resilientFetch in a route: its timeouts answer 504 problem+json, not a logged 500",
  async () => {
    const up = await startUpstream(() => {/* never answers */});
    try {
      const app = new Hono();
      app.get("/total", async () => {
        const res = await resilientFetch(`${up.url}/t`, { totalTimeout: 60, logger: silent });
        return new Response(res.body, res);
      });
      app.get("/attempts", async () => {
        const res = await resilientFetch(`${up.url}/a`, {
          attemptTimeout: 30,
          maxAttempts: 2,
          initialDelay: 0,
          logger: silent,
        });
        return new Response(res.body, res);
      });
      const logged = await consoleErrors(async () => {
        for (const path of ["/total", "/attempts"]) {
          const res = await app.request(path);
          assert.equal(res.status, 504, path);
          assert.equal(res.headers.get("content-type"), "application/problem+json");
          const body = await res.json();
          assert.equal(body.status, 504);
          assert.equal(body.title, "Gateway Timeout");
          assert.ok(!JSON.stringify(body).includes(up.url), "no upstream URL in the answer");
        }
      });
      assert.deepEqual(logged, []);
      await until(() => up.disconnects === 3);

      // The user's onError still receives it, as a ResilienceTimeoutError with its cause.
      const seen: unknown[] = [];
      app.onError((err, c) => {
        seen.push(err);
        return c.text("custom", 599 as never);
      });
      assert.equal((await app.request("/total")).status, 599);
      assert.ok(seen[0] instanceof ResilienceTimeoutError);
      assert.ok(seen[0] instanceof GatewayTimeoutError);
      assert.equal((seen[0] as ResilienceTimeoutError).timeout, 60);
      assert.ok((seen[0] as Error).cause instanceof ResilienceTimeoutError);
    } finally {
      await up.close();
    }
  },
  UPSTREAM,
);

test("resilientFetch: the caller's own abort reason is rethrown as is, not made a 504", async () => {
  const ctl = new AbortController();
  const reason = new ResilienceTimeoutError("caller", 5);
  const p = resilientFetch("http://upstream.invalid/", {
    signal: ctl.signal,
    fetch: (r) =>
      new Promise((_, reject) => r.signal.addEventListener("abort", () => reject(r.signal.reason))),
  });
  ctl.abort(reason);
  await assert.rejects(p, (e) => e === reason);
});
