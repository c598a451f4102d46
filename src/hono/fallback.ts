import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { type Clock, systemClock } from "../clock.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  optionNames,
} from "../validate.ts";
import { waitUntil } from "./problem.ts";

/** What went wrong, as given to {@linkcode RouteFallbackOptions.fallback}. */
export interface FallbackCause {
  /** The failing response (after `app.onError` for thrown errors). */
  response: Response;
  /** The error the handler threw, if it threw. */
  error?: Error;
}

/** Options of {@linkcode routeFallback}. */
export interface RouteFallbackOptions {
  /**
   * Builds the answer served instead of a failure. Used when there is no
   * last good response (or `lastGood` is off).
   */
  fallback?: (c: Context, cause: FallbackCause) => Response | Promise<Response>;
  /**
   * Remember the last good (2xx) GET response per key and serve it, marked
   * with `x-resilience-fallback: last-good`, when the route fails.
   * `true` uses the defaults (key: the URL, 100 entries).
   *
   * Kept like a shared HTTP cache keeps responses (RFC 9111): never one with
   * `Set-Cookie`, `Cache-Control: private`, `no-store`, `no-cache`,
   * `must-revalidate` or `proxy-revalidate`, `Pragma: no-cache`, or `Vary: *`;
   * never for or to a request carrying `Authorization`, `Proxy-Authorization`
   * or `Cookie` (unless `credentialed`); `Vary` is honoured; hop-by-hop
   * headers are not kept. Credentials in other headers (an `X-Api-Key`) are
   * not known to be credentials: mark such responses `private`, or put the
   * caller's identity in `key`.
   */
  lastGood?: boolean | {
    /** Cache key. Default: the request URL. */
    key?: (c: Context) => string;
    /**
     * Also keep and serve responses for requests carrying `Authorization` or
     * `Cookie`. Needs `key`, which then decides who shares an entry: put the
     * user's identity in it. Default `false`.
     */
    credentialed?: boolean;
    /** Entries kept (least recently stored dropped first). Default 100. */
    maxEntries?: number;
    /**
     * Larger bodies are not kept (nor event streams). Default 1 MiB. The copy
     * is read in the background and abandoned as soon as it grows past this.
     */
    maxBytes?: number;
    /**
     * A key's kept copy is refreshed at most this often, in ms. Default 1000;
     * 0 keeps every good response. Copying a response (cloning and reading its
     * body) costs more than serving it, so a hot route copies about once per
     * interval, and its fallback is at most that much older than its last
     * good answer.
     */
    refreshInterval?: number;
  };
  /** Time source of `lastGood.refreshInterval` (tests pass a `FakeClock`). */
  clock?: Clock;
  /**
   * Whether a response is a failure to fall back from (as `circuitBreaker`'s
   * `isFailureResult` judges a returned value). Default: status 500 or more.
   * Not asked when the handler threw (then `isFailure` decides).
   */
  isFailureResult?: (response: Response) => boolean;
  /**
   * Whether an error the handler threw is a failure to fall back from (as
   * `circuitBreaker`'s `isFailure`), whatever response `app.onError` made of
   * it. Default: every error.
   */
  isFailure?: (error: unknown) => boolean;
}

const OPTIONS = optionNames<RouteFallbackOptions>({
  fallback: 1,
  lastGood: 1,
  isFailureResult: 1,
  isFailure: 1,
  clock: 1,
});
const LAST_GOOD_OPTIONS = optionNames<Exclude<RouteFallbackOptions["lastGood"], boolean>>({
  key: 1,
  credentialed: 1,
  maxEntries: 1,
  maxBytes: 1,
  refreshInterval: 1,
});

/** Reads a stream whole, or gives up (cancelling it) past `max` bytes. */
async function readCapped(
  stream: ReadableStream<Uint8Array>,
  max: number,
): Promise<ArrayBuffer | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out.buffer;
}

/** One kept response: a variant of its key, for the request header values its `Vary` names. */
interface Stored {
  /** The request headers named by `Vary`, and their values when it was kept. */
  vary: [string, string | null][];
  body: ArrayBuffer;
  status: number;
  headers: [string, string][];
}

/** Variants kept per key (different `Vary`'d request headers). */
const MAX_VARIANTS = 4;
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
/**
 * Headers a fallback never takes over from the context of the failed route, even
 * when the failed response did not show them (an `onError` building its own Response).
 */
