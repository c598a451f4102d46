// What the status page tests share: a page mounted at /status, its JSON, and a same-origin action.
import { Hono } from "hono";
import { statusPage, type StatusPageOptions, type StatusSnapshot } from "../src/hono/mod.ts";

/** `statusPage(options)` mounted at `/status` of `app`. */
export function mount(options: StatusPageOptions, app: Hono = new Hono()): Hono {
  app.route("/status", statusPage(options));
  return app;
}

/** The page's `/status/json` snapshot. */
export const json = async (app: Hono, init?: RequestInit): Promise<StatusSnapshot> =>
  await (await app.request("/status/json", init)).json();

/** A same-origin POST to `/status/action` (a string body is sent as is). */
export const post = (
  app: Hono,
  body: unknown,
  headers: Record<string, string> = {},
): Response | Promise<Response> =>
  app.request("http://ops.example/status/action", {
    method: "POST",
    headers: { origin: "http://ops.example", "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
