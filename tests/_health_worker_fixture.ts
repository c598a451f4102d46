// A Worker serving /health from a HealthCheck built at global scope, where
// workerd's performance.now() reads 0 (it reads epoch milliseconds inside a
// request). Bundled by tests/hono_health_workerd_test.ts.
import { Hono } from "hono";
import { HealthCheck } from "../mod.ts";
import { healthHandler } from "../src/hono/mod.ts";

const health = new HealthCheck({ version: "1.0.0" });
health.register("ok", () => true);

const app = new Hono();
app.get("/health", healthHandler(health));
export default app;
