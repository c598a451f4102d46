/**
 * Client-side throttling: 20 calls fired at once at an upstream whose quota is
 * 5 requests per 500 ms (it answers 429 past it). A `rateLimiter` with the same
 * quota sits inside `retry`: calls whose permit comes within `maxWait` wait
 * for it, the others are refused at once with `RateLimitedError`, which
 * `retry` waits out (`retryAfter`, at no retry-budget cost). The upstream
 * never sees a request over its quota. Runs for about two seconds, exits 0.
 *
 *   npx -y deno@2.9.6 run -A examples/throttle.ts
 */
import { type Clock, compose, rateLimiter, retry, retryBudget, systemClock } from "../mod.ts";

/** Runs the demo; returns what the upstream saw. */
export async function throttleDemo(
  options: { clock?: Clock; log?: (line: string) => void; calls?: number } = {},
): Promise<{ served: number; tooMany: number; elapsed: number }> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => {});
  const t0 = clock.now();
  const at = () => `${((clock.now() - t0) / 1000).toFixed(2)}s`;

  // The upstream: 5 requests per 500 ms per client, enforced with a fixed window as many APIs do.
  const quota = rateLimiter({
    name: "upstream",
    limit: 5,
    interval: 500,
    clock,
    algorithm: "fixed-window",
  });
  let served = 0;
  let tooMany = 0;
  const upstream = async (id: number): Promise<Response> => {
    const a = await quota.take("our-client");
    if (!a.allowed) {
      tooMany++;
      return new Response(null, { status: 429 });
    }
    served++;
    log(`${at()}  upstream served call ${id} (${a.remaining} left in its window)`);
    return new Response(`item ${id}`);
  };

  // The client: the same quota, on the same clock grid (a sliding window never puts more than
  // `limit` in a grid window), waiting up to 500 ms for a permit.
  const call = compose(
    retry({
      maxAttempts: 5,
      initialDelay: 50,
      maxDelay: 1_000,
      clock,
      budget: retryBudget({ clock }),
    }),
    rateLimiter({
      name: "client",
      limit: 5,
      interval: 500,
      maxWait: 500,
      clock,
      algorithm: "sliding-window",
    }),
  )(upstream);

  const n = options.calls ?? 20;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => call(i + 1)));
  for (const r of results) await r.body?.cancel();
  return { served, tooMany, elapsed: clock.now() - t0 };
}

if (import.meta.main) {
  const r = await throttleDemo({ log: console.log });
  console.log(
    `${r.served} served, ${r.tooMany} answered 429, in ${(r.elapsed / 1000).toFixed(2)}s`,
  );
}
