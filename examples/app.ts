/**
 * The example app served by every runtime example (Workers, Deno, Node, Bun):
 * one flaky upstream route and `/health`. The route's upstream call is
 * protected in the recommended order (outermost first): fallback → total
 * timeout → retry → circuit breaker → attempt timeout, so each attempt is one
 * breaker call (a recovering upstream sees at most `halfOpenMaxCalls` trial
 * calls) and an open circuit is not retried.
 *
 *   GET /api/quote  → the upstream's `/quote`, or the last good quote, or a stub
 *   GET /health     → seed JSON, or application/health+json when asked
 */
import { Hono } from "hono";
import {
  circuitBreaker,
  CircuitOpenError,
  type CircuitStore,
  type Clock,
  compose,
  HealthCheck,
  type Logger,
  retry,
  timeout,
} from "../mod.ts";
import { healthHandler, type ResilienceEnv, routeFallback, routeTimeout } from "../src/hono/mod.ts";

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
  store?: CircuitStore;
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

  // The upstream call, outermost first: retry → breaker → attempt timeout. The route's
  // fallback and total timeout (below) sit outside it. Each attempt is one breaker call, and
  // the attempt timeout is inside the breaker, so a hanging attempt counts as a failure.
  const route = "GET /api/quote";
  const upstream = compose(
    retry({
      maxAttempts: 2,
      initialDelay: 50,
      // An open circuit is waited out only if it half-opens within this; else the fallback answers.
      maxDelay: 1000,
      name: `${route} upstream`,
      logger: o.logger,
      clock: o.clock,
    }),
    circuitBreaker({
      name: `${o.name ?? "example"}:${route}`,
      failureThreshold: o.failureThreshold ?? 3,
      resetTimeout: o.resetTimeoutMs ?? 3000,
      halfOpenMaxCalls: o.halfOpenMaxCalls ?? 1,
      logger: o.logger,
      clock: o.clock,
      ...(o.store ? { store: o.store, storeKey: route, onStoreStatus: o.onStoreStatus } : {}),
    }),
    timeout(o.attemptTimeoutMs ?? 400, {
      name: `${route} (attempt)`,
      logger: o.logger,
      clock: o.clock,
    }),
  );
  const doFetch = o.fetch ?? ((r: Request) => fetch(r));

  app.get(
    "/api/quote",
    // Outermost: answer with the last good quote (or a stub) when all below fails.
    routeFallback({
      lastGood: true,
      response: (c) => c.json({ quote: null, stale: true }, 200),
    }),
    // The whole call: attempts and waits together.
    routeTimeout(o.routeTimeoutMs ?? 1500, { logger: o.logger, clock: o.clock }),
    async (c) => {
      let quote: unknown;
      try {
        quote = await upstream.execute(async ({ signal }) => {
          const res = await doFetch(new Request(`${o.upstreamUrl}/quote`, { signal }));
          if (!res.ok) {
            await res.body?.cancel();
            // Thrown, so that retry and the breaker see the failure.
            throw new Error(`upstream status ${res.status}`);
          }
          return await res.json();
        }, c.var.signal);
      } catch (e) {
        if (c.var.signal.aborted) throw e; // the route's deadline or the client: theirs to answer
        const open = e instanceof CircuitOpenError;
        return c.json({ error: (e as Error).message }, open ? 503 : 502);
      }
      return c.json({ quote, stale: false });
    },
  );

  app.get("/health", healthHandler(health, { breakers: true }));
  return app;
}
