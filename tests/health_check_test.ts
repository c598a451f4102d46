import assert from "node:assert/strict";
import { HealthCheck, HealthStatus } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

// Built at module scope on purpose: inside workerd (the conformance run) this is the Worker's
// global scope, where performance.now() reads 0 while it reads epoch milliseconds in a request.
const builtAtModuleScope = new HealthCheck({ version: "module" });

test("health: the seed's example — booleans, details, errors, timeouts, concurrently", async () => {
  const clock = new FakeClock(0, Date.UTC(2026, 10, 27, 12));
  const health = new HealthCheck({ version: "3.1.0", clock });
  const started: string[] = [];
  health.register("database", async () => {
    started.push("database");
    await new Promise<void>((r) => clock.setTimeout(r, 30));
    return true;
  }, { timeout: 5000 });
  health.register("cache", () => {
    started.push("cache");
    return { healthy: true, connections: 42, memory_mb: 12 };
  }, { timeout: 2000 });
  clock.tick(90_000);
  const p = health.runAll();
  assert.deepEqual(started, ["database", "cache"]); // both started at once
  await clock.tickAsync(30);
  const r = await p;
  assert.equal(r.status, HealthStatus.HEALTHY);
  assert.equal(r.version, "3.1.0");
  assert.equal(r.uptimeSeconds, 90.03);
  assert.deepEqual(r.toDict(), {
    status: "healthy",
    version: "3.1.0",
    uptime_seconds: 90.03,
    timestamp: "2026-11-27T12:01:30.030Z",
    checks: [
      { name: "database", status: "healthy", message: null, latency_ms: 30, details: {} },
      {
        name: "cache",
        status: "healthy",
        message: null,
        latency_ms: 0,
        details: { connections: 42, memory_mb: 12 },
      },
    ],
  });
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r.toDict());
});

test("health: critical failure → UNHEALTHY, non-critical failure or degraded → DEGRADED", async () => {
  const h = new HealthCheck({ version: "1" });
  h.register("ok", () => true);
  h.register("cache", () => false, { critical: false });
  let r = await h.runAll();
  assert.equal(r.status, "degraded");
  assert.equal(r.checks[1].status, "unhealthy");
  assert.equal(r.checks[1].message, "check returned false");

  const h2 = new HealthCheck();
  h2.register("slowish", () => ({ degraded: true, message: "p99 high" }));
  r = await h2.runAll();
  assert.equal(r.status, "degraded");
  assert.equal(r.checks[0].message, "p99 high");

  const h3 = new HealthCheck();
  h3.register("cache", () => false, { critical: false });
  h3.register("db", () => {
    throw new Error("Database connection failed");
  });
  r = await h3.runAll();
  assert.equal(r.status, "unhealthy");
  assert.equal(r.checks[1].message, "Database connection failed");
  assert.equal(r.version, "unknown");
});

test("health: zero checks is UNKNOWN, not healthy", async () => {
  const r = await new HealthCheck({ version: "1" }).runAll();
  assert.equal(r.status, HealthStatus.UNKNOWN);
  assert.deepEqual(r.checks, []);
});

test("health: each check has its own timeout, and its signal is aborted", async () => {
  const clock = new FakeClock();
  const h = new HealthCheck({ clock });
  let signal: AbortSignal | undefined;
  h.register("hangs", (ctx) => {
    signal = ctx.signal;
    return new Promise(() => {});
  }, { timeout: 2000 });
  h.register("quick", () => true, { timeout: 10_000 });
  const p = h.runAll();
  await clock.tickAsync(2000);
  const r = await p;
  assert.equal(r.status, "unhealthy");
  assert.equal(r.checks[0].message, "Check timed out after 2000ms");
  assert.equal(r.checks[0].latencyMs, 2000);
  assert.equal(signal!.aborted, true);
  assert.equal(clock.pending, 0);
});

test("health: a synchronous check that overruns its timeout is reported as timed out", async () => {
  const clock = new FakeClock();
  const h = new HealthCheck({ clock });
  h.register("blocking", () => {
    clock.tick(500); // stands for 500 ms of synchronous work
    return true;
  }, { timeout: 100 });
  const r = await h.runAll();
  assert.equal(r.checks[0].status, "unhealthy");
  assert.equal(r.checks[0].message, "Check timed out after 100ms");
});

test("health: register as decorator (function and static method), duplicates refused", async () => {
  const h = new HealthCheck();
  const check = h.register("external_api", { timeout: 10_000 })(() => true);
  assert.equal(typeof check, "function");
  class Checks {
    static url = "ok";
    @h.register("static", { critical: false })
    static ping() {
      return { healthy: this.url === "ok" };
    }
  }
  assert.equal(Checks.url, "ok");
  assert.deepEqual(h.names, ["external_api", "static"]);
  assert.equal((await h.runAll()).status, "healthy");
  assert.throws(() => h.register("static", () => true), /already registered/);
  assert.equal(h.unregister("static"), true);
  assert.deepEqual(h.names, ["external_api"]);
  const one = await h.runCheck("external_api");
  assert.equal(one.status, "healthy");
  await assert.rejects(h.runCheck("nope"), TypeError);
});

