import assert from "node:assert/strict";
import { ResilienceTimeoutError } from "../mod.ts";
import { parseRetryAfter, resilientFetch } from "../src/hono/mod.ts";
import { test } from "./_harness.ts";
import { startUpstream, until } from "./_upstream.ts";

test("resilientFetch: retries 503 for GET, honours Retry-After, cancels discarded bodies", async () => {
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
});

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
});

test("resilientFetch: POST is not retried by default, and is with retryNonIdempotent (body resent)", async () => {
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
});

test("resilientFetch: per-attempt timeout aborts each attempt; the last response is returned as is", async () => {
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
});

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
});

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
  assert.throws(() => resilientFetch("http://x/", { maxAttempts: 51 }), RangeError);
  assert.throws(() => resilientFetch("http://x/", { attemptTimeout: 0 }), RangeError);
  assert.throws(() => resilientFetch("http://x/", { fetch: 1 as never }), TypeError);
  assert.throws(() => resilientFetch("http://x/", { retryStatuses: [503, 9000] }), /retryStatuses/);
  assert.throws(() => resilientFetch("http://x/", { initialDelay: -1 }), RangeError);
});

test("parseRetryAfter: seconds, HTTP dates, garbage", () => {
  assert.equal(parseRetryAfter("120"), 120_000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  const now = Date.UTC(2026, 0, 1);
  assert.equal(parseRetryAfter(new Date(now + 5000).toUTCString(), now), 5000);
  assert.equal(parseRetryAfter(new Date(now - 5000).toUTCString(), now), 0);
});
