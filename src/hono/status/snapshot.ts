// The status page's data: one JSON snapshot of this instance's policies, read
// on each request (the server keeps no history).
import type { CircuitBreaker } from "../../circuit_breaker.ts";
import type { CircuitStats } from "../../circuit_breaker/types.ts";
import type { BulkheadPolicy, BulkheadStats } from "../../bulkhead.ts";
import type { AdaptiveConcurrencyStats } from "../../adaptive/limiter.ts";
import type { AdaptiveConcurrencyPolicy } from "../../adaptive/policy.ts";
import type { RateLimiter, RateLimiterStats } from "../../rate_limit/limiter.ts";
import { CircuitState, HealthStatus } from "../../circuit_state.ts";
import type { Clock } from "../../clock.ts";
import type { HealthCheck, SystemHealth } from "../../health_check.ts";
import { getCircuitBreaker } from "../../circuit_breaker/registry.ts";
import { owned } from "../../live_policies.ts";
import { circuits } from "../circuit_sources.ts";
import type { CircuitSummary } from "../health.ts";
import type { CircuitEntry } from "../shared_circuits.ts";
import type { StatusPageOptions } from "./options.ts";

/** An operator action on a breaker, and what it acts on. */
export interface BreakerAction {
  /** `reset`, `open`, `isolate` (this instance), `isolate_fleet` or `release`. */
  action: "reset" | "open" | "isolate" | "isolate_fleet" | "release";
  /** `"instance"`: this instance's breaker only; `"fleet"`: the shared circuit, every instance. */
  scope: "instance" | "fleet";
}

/** One circuit as the status page shows it. JSON-safe. */
export interface BreakerStatus {
  /**
   * What actions name it, unique on the page and stable while the breaker
   * lives: its name for a registered breaker and a route circuit, else its
   * name and an instance ordinal (`"anonymous#3"`): breakers outside the
   * registry may share a name.
   */
  id: string;
  /** The breaker's name (route breakers: `"<name>:<key>"`). */
  name: string;
  /** `"closed"`, `"open"` or `"half_open"` (OPEN past its reset timeout reads HALF_OPEN). */
  state: CircuitState;
  /** Where the state was read: this instance's breaker, or the store (no breaker here yet). */
  source: "instance" | "store";
  /** Whether the circuit is shared through a store. */
  shared: boolean;
  /** With a store: whether it is usable now; `null` without one (or read from the store). */
  storeAvailable: boolean | null;
  /** Consecutive failures (CLOSED) or failed trials (HALF_OPEN). */
  failureCount: number;
  /** Failures in a row that open it (`null`: rate mode only, or read from the store). */
  failureThreshold: number | null;
  /** Rate mode: the window's failure rate (0 to 1); `null` otherwise. */
  failureRate: number | null;
  /** Rate mode: the window's calls, failures and slow calls; `null` otherwise. */
  window: { calls: number; failures: number; slowCalls: number; slowCallRate: number } | null;
  /** Calls that ran here since creation or `reset()` (`null` when read from the store). */
  totalCalls: number | null;
  /** Of those, failures. */
  totalFailures: number | null;
  /** Calls rejected here without running. */
  totalRejections: number | null;
  /** ms until trial calls (0 unless OPEN); `null` while isolated (no reset due). */
  timeUntilReset: number | null;
  /** Held OPEN by `isolate()`. */
  isolated: boolean;
  /** Trial calls in flight now (`null` when read from the store). */
  halfOpenInFlight: number | null;
  /** Trial calls allowed at once (`null` when read from the store). */
  halfOpenMaxCalls: number | null;
  /** The last transition: to which state, why, when (epoch ms); `null` before the first. */
  lastTransition: CircuitStats["lastTransition"];
  /** The actions offered (only when `authorize(c)` allowed them). */
  actions?: BreakerAction[];
}

