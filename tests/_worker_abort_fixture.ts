// A Worker for tests/hono_workerd_abort_test.ts: routes that wait on a hanging
// upstream with the route's signal, and report to the upstream when that
// signal aborts (so the test, outside workerd, can see it).
import { Hono } from "hono";
import { type ResilienceEnv, resilientFetch, routeTimeout } from "../src/hono/mod.ts";

interface Env {
  UPSTREAM_URL: string;
}

const app = new Hono<ResilienceEnv & { Bindings: Env }>();
app.use("*", routeTimeout(10_000), async (c, next) => {
  c.var.signal.addEventListener("abort", () => {
    // Told to the upstream by a request of its own (the route's signal is aborted).
    c.executionCtx.waitUntil(
      fetch(`${c.env.UPSTREAM_URL}/signal-aborted${c.req.path}`).then((r) => r.body?.cancel()),
    );
  });
  await next();
});
app.get("/fetch", async (c) => {
  const r = await fetch(`${c.env.UPSTREAM_URL}/hang`, { signal: c.var.signal });
  return new Response(r.body, r);
});
app.get("/resilient", async (c) => {
  const r = await resilientFetch(`${c.env.UPSTREAM_URL}/hang`, { signal: c.var.signal });
  return new Response(r.body, r);
});
export default app;
