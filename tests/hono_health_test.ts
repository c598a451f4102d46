import assert from "node:assert/strict";
import { Hono } from "hono";
import { circuitBreaker, clearCircuitBreakers, HealthCheck } from "../mod.ts";
import { healthHandler } from "../src/hono/mod.ts";
import { test } from "./_harness.ts";

function appWith(health: HealthCheck, opts: Parameters<typeof healthHandler>[1] = {}) {
  const a = new Hono();
  a.get("/health", healthHandler(health, opts));
  return a;
}

test("healthHandler: 200 healthy / degraded, 503 unhealthy, seed JSON, no-store", async () => {
  const h = new HealthCheck({ version: "2.0.0" });
  let db = true;
  let cache = true;
  h.register("db", () => db);
  h.register("cache", () => cache, { critical: false });
  const a = appWith(h);
  let res = await a.request("/health");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("content-type"), "application/json");
  let body = await res.json();
  assert.equal(body.status, "healthy");
  assert.deepEqual(Object.keys(body).sort(), [
    "checks",
    "status",
    "timestamp",
    "uptime_seconds",
    "version",
  ]);
  cache = false;
  res = await a.request("/health");
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "degraded");
  db = false;
  res = await a.request("/health");
  assert.equal(res.status, 503);
  body = await res.json();
  assert.equal(body.status, "unhealthy");
});

test("healthHandler: error messages are hidden unless exposeErrors", async () => {
  const h = new HealthCheck();
  h.register("db", () => {
    throw new Error("password authentication failed for user admin");
  });
  let body = await (await appWith(h).request("/health")).json();
  assert.equal(body.checks[0].message, "check failed");
  body = await (await appWith(h, { exposeErrors: true }).request("/health")).json();
  assert.match(body.checks[0].message, /password authentication/);
});

test("healthHandler: application/health+json when configured or negotiated", async () => {
  const h = new HealthCheck({ version: "1.2.3" });
  h.register("db", () => true);
  h.register("cache", () => false, { critical: false });
  const res = await appWith(h).request("/health", {
    headers: { accept: "application/health+json" },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/health+json");
  const body = await res.json();
  assert.equal(body.status, "warn");
  assert.equal(body.version, "1.2.3");
  assert.equal(body.checks["db:responseTime"][0].status, "pass");
  assert.equal(body.checks["db:responseTime"][0].observedUnit, "ms");
  assert.equal(body.checks["cache:responseTime"][0].status, "fail");
  const forced = await appWith(h, { format: "health+json", serviceId: "svc" }).request("/health");
  assert.equal((await forced.json()).serviceId, "svc");
  h.unregister("cache");
  h.register("critical", () => false);
  const failing = await appWith(h, { format: "health+json" }).request("/health");
  assert.equal(failing.status, 503);
  assert.equal((await failing.json()).status, "fail");
});

test("healthHandler: an open breaker is degraded / warn, never unhealthy", async () => {
  clearCircuitBreakers();
  const h = new HealthCheck();
  h.register("db", () => true);
  const b = circuitBreaker({ name: "payments" });
  b.open();
  let res = await appWith(h, { breakers: true }).request("/health");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "degraded");
  const check = body.checks.find((c: { name: string }) => c.name === "circuit:payments");
  assert.equal(check.status, "degraded");
  assert.equal(check.details.state, "open");
  res = await appWith(h, { breakers: [b], format: "health+json" }).request("/health");
  assert.equal(res.status, 200);
  const ietf = await res.json();
  assert.equal(ietf.status, "warn");
  assert.equal(ietf.checks["payments:circuit"][0].observedValue, "open");
  b.reset();
  assert.equal(
    (await (await appWith(h, { breakers: true }).request("/health")).json()).status,
    "healthy",
  );
});

test("healthHandler: zero checks answers 200 with status unknown (honest, not healthy)", async () => {
  const res = await appWith(new HealthCheck()).request("/health");
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, "unknown");
  const ietf =
    await (await appWith(new HealthCheck(), { format: "health+json" }).request("/health")).json();
  assert.equal(ietf.status, "warn");
  assert.deepEqual(ietf.notes, ["no health checks registered"]);
});

test("healthHandler: bad options fail at setup", () => {
  assert.throws(() => healthHandler({} as never), TypeError);
  assert.throws(() => healthHandler(new HealthCheck(), { format: "xml" as never }), /'format'/);
  assert.throws(() => healthHandler(new HealthCheck(), { breakers: "all" as never }), /'breakers'/);
  assert.throws(() => healthHandler(new HealthCheck(), { serviceId: 7 as never }), /'serviceId'/);
});
