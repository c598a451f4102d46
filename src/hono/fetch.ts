import type { Clock } from "../clock.ts";
import { compose } from "../compose.ts";
import type { Logger } from "../logger.ts";
import { hedge } from "../hedge.ts";
import { retry, type RetryEvent } from "../retry.ts";
import type { RetryBudget } from "../retry_budget.ts";
import { timeout } from "../timeout.ts";
import type { CircuitBreaker } from "../circuit_breaker.ts";
import { CircuitOpenError, ResilienceTimeoutError } from "../errors.ts";
import { circuitOpenResponse } from "./circuit_breaker.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
  optionsOf,
} from "../validate.ts";
import { GatewayTimeoutError } from "./problem.ts";

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
  /**
   * A {@linkcode RetryBudget} shared by every call to this upstream: when it
   * refuses a retry, the last response is returned (or the last error thrown)
   * at once.
   */
  budget?: RetryBudget;
  /**
   * Hedged requests, for GET and HEAD only (other methods are refused): when
   * an attempt has no response after `delay` ms, another request is sent in
   * parallel (up to `maxHedges` extra, default 1); the first response wins,
   * whatever its status, and the others are aborted. Each hedged request has
   * its own `attemptTimeout` and is a call of the `breaker` of its own (so a
   * half-open breaker's `halfOpenMaxCalls` bounds hedged requests too); a
   * retry starts a new hedged group.
   */
  hedge?: { delay: number; maxHedges?: number };
  /**
   * A circuit breaker applied to **each attempt**, inside the retries and
   * outside the attempt timeout (the recommended order: total timeout →
   * retry → breaker → attempt timeout), so a recovering upstream gets at most
   * `halfOpenMaxCalls` trial requests, however many retries are allowed.
   * Make it count 5xx answers: `circuitBreaker({ isFailureResult: (r) =>
   * r instanceof Response && r.status >= 500 })`. While it is open the call
   * rejects with {@linkcode UpstreamCircuitOpenError} (a `CircuitOpenError`
   * that Hono answers with 503 and `Retry-After`), after waiting out the
   * reset if it fits within `maxDelay`.
   */
  breaker?: CircuitBreaker;
  /** The fetch to use (default: the global `fetch`). */
  fetch?: (request: Request) => Promise<Response>;
  /**
   * The name of its policies in logs, events and metrics (`policy.name`).
   * Default `"resilientFetch"`: never the URL, which would make one metric
   * series per URL and put credentials and query strings (API keys) in
   * labels. Name each upstream (`"quotes"`) to tell them apart.
   */
  name?: string;
  /** Where retry and timeout messages go. */
  logger?: Logger;
  /** Time source (tests pass a `FakeClock`). */
  clock?: Clock;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
const RETRY_STATUSES = [408, 429, 500, 502, 503, 504];

const OPTIONS = optionNames<ResilientFetchOptions>({
  maxAttempts: 1,
  initialDelay: 1,
  backoffFactor: 1,
  maxDelay: 1,
  attemptTimeout: 1,
  totalTimeout: 1,
  retryNonIdempotent: 1,
  retryStatuses: 1,
  onRetry: 1,
  budget: 1,
  hedge: 1,
  breaker: 1,
  fetch: 1,
  name: 1,
  logger: 1,
  clock: 1,
});
/**
 * What `init` may hold besides our options: the Fetch standard's `RequestInit`
 * (listed by hand: each runtime's type has its own subset) and the runtimes'
 * own extensions (`cf` on Workers, `client` on Deno, `dispatcher` on Node,
 * `duplex`; Bun's `verbose`, `proxy`, `tls`, `unix`, `decompress`).
 */