test("health: uptime of a HealthCheck built at module scope is small on every runtime", async () => {
  builtAtModuleScope.register("ok", () => true);
  const r = await builtAtModuleScope.runAll();
  assert.ok(r.uptimeSeconds >= 0 && r.uptimeSeconds < 3600, `uptime ${r.uptimeSeconds}`);
});

/** A clock like workerd's: monotonic time reads 0 at global scope, epoch ms in a request. */
function workerdLikeClock(wallAtStartup: number) {
  const clock = new FakeClock(0, Date.UTC(2026, 10, 27, 12));
  let inRequest = false;
  return {
    clock: {
      now: () => (inRequest ? clock.wallNow() : 0),
      wallNow: () => (inRequest ? clock.wallNow() : wallAtStartup),
      setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
    },
    enterRequest: () => void (inRequest = true),
    tick: (ms: number) => clock.tick(ms),
  };
}

test("health: uptime is right when the monotonic clock's origin moves after construction (workerd)", async () => {
  for (const wallAtStartup of [Date.UTC(2026, 10, 27, 12), 0]) {
    const w = workerdLikeClock(wallAtStartup);
    const h = new HealthCheck({ clock: w.clock }); // global scope
    h.register("ok", () => true);
    w.tick(5_000);
    w.enterRequest();
    const first = (await h.runAll()).uptimeSeconds;
    // A real wall clock at startup: uptime counts from construction. A frozen one (epoch 0,
    // Workers' global scope in production): uptime counts from the first run.
    assert.equal(first, wallAtStartup ? 5 : 0, `wall at startup ${wallAtStartup}`);
    w.tick(2_500);
    assert.equal((await h.runAll()).uptimeSeconds, first + 2.5);
  }
});

test("health: uptime on an ordinary clock counts from construction, monotonic", async () => {
  const clock = new FakeClock(1_000, Date.UTC(2026, 0, 1));
  const h = new HealthCheck({ clock });
  clock.tick(42_000);
  assert.equal((await h.runAll()).uptimeSeconds, 42);
});

test("health: 'healthy' must be a boolean; a promise there is a failed check and is handled", async () => {
  const h = new HealthCheck();
  // A rejecting promise where a boolean belongs (e.g. `{ healthy: redis.ping() }`): the
  // harness fails this test if its rejection goes unhandled.
  h.register("rejects", () => ({ healthy: Promise.reject(new Error("ECONNREFUSED")) }) as never);
  h.register("rejects-later", () =>
    ({
      healthy: new Promise((_, reject) => setTimeout(() => reject(new Error("later")), 1)),
    }) as never);
  h.register("resolves", async () => ({ healthy: Promise.resolve(true) }) as never);
  h.register("string", () => ({ healthy: "false" }) as never);
  h.register("number", () => ({ healthy: 1 }) as never);
  h.register("degraded-string", () => ({ degraded: "yes" }) as never);
  h.register("fine", () => ({ healthy: true, degraded: false }));
  const r = await h.runAll();
  const by = Object.fromEntries(r.checks.map((c) => [c.name, c]));
  for (const name of ["rejects", "rejects-later", "resolves"]) {
    assert.equal(by[name].status, "unhealthy", name);
    assert.match(by[name].message!, /'healthy' is a promise.*await it/, name);
  }
  assert.equal(by.string.status, "unhealthy");
  assert.match(by.string.message!, /'healthy' must be a boolean, got string "false"/);
  assert.equal(by.number.status, "unhealthy");
  assert.match(by.number.message!, /'healthy' must be a boolean, got number 1/);
  assert.equal(by["degraded-string"].status, "unhealthy");
  assert.match(by["degraded-string"].message!, /'degraded' must be a boolean/);
  assert.equal(by.fine.status, "healthy");
  assert.equal(r.status, "unhealthy");
  await new Promise((r) => setTimeout(r, 5)); // let the late rejection happen (handled)
});

test("health: 1,000 checks with rejecting promises in 'healthy' leave no unhandled rejection", async () => {
  const h = new HealthCheck();
  for (let i = 0; i < 1000; i++) {
    h.register(`c${i}`, () =>
      ({
        healthy: i % 2 ? Promise.reject(new Error(`x${i}`)) : Promise.resolve(false),
      }) as never);
  }
  const r = await h.runAll();
  assert.equal(r.checks.filter((c) => c.status === "unhealthy").length, 1000);
});
