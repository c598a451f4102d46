import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  optionNames,
} from "../validate.ts";
import { waitUntil } from "./problem.ts";

/** What went wrong, as given to {@linkcode RouteFallbackOptions.response}. */
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
  response?: (c: Context, cause: FallbackCause) => Response | Promise<Response>;
  /**
   * Remember the last good (2xx) GET response per key and serve it, marked
   * with `x-resilience-fallback: last-good`, when the route fails.
   * `true` uses the defaults (key: the URL, 100 entries).
   */
  lastGood?: boolean | {
    /** Cache key. Default: the request URL. */
    key?: (c: Context) => string;
    /** Entries kept (least recently stored dropped first). Default 100. */
    maxEntries?: number;
    /**
     * Larger bodies are not kept (nor event streams). Default 1 MiB. The copy
     * is read in the background and abandoned as soon as it grows past this.
     */
    maxBytes?: number;
  };
  /** Whether to fall back. Default: the handler threw or the status is 5xx. */
  when?: (response: Response, error: Error | undefined) => boolean;
}

const OPTIONS = optionNames<RouteFallbackOptions>({ response: 1, lastGood: 1, when: 1 });
const LAST_GOOD_OPTIONS = optionNames<Exclude<RouteFallbackOptions["lastGood"], boolean>>({
  key: 1,
  maxEntries: 1,
  maxBytes: 1,
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

interface Stored {
  body: ArrayBuffer;
  status: number;
  headers: [string, string][];
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
 *     response: (c) => c.json({ prices: [], stale: true }, 200),
 *   }),
 *   async (c) => c.json(await (await fetch("https://prices.example")).json()),
 * );
 * ```
 */
export function routeFallback(options: RouteFallbackOptions): MiddlewareHandler {
  const W = "routeFallback";
  checkObject(W, "options", options);
  checkKnownOptions(W, options, OPTIONS);
  checkFunction(W, "response", options.response);
  checkFunction(W, "when", options.when);
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
  if (!useLastGood && !options.response) {
    throw new TypeError(`${W}: give option 'response' or 'lastGood' (or both)`);
  }
  const when = options.when ??
    ((res: Response, error: Error | undefined) => error !== undefined || res.status >= 500);
  const keyOf = lgOpts.key ?? ((c: Context) => c.req.url);
  const store = new Map<string, Stored>();

  return createMiddleware(async (c, next) => {
    await next();
    const res = c.res;
    if (!when(res, c.error)) {
      if (
        useLastGood && c.req.method === "GET" && res.ok && res.body &&
        Number(res.headers.get("content-length") ?? 0) <= maxBytes &&
        !res.headers.get("content-type")?.includes("text/event-stream")
      ) {
        const key = keyOf(c);
        const copy = res.clone();
        // Read the copy in the background so streaming responses are not held up.
        waitUntil(
          c,
          readCapped(copy.body!, maxBytes).then((body) => {
            if (!body) return;
            store.delete(key);
            store.set(key, { body, status: res.status, headers: [...res.headers] });
            if (store.size > maxEntries) store.delete(store.keys().next().value!);
          }),
        );
      }
      return;
    }
    const saved = useLastGood ? store.get(keyOf(c)) : undefined;
    if (saved || options.response) {
      // The failing body is discarded: release it.
      waitUntil(c, res.body?.cancel() ?? Promise.resolve());
    }
    if (saved) {
      const headers = new Headers(saved.headers);
      headers.set("x-resilience-fallback", "last-good");
      c.res = undefined;
      c.res = new Response(saved.body.slice(0), { status: saved.status, headers });
      return;
    }
    if (options.response) {
      const replacement = await options.response(c, { response: res, error: c.error });
      c.res = undefined;
      c.res = replacement;
    }
  });
}
