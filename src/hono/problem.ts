// Shared helpers of the Hono middleware: RFC 9457 problem responses and
// waitUntil where the platform has it.
import type { Context } from "hono";
import { ResilienceTimeoutError } from "../errors.ts";

/** An RFC 9457 problem details object. */
export interface Problem {
  /** A URI identifying the problem type (default `about:blank`). */
  type?: string;
  /** Short human-readable summary. */
  title: string;
  /** The HTTP status code. */
  status: number;
  /** Human-readable explanation of this occurrence. */
  detail?: string;
  /** Extension members. */
  [extension: string]: unknown;
}

/** @internal A `application/problem+json` response. */
export function problemResponse(
  problem: Problem,
  headers?: ConstructorParameters<typeof Headers>[0],
): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/problem+json");
  return new Response(JSON.stringify({ type: "about:blank", ...problem }), {
    status: problem.status,
    headers: h,
  });
}

/**
 * @internal Hands `promise` to `c.executionCtx.waitUntil` on Workers; elsewhere
 * (Node, Deno, Bun, `app.request` in tests) it only makes sure its rejection
 * is handled.
 */
export function waitUntil(c: Context, promise: Promise<unknown>): void {
  const handled = promise.then(() => {}, () => {});
  let ctx: { waitUntil(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    return; // Hono throws when there is no execution context.
  }
  ctx?.waitUntil?.(handled);
}

/**
 * A deadline passed while serving a route: the route's own (`routeTimeout`,
 * operation `"route"`) or an upstream call's (`resilientFetch`'s attempt or
 * total deadline). It is a {@linkcode ResilienceTimeoutError} that answers
 * for itself: Hono's default `onError` serves `getResponse()` — a 504
 * `application/problem+json` — without logging a stack trace, and your own
 * `app.onError` still receives it (test `instanceof ResilienceTimeoutError`).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { GatewayTimeoutError, resilientFetch } from "edge-resilience/hono";
 *
 * const app = new Hono();
 * app.get("/data", async (c) => {
 *   // On a timeout the client gets 504 problem+json.
 *   const res = await resilientFetch("https://upstream.example/data", { totalTimeout: 2_000 });
 *   return new Response(res.body, res);
 * });
 * app.onError((err, c) => {
 *   if (err instanceof GatewayTimeoutError) return err.getResponse();
 *   return c.text("Internal Server Error", 500);
 * });
 * ```
 */
export class GatewayTimeoutError extends ResilienceTimeoutError {
  /** The HTTP status this error answers with: 504. */
  readonly status = 504;

  /** The answer: 504 with an RFC 9457 problem body (no upstream URL in it). */
  getResponse(): Response {
    return problemResponse({
      title: "Gateway Timeout",
      status: 504,
      detail: this.operation === "route"
        ? `The request did not complete within ${this.timeout}ms.`
        : "An upstream request did not complete in time.",
    });
  }
}