const RESPONSE_ONLY = [
  "set-cookie",
  "cache-control",
  "expires",
  "pragma",
  "age",
  "etag",
  "last-modified",
  "retry-after",
  "location",
  "www-authenticate",
  "clear-site-data",
  "content-type",
  "content-length",
  "content-encoding",
  "content-language",
  "content-location",
  "content-range",
  "content-disposition",
];
/** Set in front of the route by cross-cutting middleware (CORS, request ids): kept. */
const FROM_OUTSIDE = /^(?:access-control-|vary$|x-request-id$)/;

const list = (v: string | null) =>
  v ? v.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "") : [];

/**
 * The response's `Vary` names when it may be kept (RFC 9111, for a shared cache),
 * else `undefined`.
 */
function keepable(res: Response): string[] | undefined {
  const h = res.headers;
  if (h.has("set-cookie")) return undefined;
  for (const d of list(h.get("cache-control"))) {
    const name = d.split("=", 1)[0].trim();
    // no-cache and must-revalidate: never reused without asking the origin, which failed.
    if (name === "no-store" || name === "private" || name === "no-cache") return undefined;
    if (name === "must-revalidate" || name === "proxy-revalidate") return undefined;
  }
  if (list(h.get("pragma")).includes("no-cache")) return undefined;
  const vary = list(h.get("vary"));
  return vary.includes("*") ? undefined : vary;
}

/** The headers worth keeping: no hop-by-hop ones (nor those `Connection` names). */
function keptHeaders(res: Response): [string, string][] {
  const drop = new Set(HOP_BY_HOP);
  for (const n of list(res.headers.get("connection"))) drop.add(n);
  drop.add("retry-after"); // a kept 2xx is served as is: not 503/429
  return [...res.headers].filter(([k]) => !drop.has(k));
}

const credentialed = (req: Request) =>
  req.headers.has("authorization") || req.headers.has("cookie") ||
  req.headers.has("proxy-authorization");

/**
 * Clears what the failed route left in the context, so a fallback built with
 * `c.json()` / `c.text()` takes none of its headers or its status.
 */
function resetContext(c: Context, failed: Response): void {
  c.res = undefined;
  c.finalized = false; // so that c.header() below edits the context's prepared headers
  const names = new Set([...failed.headers.keys(), ...RESPONSE_ONLY]);
  for (const name of names) if (!FROM_OUTSIDE.test(name)) c.header(name, undefined);
  c.status(200);
}

