// A Worker exercising the route middleware inside workerd (bundled by
// tests/hono_workerd_test.ts). Nothing here runs at global scope except
// building the app: Workers forbid timers there.
import { Hono } from "hono";
import { type ResilienceEnv, routeCircuitBreaker, routeTimeout } from "../src/hono/mod.ts";

interface Env {
  UPSTREAM_URL: string;
}

const app = new Hono<ResilienceEnv & { Bindings: Env }>();
app.get("/slow", routeTimeout(150), async (c) => {
  const r = await fetch(`${c.env.UPSTREAM_URL}/hang`, { signal: c.var.signal });
  return new Response(r.body, r);
});
app.get(
  "/flaky",
  routeCircuitBreaker({ failureThreshold: 2, resetTimeout: 30_000 }),
  (c) => c.text("bad gateway", 502),
);
export default app;
