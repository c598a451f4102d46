// A Worker serving /health (bundled by tests/hono_health_workerd_test.ts):
// the HealthCheck is built at global scope, where workerd's performance.now()
// reads 0 (it reads epoch milliseconds inside a request); with a CIRCUITS
// Durable Object binding, /api/* is guarded by a route breaker sharing its
// circuits there, and /health reads them from it.
import { Hono } from "hono";
import { HealthCheck } from "../mod.ts";
import { type CircuitBreakerNamespace, durableObjectStore } from "../src/cloudflare/mod.ts";
import { healthHandler, routeCircuitBreaker } from "../src/hono/mod.ts";

export { CircuitBreakerObject } from "../src/cloudflare/object.ts";

const health = new HealthCheck({ version: "1.0.0" });
health.register("ok", () => true);

interface Env {
  CIRCUITS?: CircuitBreakerNamespace;
}

function build(env: Env): Hono<{ Bindings: Env }> {
  const app = new Hono<{ Bindings: Env }>();
  if (env.CIRCUITS) {
    const store = durableObjectStore(env.CIRCUITS);
    app.use("/api/*", routeCircuitBreaker({ store, failureThreshold: 2, resetTimeout: 60_000 }));
  }
  app.get("/api/quote", (c) => c.text("upstream down", 502));
  app.get("/api/other", (c) => c.text("fine"));
  app.get("/health", healthHandler(health, { breakers: true, app }));
  return app;
}

// Bindings exist only in a request: the app is built at the first one.
let app: Hono<{ Bindings: Env }> | undefined;
export default {
  fetch(request: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }) {
    return (app ??= build(env)).fetch(request, env, ctx as never);
  },
};