const INIT_NAMES = [
  ...OPTIONS,
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

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const DAY_L = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "(\\d\\d):(\\d\\d):(\\d\\d)";
// RFC 9110 section 5.6.7: IMF-fixdate, and the obsolete rfc850-date and asctime-date.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${DAY_L}, (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d\\d) ${TIME} (\\d{4})$`);

/** Milliseconds since the epoch of an RFC 9110 HTTP-date, or `undefined`. */
function parseHttpDate(v: string, now: number): number | undefined {
  let day: string, month: string, year: number, time: string[];
  let m = IMF_FIXDATE.exec(v);
  if (m) [day, month, year, time] = [m[1], m[2], Number(m[3]), m.slice(4, 7)];
  else if ((m = RFC850_DATE.exec(v))) {
    [day, month, time] = [m[1], m[2], m.slice(4, 7)];
    // A two-digit year more than 50 years in the future is the most recent past
    // year with those digits (RFC 9110).
    const thisYear = new Date(now).getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
  } else if ((m = ASCTIME_DATE.exec(v))) {
    [month, day, time, year] = [m[1], m[2], m.slice(3, 6), Number(m[6])];
  } else return undefined;
  const [h, min, s] = time.map(Number);
  const mon = MONTHS.indexOf(month) / 3;
  const d = Number(day);
  if (h > 23 || min > 59 || s > 60) return undefined; // 60: a leap second
  const t = Date.UTC(year, mon, d, h, min, Math.min(s, 59));
  const check = new Date(t);
  // No 31 Feb: the day must exist in that month.
  return check.getUTCMonth() === mon && check.getUTCDate() === d ? t : undefined;
}

/**
 * Milliseconds a `Retry-After` value asks to wait, or `undefined` when absent
 * or malformed. Exactly RFC 9110's forms are accepted: delay-seconds (digits
 * only) and an HTTP-date (IMF-fixdate, or the obsolete rfc850 and asctime
 * forms); a date in the past means 0. Anything else (`"1.5"`, `"-1"`,
 * `" 3"`, `""`, other date formats) is ignored, so the normal backoff applies.
 *
 * @example
 * ```ts
 * import { parseRetryAfter } from "edge-resilience/hono";
 *
 * console.log(parseRetryAfter("3")); // 3000
 * console.log(parseRetryAfter("1.5")); // undefined
 * const now = Date.UTC(2026, 0, 1);
 * console.log(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now)); // 5000
 * ```
 */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = parseHttpDate(value, now);
  return date === undefined ? undefined : Math.max(0, date - now);
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
  input: Request | string | URL,
  init: RequestInit & ResilientFetchOptions = {},
): Promise<Response> {
  // Like fetch, every problem (bad options included) is a rejected promise, never a throw.
  try {
    return run(input, init);
  } catch (e) {
    return Promise.reject(e);
  }
}

