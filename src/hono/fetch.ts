import type { Clock } from "../clock.ts";
import { compose } from "../compose.ts";
import type { Logger } from "../logger.ts";
import { retry, type RetryEvent } from "../retry.ts";
import { timeout } from "../timeout.ts";
import { checkFunction, checkNumber, checkObject } from "../validate.ts";

/** Options of {@linkcode resilientFetch}, besides the usual `RequestInit`. */
export interface ResilientFetchOptions {
  /**
   * Total calls, first included. Default 3. At most 50: every attempt is a
   * subrequest, and the Workers free plan allows 50 per request.
   */
  maxAttempts?: number;
  /** Backoff before the 2nd attempt, in ms. Default 200. */
  initialDelay?: number;
  /** Backoff multiplier. Default 2. */
  backoffFactor?: number;
  /** Cap of every wait, `Retry-After` included, in ms. Default 10000. */
  maxDelay?: number;
  /** Deadline of each attempt in ms (the attempt's fetch is aborted). Default 10000. */
  attemptTimeout?: number;
  /** Deadline of the whole call, waits included, in ms. Default 30000. */
  totalTimeout?: number;
  /**
   * Retry non-idempotent methods (POST, PATCH) too. Default `false`: only
   * GET, HEAD, OPTIONS, PUT, DELETE and TRACE are retried.
   */
  retryNonIdempotent?: boolean;
  /** Response statuses that are retried. Default 408, 429, 500, 502, 503, 504. */
  retryStatuses?: readonly number[];
  /** Called before each wait. */
  onRetry?: (event: RetryEvent) => void;
  /** The fetch to use (default: the global `fetch`). */
  fetch?: (request: Request) => Promise<Response>;
  /** Where retry and timeout messages go. */
  logger?: Logger;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
const RETRY_STATUSES = [408, 429, 500, 502, 503, 504];

/**
 * Milliseconds a `Retry-After` header asks to wait (delta-seconds or an
 * HTTP date), or `undefined` when absent or malformed.
 *
 * @example
 * ```ts
 * import { parseRetryAfter } from "edge-resilience/hono";
 *
 * console.log(parseRetryAfter("3")); // 3000
 * ```
 */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * `fetch` with retries and deadlines, for calling upstreams from handlers.
 *
 * - Retries network errors and 408/429/5xx responses with exponential backoff
 *   and jitter, for idempotent methods only unless `retryNonIdempotent`.
 * - Honours `Retry-After` on 429 and 503, capped by `maxDelay`.
 * - Each attempt has its own deadline (`attemptTimeout`) and the whole call a
 *   total one (`totalTimeout`); both abort the fetch, and so does `init.signal`
 *   (pass the route's `c.var.signal` or `c.req.raw.signal`).
 * - Bodies of discarded responses are cancelled. The last response is
 *   returned as is (a 503 after the last attempt is returned, not thrown).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { resilientFetch, type ResilienceEnv, routeTimeout } from "edge-resilience/hono";
 *
 * const app = new Hono<ResilienceEnv>();
 * app.get("/data", routeTimeout(8_000), async (c) => {
 *   const res = await resilientFetch("https://upstream.example/data", {
 *     signal: c.var.signal,
 *     maxAttempts: 3,
 *     attemptTimeout: 2_000,
 *   });
 *   return new Response(res.body, res);
 * });
 * ```
 */
export function resilientFetch(
  input: RequestInfo | URL,
  init: RequestInit & ResilientFetchOptions = {},
): Promise<Response> {
  const W = "resilientFetch";
  checkObject(W, "init", init);
  const {
    maxAttempts,
    initialDelay,
    backoffFactor,
    maxDelay,
    attemptTimeout,
    totalTimeout,
    retryNonIdempotent = false,
    retryStatuses = RETRY_STATUSES,
    onRetry,
    fetch: doFetch = (r: Request) => fetch(r),
    logger,
    clock,
    ...requestInit
  } = init;
  checkFunction(W, "fetch", doFetch);
  checkFunction(W, "onRetry", onRetry);
  const attempts = checkNumber(W, "maxAttempts", maxAttempts, 3, 1, { integer: true, max: 50 });
  const perAttempt = checkNumber(W, "attemptTimeout", attemptTimeout, 10_000, 0, {
    exclusiveMin: true,
  });
  const total = checkNumber(W, "totalTimeout", totalTimeout, 30_000, 0, { exclusiveMin: true });
  if (
    !Array.isArray(retryStatuses) ||
    !retryStatuses.every((n) => Number.isInteger(n) && n >= 100 && n <= 599)
  ) {
    throw new TypeError(`${W}: option 'retryStatuses' must be an array of HTTP status codes`);
  }
  const { signal, ...rest } = requestInit;
  const request = new Request(input, rest);
  const retryable = retryNonIdempotent || IDEMPOTENT.has(request.method);
  const statuses = new Set(retryStatuses);
  const policy = compose(
    timeout(total, { name: `${request.method} ${request.url}`, logger, clock }),
    retry({
      maxAttempts: retryable ? attempts : 1,
      initialDelay: initialDelay ?? Math.min(200, typeof maxDelay === "number" ? maxDelay : 200),
      backoffFactor,
      maxDelay: maxDelay ?? 10_000,
      logger,
      clock,
      name: `${request.method} ${request.url}`,
      retryOn: (e) => !(e instanceof DOMException && e.name === "AbortError" && signal?.aborted),
      retryOnResult: (r) => statuses.has((r as Response).status),
      delayHint: ({ result }) => {
        const r = result as Response | undefined;
        return r && (r.status === 429 || r.status === 503)
          ? parseRetryAfter(r.headers.get("retry-after"))
          : undefined;
      },
      onRetry: (event) => {
        // The discarded response's body is released at once.
        (event.result as Response | undefined)?.body?.cancel().catch(() => {});
        onRetry?.(event);
      },
    }),
    timeout(perAttempt, { name: `${request.method} ${request.url} (attempt)`, logger, clock }),
  );
  let attempt = 0;
  return policy.execute(({ signal: s }) => {
    // The last attempt may consume the original; earlier ones use clones.
    const r = ++attempt < attempts && retryable ? request.clone() : request;
    return doFetch(new Request(r, { signal: s }));
  }, signal ?? undefined);
}
