// A Worker for tests/cloudflare_rate_limit_test.ts: several copies run in
// workerd as separate Workers (separate isolates, each with its own limiters
// and leases), sharing one Durable Object per rate-limit key through a
// binding to the first copy. The object counts the RPCs it serves.
//
//   GET /take?mode=exact|lease   one take of key "client" → { allowed, remaining }
//   GET /api/hello               routeRateLimiter (100 per year per cf-connecting-ip)
//   GET /take?mode=edge          lease 5, a one-minute fixed window, leases kept a minute
//   GET /cf/hello                routeRateLimiter on Cloudflare's Rate Limiting binding (5 per 60 s)
//   GET /runs?object=<name>      RPCs served by the object of that name
//   GET /setnow?object=<name>&ms=<epoch ms>   sets that object's time
import { Hono } from "hono";
import { type RateLimiter, rateLimiter } from "../mod.ts";
import {
  type CircuitBreakerNamespace,
  cloudflareRateLimitStore,
  durableObjectStore,
  type RateLimitBindingLike,
} from "../src/cloudflare/mod.ts";
import { routeRateLimiter } from "../src/hono/mod.ts";
import { CircuitBreakerObject } from "../src/cloudflare/object.ts";
import type { StoreOp } from "../src/shared/port.ts";

/** The real object, counting the `run` RPCs it serves; its time may be set (the interval edge). */
export class CountedObject extends CircuitBreakerObject {
  #runs = 0;
  #fake: number | undefined;
  setNow(ms: number): void {
    this.#fake = ms;
  }
  protected override now(): number {
    return this.#fake ?? Date.now();
  }
  override run(op: StoreOp): Promise<unknown> {
    this.#runs++;
    return super.run(op);
  }
  runs(): number {
    return this.#runs;
  }
}

interface Env {
  CIRCUITS: CircuitBreakerNamespace;
  /** Cloudflare's Rate Limiting binding (miniflare's): 5 per 60 s. */
  API_LIMIT: RateLimitBindingLike;
}

const silent = { info() {}, warn() {}, error() {} };
/** The longest interval: nothing refills during a test (a fixed window's grid edge is a year away). */
const YEAR = 365 * 86_400_000;
const limiters = new Map<string, RateLimiter>();
let app: Hono<{ Bindings: Env }> | undefined;

function limiterFor(env: Env, mode: string): RateLimiter {
  let l = limiters.get(mode);
  if (!l && mode === "edge") {
    l = rateLimiter({
      name: mode,
      limit: 100,
      interval: 60_000,
      algorithm: "fixed-window",
      store: durableObjectStore(env.CIRCUITS),
      logger: silent,
      storeOptions: { timeout: 10_000, lease: 5, leaseTtl: 60_000 },
    });
    limiters.set(mode, l);
  }
  if (!l) {
    l = rateLimiter({
      name: mode,
      limit: 100,
      interval: YEAR,
      algorithm: mode.endsWith("bucket") ? "token-bucket" : "fixed-window",
      store: durableObjectStore(env.CIRCUITS),
      logger: silent,
      // Generous: this test counts admissions, it does not time a slow machine.
      storeOptions: { timeout: 10_000, ...(mode.startsWith("lease") ? { lease: 5 } : {}) },
    });
    limiters.set(mode, l);
  }
  return l;
}

function appFor(env: Env): Hono<{ Bindings: Env }> {
  const a = new Hono<{ Bindings: Env }>();
  a.use(
    "/api/*",
    routeRateLimiter({
      name: "api",
      limit: 100,
      interval: YEAR,
      key: (c) => c.req.header("cf-connecting-ip") ?? "anon",
      store: durableObjectStore(env.CIRCUITS),
      logger: silent,
      storeOptions: { timeout: 10_000 },
    }),
  );
  a.get("/api/hello", (c) => c.text("hello"));
  a.use(
    "/cf/*",
    routeRateLimiter({
      name: "cf",
      algorithm: "fixed-window",
      limit: 5,
      interval: 60_000,
      key: (c) => c.req.header("cf-connecting-ip") ?? "anon",
      store: cloudflareRateLimitStore(env.API_LIMIT, { limit: 5, period: 60 }),
      logger: silent,
    }),
  );
  a.get("/cf/hello", (c) => c.text("hello"));
  return a;
}

export { CircuitBreakerObject };

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/take") {
      const mode = url.searchParams.get("mode") ?? "exact";
      const a = await limiterFor(env, mode).take("client");
      return Response.json({ allowed: a.allowed, remaining: a.remaining });
    }
    const ns = env.CIRCUITS as unknown as {
      idFromName(name: string): unknown;
      get(id: never): { runs(): Promise<number>; setNow(ms: number): Promise<void> };
    };
    const object = () => ns.get(ns.idFromName(url.searchParams.get("object")!) as never);
    if (url.pathname === "/runs") return Response.json({ runs: await object().runs() });
    if (url.pathname === "/setnow") {
      await object().setNow(Number(url.searchParams.get("ms")));
      return Response.json({});
    }
    app ??= appFor(env);
    return await app.fetch(req, env);
  },
};
