// A Worker for tests/cloudflare_rate_test.ts: several copies run in workerd
// as separate Workers (separate isolates, each with its own breaker and
// local view), sharing one Durable Object through a binding to the first.
import { type CircuitBreaker, circuitBreaker, CircuitOpenError } from "../mod.ts";
import { type CircuitBreakerNamespace, durableObjectStore } from "../src/cloudflare/mod.ts";

import { CircuitBreakerObject } from "../src/cloudflare/object.ts";
export { CircuitBreakerObject };

const silent = { info() {}, warn() {}, error() {} };
let breaker: CircuitBreaker | undefined;

export default {
  async fetch(req: Request, env: { CIRCUITS: CircuitBreakerNamespace }): Promise<Response> {
    const url = new URL(req.url);
    breaker ??= circuitBreaker({
      name: "quotes",
      store: durableObjectStore(env.CIRCUITS),
      failureRateThreshold: 0.3,
      windowCalls: 30,
      minimumThroughput: 30,
      logger: silent,
    });
    if (url.pathname === "/call") {
      const fail = url.searchParams.get("fail") === "1";
      const r = await breaker.execute(() => fail ? Promise.reject(new Error("5xx")) : "ok")
        .catch((e) => e);
      await breaker.flush();
      return Response.json({ rejected: r instanceof CircuitOpenError });
    }
    await breaker.flush();
    const s = breaker.getStats();
    return Response.json({ state: s.state, totalCalls: s.totalCalls, window: s.window ?? null });
  },
};
