// Shared helpers of the Hono middleware: RFC 9457 problem responses and
// waitUntil where the platform has it.
import type { Context } from "hono";

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
export function problemResponse(problem: Problem, headers?: HeadersInit): Response {
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