/** Retry-After only on 503 and 429 (RFC 9110). */
function withoutStrayRetryAfter(res: Response): Response {
  if (res.status === 503 || res.status === 429 || !res.headers.has("retry-after")) return res;
  const headers = new Headers(res.headers);
  headers.delete("retry-after");
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

/**
 * Serves a fallback when a route fails (throws or answers 5xx): the last
 * good response for the same URL, or a configured response.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { routeFallback } from "edge-resilience/hono";
 *
 * const app = new Hono();
 * app.get(
 *   "/prices",
 *   routeFallback({
 *     lastGood: true,
 *     fallback: (c) => c.json({ prices: [], stale: true }, 200),
 *   }),
 *   async (c) => c.json(await (await fetch("https://prices.example")).json()),
 * );
 * ```
 */
export function routeFallback(options: RouteFallbackOptions): MiddlewareHandler {
  const W = "routeFallback";
  checkObject(W, "options", options);
  options ??= {} as RouteFallbackOptions; // then refused below for naming neither option
  if (Object.hasOwn(options, "when")) {
    throw new TypeError(
      `${W}: option 'when' is now 'isFailureResult' (responses) and 'isFailure' (thrown errors)`,
    );
  }
  checkKnownOptions(W, options, OPTIONS);
  checkFunction(W, "fallback", options.fallback);
  checkFunction(W, "isFailureResult", options.isFailureResult);
  checkFunction(W, "isFailure", options.isFailure);
  const lg = options.lastGood;
  if (lg !== undefined && typeof lg !== "boolean") {
    checkObject(W, "lastGood", lg);
    checkKnownOptions(`${W}: lastGood`, lg, LAST_GOOD_OPTIONS);
  }
  const lgOpts = typeof lg === "object" ? lg : {};
  checkFunction(W, "lastGood.key", lgOpts.key);
  const maxEntries = checkNumber(W, "lastGood.maxEntries", lgOpts.maxEntries, 100, 1, {
    integer: true,
    max: 1_000_000,
  });
  const maxBytes = checkNumber(W, "lastGood.maxBytes", lgOpts.maxBytes, 1 << 20, 1, {
    integer: true,
    max: Number.MAX_SAFE_INTEGER,
  });
  const useLastGood = lg === true || typeof lg === "object";
  if (!useLastGood && !options.fallback) {
    throw new TypeError(`${W}: give option 'fallback' or 'lastGood' (or both)`);
  }
  const shareCredentialed = lgOpts.credentialed === true;
  if (lgOpts.credentialed !== undefined && typeof lgOpts.credentialed !== "boolean") {
    throw new TypeError(`${W}: option 'lastGood.credentialed' must be a boolean`);
  }
  if (shareCredentialed && !lgOpts.key) {
    throw new TypeError(
      `${W}: option 'lastGood.credentialed' needs option 'lastGood.key', which decides who shares an entry (include the user's identity)`,
    );
  }
  const isFailureResult = options.isFailureResult ?? ((res: Response) => res.status >= 500);
  const isFailure = options.isFailure;
  const keyOf = lgOpts.key ?? ((c: Context) => c.req.url);
  const refreshInterval = checkNumber(
    W,
    "lastGood.refreshInterval",
    lgOpts.refreshInterval,
    1000,
    0,
  );
  checkObject(W, "clock", options.clock);
  const clock = options.clock ?? systemClock;
  /** Per key: when a copy was last taken, and the variants kept (newest first). */
  const store = new Map<string, { at: number; variants: Stored[] }>();
  const lookup = (c: Context): Stored | undefined => {
    const req = c.req.raw;
    if (!shareCredentialed && credentialed(req)) return undefined;
    return store.get(keyOf(c))?.variants.find((v) =>
      v.vary.every(([n, val]) => req.headers.get(n) === val)
    );
  };
  /** Notes that a copy of `key` is taken at `now`. */
  const taking = (key: string, now: number) => {
    const entry = store.get(key);
    if (entry) entry.at = now;
    else {
      store.set(key, { at: now, variants: [] });
      if (store.size > maxEntries) store.delete(store.keys().next().value!);
    }
  };
  const keep = (key: string, kept: Stored) => {
    const same = (v: Stored) =>
      v.vary.length === kept.vary.length &&
      v.vary.every(([n, val], i) => kept.vary[i][0] === n && kept.vary[i][1] === val);
    const entry = store.get(key);
    const variants = [kept, ...(entry?.variants ?? []).filter((v) => !same(v))];
    // Most recently stored last: eviction drops the key stored longest ago.
    store.delete(key);
    store.set(key, { at: entry?.at ?? clock.now(), variants: variants.slice(0, MAX_VARIANTS) });
    if (store.size > maxEntries) store.delete(store.keys().next().value!);
  };

  return createMiddleware(async (c, next) => {
    await next();
    const res = c.res;
    const error = c.error;
    if (!(error !== undefined ? (isFailure ? isFailure(error) : true) : isFailureResult(res))) {
      // Cheap checks first: reading `res.body` takes some servers (@hono/node-server)
      // off their fast path, so it is touched only when a copy is due.
      if (!useLastGood || c.req.method !== "GET" || !res.ok) return;
      const key = keyOf(c);
      const now = clock.now();
      const at = store.get(key)?.at;
      if (at !== undefined && now - at < refreshInterval) return; // a hot key: copied lately
      if (
        (!shareCredentialed && credentialed(c.req.raw)) ||
        Number(res.headers.get("content-length") ?? 0) > maxBytes ||
        res.headers.get("content-type")?.includes("text/event-stream")
      ) return;
      const varyNames = keepable(res);
      if (!varyNames || !res.body) return;
      taking(key, now);
      const vary = varyNames.map((n): [string, string | null] => [n, c.req.raw.headers.get(n)]);
      const copy = res.clone();
      // Read the copy in the background so streaming responses are not held up.
      waitUntil(
        c,
        readCapped(copy.body!, maxBytes).then((body) => {
          if (body) keep(key, { vary, body, status: res.status, headers: keptHeaders(res) });
        }),
      );
      return;
    }
    const saved = useLastGood ? lookup(c) : undefined;
    if (saved || options.fallback) {
      // The failing body is discarded: release it.
      waitUntil(c, res.body?.cancel() ?? Promise.resolve());
      resetContext(c, res);
    }
    if (saved) {
      const headers = new Headers(saved.headers);
      headers.set("x-resilience-fallback", "last-good");
      c.res = new Response(saved.body.slice(0), { status: saved.status, headers });
      return;
    }
    if (options.fallback) {
      const replacement = await options.fallback(c, { response: res, error: c.error });
      c.res = undefined;
      c.res = withoutStrayRetryAfter(replacement);
    }
  });
}
