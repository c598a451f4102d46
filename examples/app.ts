/**
 * The example app served by every runtime example (Workers, Deno, Node, Bun):
 * one flaky upstream route protected by fallback + circuit breaker + timeout
 * + retrying fetch, and `/health`.
 *
 *   GET /api/quote  → the upstream's `/quote`, or the last good quote, or a stub
 *   GET /health     → seed JSON, or application/health+json when asked
 */
import { Hono } from "hono";
import { type Clock, HealthCheck, type Logger, type SharedStore } from "../mod.ts";
import {
  healthHandler,
  type ResilienceEnv,
  resilientFetch,
  routeCircuitBreaker,
  routeFallback,
  routeTimeout,
} from "../src/hono/mod.ts";

/** Settings of {@linkcode createApp}; every one has an embedded default. */
export interface AppOptions {
  /** Base URL of the upstream. */
  upstreamUrl: string;
  /** Route deadline in ms. Default 1500. */
  routeTimeoutMs?: number;
  /** Per-attempt deadline of the upstream fetch in ms. Default 400. */
  attemptTimeoutMs?: number;
  /** Breaker: consecutive failures that open it. Default 3. */
  failureThreshold?: number;
  /** Breaker: ms before trial calls. Default 3000. */
  resetTimeoutMs?: number;
  /** Breaker: concurrent trial calls in HALF_OPEN. Default 1. */
  halfOpenMaxCalls?: number;
  /** Breaker registry name prefix (one app per process normally). Default "example". */
  name?: string;
  /** Where the patterns log. */
  logger?: Logger;
  /** Time source. */
  clock?: Clock;
  /** The fetch used to reach the upstream (Workers tests pass their own). */
  fetch?: (request: Request) => Promise<Response>;
  /** Version reported by /health. */
  version?: string;
  /** Shares the route's circuit through a store (e.g. Deno KV, a Durable Object). */
  store?: SharedStore;
  /** Called when the store becomes unavailable or recovers. */
  onStoreStatus?: (e: { available: boolean }) => void;
}

/** Builds the example app. */
export function createApp(o: AppOptions): Hono<ResilienceEnv> {
  const app = new Hono<ResilienceEnv>();
  const health = new HealthCheck({ version: o.version ?? "0.1.0", clock: o.clock });
  health.register("self", () => true);
  app.onError((err, c) => {
    o.logger?.error(`handler error: ${err.message}`);
    return c.json({ error: "internal error" }, 500);
  });

  app.get(
    "/api/quote",
    // Outermost: answer with the last good quote (or a stub) when all below fails.
    routeFallback({
      lastGood: true,
      fallback: (c) => c.json({ quote: null, stale: true }, 200),
    }),
    routeCircuitBreaker({
      name: o.name ?? "example",
      failureThreshold: o.failureThreshold ?? 3,
      resetTimeout: o.resetTimeoutMs ?? 3000,
      halfOpenMaxCalls: o.halfOpenMaxCalls ?? 1,
      logger: o.logger,
      clock: o.clock,
      ...(o.store ? { store: o.store, onStoreStatus: o.onStoreStatus } : {}),
    }),
    routeTimeout(o.routeTimeoutMs ?? 1500, { logger: o.logger, clock: o.clock }),
    async (c) => {
      const res = await resilientFetch(`${o.upstreamUrl}/quote`, {
        signal: c.var.signal,
        maxAttempts: 2,
        initialDelay: 50,
        attemptTimeout: o.attemptTimeoutMs ?? 400,
        fetch: o.fetch,
        logger: o.logger,
        clock: o.clock,
      });
      if (!res.ok) {
        await res.body?.cancel();
        return c.json({ error: `upstream answered ${res.status}` }, 502);
      }
      return c.json({ quote: await res.json(), stale: false });
    },
  );

  app.get("/health", healthHandler(health, { breakers: true }));
  return app;
}
