// Paths of the Hono integration that nothing else reached: resilientFetch following init.signal
// while the Request it is given has a signal of its own, and routeCircuitBreaker letting an
// ordinary error (not its own refusal) through unchanged. No sockets: runs in workerd too.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { resilientFetch, routeCircuitBreaker } from "../src/hono/mod.ts";
import { macrotask, silent, test } from "./_harness.ts";

/** A `fetch` whose requests hang until their signal aborts; it records what it was given. */
function hangingFetch() {
  const seen: Request[] = [];
  const fetch = (r: Request) => {
    seen.push(r);
    return new Promise<Response>((_, reject) => {
      if (r.signal.aborted) return reject(r.signal.reason);
      r.signal.addEventListener("abort", () => reject(r.signal.reason), { once: true });
    });
  };
  return { seen, fetch };
}

/** Counts the abort listeners added to and removed from `signal`. */
function abortListeners(signal: AbortSignal) {
  const counts = { added: 0, removed: 0, live: () => counts.added - counts.removed };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, l: EventListener, o?: AddEventListenerOptions) => {
    if (type === "abort") counts.added++;
    add(type, l, o);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, l: EventListener, o?: EventListenerOptions) => {
    if (type === "abort") counts.removed++;
    remove(type, l, o);
  }) as typeof signal.removeEventListener;
  return counts;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await macrotask();
  assert.ok(cond(), "condition not met");
}

test("resilientFetch: init.signal aborting stops a call whose Request has its own signal", async () => {
  for (const attempts of [1, 3]) {
    const { seen, fetch } = hangingFetch();
    const fromRequest = new AbortController();
    const fromInit = new AbortController();
    const input = new Request("https://upstream.example/a", { signal: fromRequest.signal });
    const followed = abortListeners(input.signal);
    const followedInit = abortListeners(fromInit.signal);
    const p = resilientFetch(
      input,
      {
        signal: fromInit.signal,
        fetch,
        maxAttempts: attempts,
        initialDelay: 0,
        attemptTimeout: 60_000,
        logger: silent,
      },
    );
    await until(() => seen.length === 1);
    const reason = new Error("caller gone");
    fromInit.abort(reason);
    // The caller's own reason, as is (not a 504, not retried).
    await assert.rejects(p, (e) => e === reason);
    assert.equal(seen.length, 1, `maxAttempts ${attempts}: no retry after the caller's abort`);
    assert.equal(seen[0].signal.aborted, true, "the upstream request was aborted");
    // Both signals were followed, and no longer are once the call settled.
    assert.ok(followed.added > 0 && followedInit.added > 0);
    // (A runtime's own copy of a Request may follow the original's signal for good, as undici
    // does: that many listeners may stay, no more.)
    const probe = new Request("https://upstream.example/b", {
      signal: new AbortController().signal,
    });
    const baseline = abortListeners(probe.signal);
    new Request(probe, {});
    assert.equal(followed.live(), baseline.live(), "listeners left on the Request's signal");
    assert.equal(followedInit.live(), 0, "listeners left on init.signal");
  }
});

test("resilientFetch: either signal already aborted (the other not) sends nothing", async () => {
  const { seen, fetch } = hangingFetch();
  const gone = new AbortController();
  gone.abort(new Error("init gone"));
  await assert.rejects(
    resilientFetch(
      new Request("https://upstream.example/", { signal: new AbortController().signal }),
      {
        signal: gone.signal,
        fetch,
        logger: silent,
      },
    ),
    /init gone/,
  );
  const left = new AbortController();
  left.abort(new Error("request gone"));
  await assert.rejects(
    resilientFetch(new Request("https://upstream.example/", { signal: left.signal }), {
      signal: new AbortController().signal,
      fetch,
      logger: silent,
    }),
    /request gone/,
  );
  assert.equal(seen.length, 0);
});

test("resilientFetch: the same signal as init.signal and the Request's is followed once", async () => {
  const { seen, fetch } = hangingFetch();
  const ctl = new AbortController();
  const p = resilientFetch(new Request("https://upstream.example/", { signal: ctl.signal }), {
    signal: ctl.signal,
    fetch,
    logger: silent,
  });
  await until(() => seen.length === 1);
  ctl.abort(new Error("both"));
  await assert.rejects(p, /both/);
  assert.equal(seen[0].signal.aborted, true);
});

test("routeCircuitBreaker: an ordinary error thrown inside it reaches onError unchanged, and counts", async () => {
  const bad = new TypeError("isFailureResult blew up");
  const seen: unknown[] = [];
  const app = new Hono();
  app.onError((e, c) => {
    seen.push(e);
    return c.text("onError", 500);
  });
  app.get(
    "/x",
    routeCircuitBreaker({
      failureThreshold: 2,
      resetTimeout: 60_000,
      logger: silent,
      isFailureResult: () => {
        throw bad;
      },
    }),
    (c) => c.text("ok"),
  );
  for (let i = 0; i < 2; i++) {
    const res = await app.request("/x");
    assert.equal(res.status, 500);
    assert.equal(await res.text(), "onError");
  }
  // The same error object, not wrapped, not answered as an open circuit.
  assert.deepEqual(seen, [bad, bad]);
  // Each was a failure of the route: the circuit is now open.
  const open = await app.request("/x");
  assert.equal(open.status, 503);
  assert.ok(open.headers.get("retry-after"));
  assert.equal(seen.length, 2);
});

test("routeCircuitBreaker: a thrown non-Error goes through to the caller as is, and counts", async () => {
  const app = new Hono();
  app.get(
    "/x",
    routeCircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000, logger: silent }),
    () => {
      throw "a string, not an Error"; // Hono's onError handles Error instances only
    },
  );
  await assert.rejects(
    (async () => await app.request("/x"))(),
    (e: unknown) => e === "a string, not an Error",
  );
  assert.equal((await app.request("/x")).status, 503);
});
