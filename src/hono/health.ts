import type { Context, Handler } from "hono";
import { type CircuitBreaker, listCircuitBreakers } from "../circuit_breaker.ts";
import { CircuitState, HealthStatus } from "../circuit_state.ts";
import { type CheckOutcome, type HealthCheck, SystemHealth } from "../health_check.ts";
import { checkObject, checkString } from "../validate.ts";

/** Options of {@linkcode healthHandler}. */
export interface HealthHandlerOptions {
  /**
   * Response format: `"seed"` (the `toDict()` JSON), `"health+json"` (IETF
   * draft, `application/health+json`), or `"negotiate"` (default):
   * health+json when the request's `Accept` asks for it, else seed.
   */
  format?: "seed" | "health+json" | "negotiate";
  /** Show the messages of failing checks (hidden by default: they may leak internals). */
  exposeErrors?: boolean;
  /**
   * Report circuit breakers as checks: `true` for every registered breaker,
   * or a list. An OPEN or HALF_OPEN breaker is reported as degraded / warn,
   * never unhealthy: one upstream being down must not fail the readiness of
   * the whole fleet.
   */
  breakers?: boolean | readonly CircuitBreaker[];
  /** `serviceId` and `description` of the health+json document. */
  serviceId?: string;
  /** `description` of the health+json document. */
  description?: string;
}

const TO_IETF: Record<HealthStatus, "pass" | "warn" | "fail"> = {
  healthy: "pass",
  degraded: "warn",
  unhealthy: "fail",
  unknown: "warn",
};

function breakerCheck(b: CircuitBreaker): CheckOutcome {
  const s = b.getStats();
  return {
    name: `circuit:${b.name}`,
    status: s.state === CircuitState.CLOSED ? HealthStatus.HEALTHY : HealthStatus.DEGRADED,
    critical: false,
    message: s.state === CircuitState.CLOSED ? null : `circuit ${s.state}`,
    latencyMs: 0,
    details: {
      state: s.state,
      failureCount: s.failureCount,
      timeUntilReset: s.timeUntilReset,
      ...(s.storeAvailable !== undefined ? { storeAvailable: s.storeAvailable } : {}),
    },
  };
}

/**
 * Runs the checks (plus breakers if asked) and applies the handler's
 * options: the result the endpoint serves.
 */
async function evaluate(
  health: HealthCheck,
  options: HealthHandlerOptions,
  signal: AbortSignal,
): Promise<SystemHealth> {
  const r = await health.runAll(signal);
  let checks = r.checks.slice();
  let status = r.status;
  if (options.breakers) {
    const list = options.breakers === true ? listCircuitBreakers() : options.breakers;
    const extra = list.map(breakerCheck);
    checks = checks.concat(extra);
    if (status === HealthStatus.UNKNOWN && extra.length) status = HealthStatus.HEALTHY;
    if (status === HealthStatus.HEALTHY && extra.some((c) => c.status !== "healthy")) {
      status = HealthStatus.DEGRADED;
    }
  }
  if (!options.exposeErrors) {
    checks = checks.map((c) =>
      c.status === HealthStatus.UNHEALTHY && c.message !== null
        ? { ...c, message: "check failed" }
        : c
    );
  }
  return new SystemHealth(status, checks, r.version, r.uptimeSeconds, r.timestamp);
}

function healthJson(h: SystemHealth, options: HealthHandlerOptions): unknown {
  const checks: Record<string, unknown[]> = {};
  for (const c of h.checks) {
    const isBreaker = c.name.startsWith("circuit:");
    checks[isBreaker ? `${c.name.slice(8)}:circuit` : `${c.name}:responseTime`] = [{
      componentId: isBreaker ? c.name.slice(8) : c.name,
      componentType: "component",
      observedValue: isBreaker ? c.details.state : c.latencyMs,
      ...(isBreaker ? {} : { observedUnit: "ms" }),
      status: TO_IETF[c.status],
      time: h.timestamp,
      ...(c.message !== null ? { output: c.message } : {}),
    }];
  }
  return {
    status: TO_IETF[h.status],
    version: h.version,
    ...(options.serviceId ? { serviceId: options.serviceId } : {}),
    ...(options.description ? { description: options.description } : {}),
    ...(h.status === HealthStatus.UNKNOWN ? { notes: ["no health checks registered"] } : {}),
    checks,
  };
}

/**
 * A Hono handler serving a {@linkcode HealthCheck}: 200 when healthy,
 * degraded (or unknown: no checks), 503 when unhealthy; the seed's JSON by
 * default, or `application/health+json` (IETF draft: pass / warn / fail and
 * a `checks` map) when configured or asked for by `Accept`. Always
 * `cache-control: no-store`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { HealthCheck } from "edge-resilience";
 * import { healthHandler } from "edge-resilience/hono";
 *
 * const health = new HealthCheck({ version: "1.2.0" });
 * health.register("kv", async () => true, { timeout: 1_000 });
 *
 * const app = new Hono();
 * app.get("/health", healthHandler(health, { breakers: true }));
 * ```
 */
export function healthHandler(health: HealthCheck, options: HealthHandlerOptions = {}): Handler {
  const W = "healthHandler";
  if (!health || typeof (health as HealthCheck).runAll !== "function") {
    throw new TypeError(`${W}: expected a HealthCheck`);
  }
  checkObject(W, "options", options);
  checkString(W, "serviceId", options.serviceId);
  checkString(W, "description", options.description);
  const format = options.format ?? "negotiate";
  if (!["seed", "health+json", "negotiate"].includes(format)) {
    throw new TypeError(
      `${W}: option 'format' must be "seed", "health+json" or "negotiate", got ${String(format)}`,
    );
  }
  const b = options.breakers;
  if (b !== undefined && typeof b !== "boolean" && !Array.isArray(b)) {
    throw new TypeError(`${W}: option 'breakers' must be a boolean or an array of breakers`);
  }
  return async (c: Context) => {
    const h = await evaluate(health, options, c.req.raw.signal);
    const status = h.status === HealthStatus.UNHEALTHY ? 503 : 200;
    const ietf = format === "health+json" ||
      (format === "negotiate" &&
        (c.req.header("accept") ?? "").includes("application/health+json"));
    return new Response(JSON.stringify(ietf ? healthJson(h, options) : h.toDict()), {
      status,
      headers: {
        "content-type": ietf ? "application/health+json" : "application/json",
        "cache-control": "no-store",
      },
    });
  };
}
