/**
 * The example app (examples/app.ts) on Cloudflare Workers, with the route's
 * circuit shared by every isolate: through the `CircuitBreakerObject` Durable
 * Object (authoritative: one failure count, atomic half-open permits), or
 * through Workers KV (advisory: an OPEN is broadcast, each isolate counts its
 * own failures) when `CIRCUIT_STORE = "kv"`. `/api/*` is rate limited per
 * client address (`RATE_LIMIT` requests per minute, default 60) in the same
 * Durable Object namespace: one object per client, exact across isolates
 * (Workers KV cannot count, so the limit always uses the object).
 * `wrangler.toml` at the repository root binds both, with the migration that
 * creates the object:
 *
 *   npx -y wrangler@4.86.0 dev --var UPSTREAM_URL:https://your-upstream.example
 *   npx -y wrangler@4.86.0 deploy --dry-run    # bundles it, as the test suite does
 *
 * The app is built once per isolate, at its first request: the stores need
 * `env`, and Workers forbid timers (and I/O) at global scope. Nothing here
 * awaits the store: the route's breaker reports in the background, through
 * `waitUntil`.
 */
import { type ExecutionContext, Hono } from "hono";
import type { SharedStore } from "../mod.ts";
import {
  type CircuitBreakerNamespace,
  durableObjectStore,
  type KvNamespaceLike,
  workersKvStore,
} from "../src/cloudflare/mod.ts";
import { ipKey, type ResilienceEnv, routeRateLimiter } from "../src/hono/mod.ts";
import { createApp } from "./app.ts";

// The Durable Object class must be exported by the Worker's main module (its own entry,
// edge-resilience/cloudflare/object: the only one that needs cloudflare:workers).
export { CircuitBreakerObject } from "../src/cloudflare/object.ts";

/**
 * The Worker's bindings (wrangler.toml). With `wrangler types`, or
 * @cloudflare/workers-types, type them `DurableObjectNamespace<CircuitBreakerObject>`
 * and `KVNamespace`; the structural types used here need neither.
 */
export interface Env {
  /** Base URL of the upstream (`[vars]`). */
  UPSTREAM_URL: string;
  /** `"durable-object"` (default) or `"kv"` (`[vars]`). */
  CIRCUIT_STORE?: string;
  /** The Durable Object namespace of `CircuitBreakerObject`. */
  CIRCUITS: CircuitBreakerNamespace;
  /** A KV namespace, used when `CIRCUIT_STORE = "kv"`. */
  CIRCUIT_KV: KvNamespaceLike;
  /** Requests per minute per client address on `/api/*` (`[vars]`, default 60). */
  RATE_LIMIT?: string;
}

function storeFor(env: Env): SharedStore {
  return env.CIRCUIT_STORE === "kv"
    ? workersKvStore(env.CIRCUIT_KV)
    : durableObjectStore(env.CIRCUITS);
}

function buildApp(env: Env): Hono<ResilienceEnv> {
  const app = new Hono<ResilienceEnv>();
  // Before the routes: each client address gets RATE_LIMIT requests per minute, counted in
  // one Durable Object per client (named `er:rl:route%3Aapi:<address>`), so the limit is
  // exact however many isolates serve it. Over it: 429 with Retry-After; every counted
  // response carries RateLimit-Policy and RateLimit.
  app.use(
    "/api/*",
    routeRateLimiter({
      name: "api",
      limit: Number(env.RATE_LIMIT ?? 60),
      interval: 60_000,
      key: (c) => ipKey(c.req.header("cf-connecting-ip") ?? "anon"),
      store: durableObjectStore(env.CIRCUITS),
    }),
  );
  app.route("/", createApp({ upstreamUrl: env.UPSTREAM_URL, store: storeFor(env) }));
  return app;
}

let app: Hono<ResilienceEnv> | undefined;

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    app ??= buildApp(env);
    return app.fetch(request, env, ctx);
  },
};