function run(
  input: Request | string | URL,
  init: RequestInit & ResilientFetchOptions,
): Promise<Response> {
  const W = "resilientFetch";
  checkObject(W, "init", init);
  checkKnownOptions(W, init, INIT_NAMES);
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
    budget,
    hedge: hedging,
    breaker,
    fetch: userFetch,
    name: givenName,
    logger,
    clock,
    ...requestInit
  } = init;
  checkFunction(W, "fetch", userFetch);
  checkString(W, "name", givenName);
  if (breaker !== undefined && typeof breaker?.getStats !== "function") {
    throw new TypeError(`${W}: option 'breaker' must be a circuit breaker (circuitBreaker())`);
  }
  checkFunction(W, "onRetry", onRetry);
  checkObject(W, "hedge", hedging);
  const attempts = checkNumber(W, "maxAttempts", maxAttempts, 3, 1, { integer: true, max: 50 });
  const perAttempt = checkNumber(W, "attemptTimeout", attemptTimeout, 10_000, 0, {
    exclusiveMin: true,
  });
  const total = checkNumber(W, "totalTimeout", totalTimeout, 30_000, 0, { exclusiveMin: true });
  // Checked here: the retry's initialDelay is derived from maxDelay.
  const maxWait = checkNumber(W, "maxDelay", maxDelay, 10_000, 0);
  if (
    !Array.isArray(retryStatuses) ||
    !retryStatuses.every((n) => Number.isInteger(n) && n >= 100 && n <= 599)
  ) {
    throw new TypeError(`${W}: option 'retryStatuses' must be an array of HTTP status codes`);
  }
  const { signal: initSignal, ...rest } = requestInit;
  // A Request's own signal counts too (a client that went away), and so does init.signal.
  const given = input instanceof Request ? input.signal : undefined;
  let signal = initSignal ?? given;
  let unfollow: (() => void) | undefined;
  if (initSignal && given && initSignal !== given) [signal, unfollow] = either(initSignal, given);
  const request = new Request(input, rest);
  const retryable = retryNonIdempotent || IDEMPOTENT.has(request.method);
  const statuses = new Set(retryStatuses);
  if (hedging !== undefined && request.method !== "GET" && request.method !== "HEAD") {
    throw new TypeError(
      `${W}: option 'hedge' is for GET and HEAD only (a hedged ${request.method} could run twice)`,
    );
  }
  const hedged = hedging === undefined
    ? undefined
    : optionsOf(W, "hedge", () => hedge({ ...hedging, clock }), "hedge.");
  // A bounded, secret-free name: never the URL (one series per URL, credentials in labels).
  const name = givenName ?? W;
  const policy = compose(
    optionsOf(W, "timeout", () => timeout(total, { name, logger, clock })),
    optionsOf(W, "retry", () =>
      retry({
        maxAttempts: retryable ? attempts : 1,
        initialDelay: initialDelay ?? Math.min(200, maxWait),
        backoffFactor,
        maxDelay: maxWait,
        logger,
        clock,
        name,
        budget,
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
      })),
    // Hedging outside the breaker (Polly's order): each hedged request is a breaker call of
    // its own, so a half-open breaker's trial limit bounds the hedged requests too.
    ...(hedged ? [hedged] : []),
    ...(breaker ? [breaker] : []),
    optionsOf(
      W,
      "timeout",
      () => timeout(perAttempt, { name: `${name} (attempt)`, logger, clock }),
    ),
  );
  let attempt = 0;
  const result = policy.execute(({ signal: s }) => {
    // The last attempt may consume the original; earlier ones use clones.
    const r = hedged || (++attempt < attempts && retryable) ? request.clone() : request;
    // The attempt's signal goes to fetch itself, never through a Request nobody holds: on
    // Node 20 (undici) a Request's signal follows the given one through a WeakRef, so once
    // that Request is garbage collected, aborting no longer cancels the upstream request.
    if (!userFetch) return fetch(r, { signal: s });
    const wrapped = new Request(r, { signal: s });
    // A user fetch gets a Request: it is kept reachable until the fetch settles.
    return Promise.resolve(userFetch(wrapped)).finally(() => void wrapped.signal);
  }, signal ?? undefined).catch((e: unknown) => {
    if (e instanceof CircuitOpenError && !(e instanceof UpstreamCircuitOpenError)) {
      throw new UpstreamCircuitOpenError(e.breakerName, e.timeUntilReset, e.state, {
        cause: e,
        isolated: e.isolated,
      });
    }
    // Our own deadlines (not the caller's abort) answer 504 in a Hono route.
    if (e instanceof ResilienceTimeoutError && !(e instanceof GatewayTimeoutError)) {
      if (!signal?.aborted || signal.reason !== e) {
        throw new GatewayTimeoutError(e.operation, e.timeout, { cause: e, message: e.message });
      }
    }
    throw e;
  });
  return unfollow ? result.finally(unfollow) : result;
}

/**
 * The `CircuitOpenError` of {@linkcode resilientFetch}'s `breaker`: thrown out
 * of a Hono handler, Hono answers it with {@linkcode circuitOpenResponse}
 * (503, `Retry-After`, RFC 9457 body); `instanceof CircuitOpenError` holds.
 *
 * @example
 * ```ts
 * import { CircuitOpenError } from "edge-resilience";
 * import { UpstreamCircuitOpenError } from "edge-resilience/hono";
 *
 * const e = new UpstreamCircuitOpenError("quotes", 2_000, "open");
 * console.log(e instanceof CircuitOpenError, e.getResponse().status); // true 503
 * ```
 */
export class UpstreamCircuitOpenError extends CircuitOpenError {
  /** The HTTP status this error answers with: 503. */
  readonly status = 503;

  /** The answer: 503 with `Retry-After` and an RFC 9457 problem body. */
  getResponse(): Response {
    return circuitOpenResponse(this);
  }
}

/** A signal aborted when either is, and how to stop following them. */
function either(a: AbortSignal, b: AbortSignal): [AbortSignal, () => void] {
  const ctl = new AbortController();
  const onA = () => ctl.abort(a.reason);
  const onB = () => ctl.abort(b.reason);
  if (a.aborted) onA();
  else if (b.aborted) onB();
  else {
    a.addEventListener("abort", onA, { once: true });
    b.addEventListener("abort", onB, { once: true });
  }
  return [ctl.signal, () => {
    a.removeEventListener("abort", onA);
    b.removeEventListener("abort", onB);
  }];
}