/** One health check as the status page shows it. */
export interface CheckStatus {
  /** The check's registered name. */
  name: string;
  /** HEALTHY, DEGRADED or UNHEALTHY. */
  status: HealthStatus;
  /** Whether its failure makes the system UNHEALTHY. */
  critical: boolean;
  /** The check's message; for a failing check only with `exposeErrors`. */
  message: string | null;
  /** How long it took (ms). */
  latencyMs: number;
  /** The check's details, only with `exposeErrors`. */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * What the status page's JSON endpoint (`<mount>/json`) and its event stream
 * (`<mount>/events`) serve: this instance's policies now. JSON-safe.
 *
 * @example
 * ```ts
 * import type { StatusSnapshot } from "edge-resilience/hono";
 *
 * const res = await fetch("https://api.example/status/json");
 * const s: StatusSnapshot = await res.json();
 * for (const b of s.breakers) console.log(b.name, b.state, b.timeUntilReset);
 * ```
 */
export interface StatusSnapshot {
  /** Which instance answered (the `instance` option, or an id drawn once per isolate). */
  instance: string;
  /** The runtime that answered (`navigator.userAgent` where there is one). */
  runtime: string;
  /** When the snapshot was taken (epoch ms). */
  at: number;
  /** Counts of the circuits per state, listed, left out (`maxBreakers`), not read from the store. */
  circuits: CircuitSummary;
  /** Circuits, OPEN first, then HALF_OPEN, then CLOSED; at most `maxBreakers`. */
  breakers: BreakerStatus[];
  /** Bulkheads' counters. */
  bulkheads: BulkheadStats[];
  /** Rate limiters' totals (never their keys). */
  rateLimiters: RateLimiterStats[];
  /** Adaptive concurrency limiters' counters. */
  adaptiveLimiters: AdaptiveConcurrencyStats[];
  /**
   * How many live ones of each kind are not listed: without the `bulkheads`
   * / `limiters` options the page lists the first 50 of each kind it finds;
   * 0 with the options (every policy given is listed).
   */
  omitted: { bulkheads: number; rateLimiters: number; adaptiveLimiters: number };
  /** The `health` checks (run at most once per 5 s), or `null` without `health`. */
  health: { status: HealthStatus; checks: CheckStatus[] } | null;
  /** Whether actions were authorized for this request. */
  actions: boolean;
}

interface LocalEntry extends CircuitEntry {
  stats: CircuitStats;
  id: string;
  breaker: CircuitBreaker;
}

/**
 * Ordinal ids of the breakers outside the registry (and of route circuits that met a
 * namesake), drawn on first sight and kept for the breaker's life: an unnamed breaker that
 * later takes its first function's name keeps its id (`anonymous#3`).
 */
const ordinals = new WeakMap<CircuitBreaker, { n: number; id: string }>();
let lastOrdinal = 0;

/**
 * A breaker's id on the page: its name when the name finds it (the registry's
 * breaker, a route circuit), else its name and an instance ordinal.
 */
export function breakerId(b: CircuitBreaker): string {
  const name = b.name;
  return getCircuitBreaker(name) === b || owned(b) ? name : ordinalId(b);
}

/**
 * `name#ordinal`: what tells apart breakers sharing a name. Drawn on first
 * sight with the name the breaker had then, and never changed after.
 */
export function ordinalId(b: CircuitBreaker): string {
  let o = ordinals.get(b);
  if (o === undefined) {
    const n = ++lastOrdinal;
    ordinals.set(b, o = { n, id: `${b.name}#${n}` });
  }
  return o.id;
}

/** Whether `b` was listed with ordinal id `id` (never draws an ordinal). */
export function hasOrdinalId(b: CircuitBreaker, id: string): boolean {
  return ordinals.get(b)?.id === id;
}

/**
 * Drops the entries of a breaker listed twice (`breakers: [b, b]`, or a
 * breaker also held by a listed route middleware), then makes the ids
 * unique, in listing order: a route circuit whose name a circuit listed
 * earlier has (a registered breaker of that name, two route middlewares of one
 * name in different apps) takes its ordinal id — and keeps it from then on.
 */
function uniqueIds(entries: CircuitEntry[]): CircuitEntry[] {
  const taken = new Set<string>();
  const seen = new Set<CircuitBreaker>();
  const out: CircuitEntry[] = [];
  for (const e of entries) {
    const l = e as Partial<LocalEntry>;
    if (l.breaker !== undefined) {
      if (seen.has(l.breaker)) continue;
      seen.add(l.breaker);
      if (l.id !== undefined && (taken.has(l.id) || ordinals.has(l.breaker))) {
        l.id = ordinalId(l.breaker);
      }
    }
    taken.add(l.id ?? e.name);
    out.push(e);
  }
  return out;
}

function localEntry(b: CircuitBreaker): LocalEntry {
  const stats = b.getStats();
  return {
    id: breakerId(b),
    breaker: b,
    name: b.name,
    state: stats.state,
    failureCount: stats.failureCount,
    timeUntilReset: stats.timeUntilReset,
    source: "local",
    stats,
  };
}

/** How many bulkheads (and rate limiters, and adaptive limiters) the page lists when it finds them itself. */
export const MAX_SEEN = 50;

/** The first {@linkcode MAX_SEEN} of a list the page found itself (all of a given one), and the rest's count. */
function capped<T>(list: T[], given: boolean): [T[], number] {
  return given || list.length <= MAX_SEEN
    ? [list, 0]
    : [list.slice(0, MAX_SEEN), list.length - MAX_SEEN];
}

const RANK: Record<string, number> = { open: 0, half_open: 1, closed: 2 };
const ordinalOf = (e: CircuitEntry) => {
  const b = (e as Partial<LocalEntry>).breaker;
  return b === undefined ? 0 : ordinals.get(b)?.n ?? 0;
};

function breakerStatus(e: CircuitEntry): BreakerStatus {
  const s = (e as Partial<LocalEntry>).stats;
  const w = s?.window;
  return {
    id: (e as Partial<LocalEntry>).id ?? e.name,
    name: e.name,
    state: e.state,
    source: s ? "instance" : "store",
    shared: s ? s.storeAvailable !== undefined : true,
    storeAvailable: s?.storeAvailable ?? null,
    failureCount: e.failureCount,
    failureThreshold: s ? s.failureThreshold : null,
    failureRate: w ? w.failureRate : null,
    window: w
      ? {
        calls: w.calls,
        failures: w.failures,
        slowCalls: w.slowCalls,
        slowCallRate: w.slowCallRate,
      }
      : null,
    totalCalls: s ? s.totalCalls : null,
    totalFailures: s ? s.totalFailures : null,
    totalRejections: s ? s.totalRejections : null,
    timeUntilReset: e.timeUntilReset === null ? null : Math.round(e.timeUntilReset),
    isolated: s ? s.isolated : e.timeUntilReset === null,
    halfOpenInFlight: s ? s.halfOpenInFlight : null,
    halfOpenMaxCalls: s ? s.halfOpenMaxCalls : null,
    lastTransition: s ? s.lastTransition : null,
  };
}

/** The actions offered on a breaker: each says whether it acts here or on the fleet. */
export function actionsOf(
  b: BreakerStatus,
  held: BreakerAction["scope"] | undefined,
): BreakerAction[] {
  const shared = b.shared ? "fleet" : "instance";
  const out: BreakerAction[] = [];
  if (b.state !== CircuitState.OPEN) out.push({ action: "open", scope: shared });
  out.push({ action: "reset", scope: shared });
  if (!b.isolated) {
    out.push({ action: "isolate", scope: "instance" });
    if (b.shared) out.push({ action: "isolate_fleet", scope: "fleet" });
  }
  if (held) out.push({ action: "release", scope: held });
  return out;
}

/** A list of bulkheads or route bulkheads, as policies. */
export function bulkheadsOf(list: readonly unknown[]): BulkheadPolicy[] {
  return list.map((x) => (x as { bulkhead?: BulkheadPolicy }).bulkhead ?? (x as BulkheadPolicy));
}

/** Rate limiters and adaptive limiters (or their route middlewares), sorted by kind. */
export function limitersOf(
  list: readonly unknown[],
): { rate: RateLimiter[]; adaptive: AdaptiveConcurrencyPolicy[] } {
  const rate: RateLimiter[] = [];
  const adaptive: AdaptiveConcurrencyPolicy[] = [];
  for (const x of list) {
    const o = x as Record<string, unknown>;
    const inner = o.limiter as { getStats?: unknown } | undefined;
    if (typeof inner?.getStats === "function") rate.push(inner as RateLimiter); // routeRateLimiter
    else if (typeof inner === "function" && typeof o.keys === "function") {
      // routeAdaptiveConcurrency: one limiter per key held now.
      const route = x as {
        limiter(k?: string): AdaptiveConcurrencyPolicy | undefined;
        keys(): string[];
      };
      for (const k of route.keys()) {
        const l = route.limiter(k);
        if (l) adaptive.push(l);
      }
    } else if (typeof o.onLimitChange === "function") adaptive.push(x as AdaptiveConcurrencyPolicy);
    else rate.push(x as RateLimiter);
  }
  return { rate, adaptive };
}

/** Health results, run at most once per {@linkcode HEALTH_TTL} ms (checks may be costly). */
export const HEALTH_TTL = 5000;

export class HealthCache {
  #at = -Infinity;
  #last: Promise<SystemHealth> | undefined;
  constructor(readonly health: HealthCheck, readonly clock: Clock) {}
  get(): Promise<SystemHealth> {
    const now = this.clock.now();
    if (!this.#last || now - this.#at >= HEALTH_TTL) {
      this.#at = now;
      // A check run for many viewers: not tied to one request's signal.
      this.#last = this.health.runAll();
      this.#last.catch(() => (this.#at = -Infinity));
    }
    return this.#last;
  }
}

/** Everything the snapshot needs besides the request. */
export interface SnapshotSource {
  options: StatusPageOptions;
  maxBreakers: number;
  instance: () => string;
  clock: Clock;
  health: HealthCache | undefined;
  bulkheads: () => readonly unknown[];
  limiters: () => readonly unknown[];
  /** The scope of the isolation this page holds on the breaker of this id, if any. */
  holds: (id: string) => BreakerAction["scope"] | undefined;
}

const runtime = () =>
  (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? "unknown";

/** This instance's snapshot; `actions`: whether the request may act. */
export async function snapshot(
  src: SnapshotSource,
  actions: boolean,
): Promise<StatusSnapshot> {
  const o = src.options;
  let breakers: BreakerStatus[] = [];
  let summary: CircuitSummary = {
    total: 0,
    closed: 0,
    open: 0,
    half_open: 0,
    listed: 0,
    omitted: 0,
    unread: 0,
  };
  if (o.breakers !== false) {
    const found = await circuits(
      { breakers: o.breakers ?? true, app: o.app, unregistered: true },
      localEntry,
    );
    const entries = uniqueIds(found.entries);
    const unread = found.unread;
    const count = { closed: 0, open: 0, half_open: 0 };
    for (const e of entries) count[e.state]++;
    const listed = entries.slice().sort((a, b) =>
      RANK[a.state] - RANK[b.state] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
      ordinalOf(a) - ordinalOf(b)
    ).slice(0, src.maxBreakers);
    breakers = listed.map(breakerStatus);
    if (actions) { for (const b of breakers) b.actions = actionsOf(b, src.holds(b.id)); }
    summary = {
      total: entries.length,
      ...count,
      listed: listed.length,
      omitted: entries.length - listed.length,
      unread,
    };
  }
  const limiters = limitersOf(src.limiters());
  const [bulkheads, bulkheadsOmitted] = capped(
    bulkheadsOf(src.bulkheads()),
    o.bulkheads !== undefined,
  );
  const [rate, rateOmitted] = capped(limiters.rate, o.limiters !== undefined);
  const [adaptive, adaptiveOmitted] = capped(limiters.adaptive, o.limiters !== undefined);
  let health: StatusSnapshot["health"] = null;
  if (src.health) {
    const r = await src.health.get();
    health = {
      status: r.status,
      checks: r.checks.map((c) => {
        const failing = c.status === HealthStatus.UNHEALTHY;
        return {
          name: c.name,
          status: c.status,
          critical: c.critical,
          message: failing && !o.exposeErrors && c.message !== null ? "check failed" : c.message,
          latencyMs: c.latencyMs,
          ...(o.exposeErrors ? { details: c.details } : {}),
        };
      }),
    };
  }
  return {
    instance: src.instance(),
    runtime: runtime(),
    at: src.clock.wallNow(),
    circuits: summary,
    breakers,
    bulkheads: bulkheads.map((b) => b.getStats()),
    rateLimiters: rate.map((l) => l.getStats()),
    adaptiveLimiters: adaptive.map((l) => l.getStats()),
    omitted: {
      bulkheads: bulkheadsOmitted,
      rateLimiters: rateOmitted,
      adaptiveLimiters: adaptiveOmitted,
    },
    health,
    actions,
  };
}
