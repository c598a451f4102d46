/**
 * Cloudflare Worker serving the example app. Bindings (wrangler.toml `[vars]`):
 * `UPSTREAM_URL`. Timers are only created inside requests (Workers forbid them
 * at global scope), and the app is built once per isolate.
 *
 *   // wrangler.toml
 *   name = "edge-resilience-example"
 *   main = "examples/worker.ts"
 *   compatibility_date = "2025-01-01"
 *   [vars]
 *   UPSTREAM_URL = "https://upstream.example"
 */
import type { Hono } from "hono";
import type { ResilienceEnv } from "../src/hono/mod.ts";
import { createApp } from "./app.ts";

interface Env {
  UPSTREAM_URL?: string;
}

let app: Hono<ResilienceEnv> | undefined;

export default {
  fetch(request: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }) {
    app ??= createApp({ upstreamUrl: env.UPSTREAM_URL ?? "http://upstream.invalid" });
    return app.fetch(request, env, ctx as never);
  },
};
