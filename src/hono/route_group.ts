import type { Context, Next } from "hono";
import type { CircuitBreaker } from "../circuit_breaker.ts";
import { CircuitState } from "../circuit_state.ts";
import { type Clock, systemClock } from "../clock.ts";
import { getDefaultLogger, printable, say } from "../logger.ts";
import { forget } from "../live_policies.ts";
import type { SharedStore } from "../shared/port.ts";
import type { SharedConfig } from "../circuit_breaker/shared_data.ts";
import { settingsFor, sharedConfig } from "../circuit_breaker/settings.ts";
import { linkSettings } from "../circuit_breaker/link_options.ts";
import type { CircuitBreakerOptions } from "../circuit_breaker/types.ts";
import { checkNumber } from "../validate.ts";
import { waitUntil } from "./problem.ts";
import { type RouteCircuitBreakerOptions, W } from "./route_options.ts";

/** Keys longer than this (or with control characters) are shortened (see {@linkcode safeKey}). */
const MAX_KEY = 200;
/** What separates a shortened key's head from its hash. */
const MARK = "…#";
// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * A per-key breaker's key as it may appear in names, logs, `/health` and store
 * keys: unchanged when short and printable; otherwise its first 64 characters
 * with control characters replaced, plus a hash of the whole key (so distinct
 * keys stay distinct). A key taken from a request can then neither forge log
 * lines nor make one breaker's name megabytes long. A key that already holds
 * the marker `…#` is shortened as well, so a client cannot send another key's
 * short form as its own key.
 */
export function safeKey(k: string): string {
  UNPRINTABLE.lastIndex = 0;
  // A key holding the marker is shortened too: no literal key can equal another's short form.
  if (k.length <= MAX_KEY && !UNPRINTABLE.test(k) && !k.includes(MARK)) return k;
  return `${k.slice(0, 64).replace(UNPRINTABLE, "?")}${MARK}${hash128(k)}`;
}

/**
 * @internal A key a user's `key` option gave for a request: refused with a
 * `TypeError` naming the option unless a non-empty string, then made safe
 * ({@linkcode safeKey}).
 */
export function userKey(where: string, raw: unknown): string {
  if (typeof raw !== "string" || raw === "") {
    throw new TypeError(
      `${where}: option 'key' must give a non-empty string, got ${JSON.stringify(raw)}`,
    );
  }
  return safeKey(raw);
}

/**
 * A 128-bit hash of a string (four 32-bit lanes of multiply-xorshift, each
 * with its own seed, mixed across lanes at the end), as 32 hex digits. Not
 * cryptographic, but far from the 32-bit FNV-1a it replaces, whose inverse a
 * client could compute in milliseconds to make two keys share one breaker or
 * one rate limit.
 */
function hash128(k: string): string {
  let a = 0x9e3779b1, b = 0x85ebca77, c = 0xc2b2ae3d, d = 0x27d4eb2f;
  for (let i = 0; i < k.length; i++) {
    const x = k.charCodeAt(i);
    a = Math.imul(a ^ x, 0x01000193);
    b = Math.imul(b ^ x, 0x5bd1e995);
    c = Math.imul(c ^ x, 0x9e3779b1);
    d = Math.imul(d ^ x, 0xcc9e2d51);
    a ^= d >>> 15;
    b ^= a >>> 13;
    c ^= b >>> 16;
    d ^= c >>> 11;
  }
  for (let r = 0; r < 4; r++) {
    a = Math.imul(a ^ (b >>> 16), 0x85ebca6b);
    b = Math.imul(b ^ (c >>> 13), 0xc2b2ae35);
    c = Math.imul(c ^ (d >>> 16), 0x85ebca6b);
    d = Math.imul(d ^ (a >>> 13), 0xc2b2ae35);
  }
  return [a, b, c, d].map((h) => (h >>> 0).toString(16).padStart(8, "0")).join("");
}

export type Guarded = (c: Context, next: Next) => Promise<void>;
export interface Guard {
  breaker: CircuitBreaker;
  run: Guarded;
}

/** @internal What the health handler reads of a route middleware. */
export const ROUTE_GROUP: unique symbol = Symbol("edge-resilience.route-group");

/** @internal The circuits of one route middleware (or of every one sharing a `name`). */
export class RouteGroup {
  readonly name: string;
  readonly maxKeys: number;
  /** Whether keys are route patterns (the default `key`), so the app's routes name them. */
  readonly routeKeys: boolean;
  /** With a store: where the circuits are shared, and how to read them. */
  readonly shared:
    | { store: SharedStore; prefix: string; config: SharedConfig; timeout: number; ttl: number }
    | undefined;
  /** Requests served without a breaker because every kept breaker mattered. */
  unguarded = 0;
  /** Requests served without a breaker because their key could not have one. */
  badKeys = 0;
  readonly #guards = new Map<string, Guard>();
  #newest: Guard | undefined;
  #fullUntil = -Infinity;
  readonly #make: (key: string) => Guard;
  readonly clock: Clock;
  readonly #options: RouteCircuitBreakerOptions;

  constructor(name: string, o: RouteCircuitBreakerOptions, make: (key: string) => Guard) {
    this.name = name;
    this.#options = o;
    this.#make = make;
    this.clock = o.clock ?? systemClock;
    this.maxKeys = checkNumber(W, "maxKeys", o.maxKeys, 1000, 1, {
      integer: true,
      max: 10_000_000,
    });
    this.routeKeys = o.key === undefined;
    // One source for the configuration: the same the breakers send with their own store
    // operations (settings.ts), and the same store timeout and refresh (link_options.ts).
    const link = o.store ? linkSettings(W, o.storeOptions) : undefined;
    this.shared = o.store && link
      ? {
        store: o.store,
        prefix: o.storeKey ?? "route",
        config: sharedConfig(settingsFor(o as CircuitBreakerOptions), link.timeout),
        timeout: link.timeout,
        ttl: link.refresh,
      }
      : undefined;
  }

  breaker(key: string): CircuitBreaker | undefined {
    return this.#guards.get(key)?.breaker;
  }

  breakers(): CircuitBreaker[] {
    return [...this.#guards.values()].map((g) => g.breaker);
  }

  keys(): string[] {
    return [...this.#guards.keys()];
  }

  /** The breakers by key, least recently used first (a copy). */
  snapshot(): Map<string, CircuitBreaker> {
    const out = new Map<string, CircuitBreaker>();
    for (const [k, g] of this.#guards) out.set(k, g.breaker);
    return out;
  }

  /** The guard of `key`, made (and the least useful one dropped) if needed; undefined: unguarded. */
  get(key: string, c: Context): Guard | undefined {
    const guards = this.#guards;
    let g = guards.get(key);
    if (g) {
      if (g !== this.#newest) {
        // Least recently used order is the map's order: move the key to the end.
        guards.delete(key);
        guards.set(key, g);
        this.#newest = g;
      }
      return g;
    }
    if (guards.size >= this.maxKeys && !this.#evict(c)) {
      if (this.unguarded++ === 0) {
        say(
          this.#options.logger ?? getDefaultLogger(),
          "warn",
          `routeCircuitBreaker '${this.name}': all ${this.maxKeys} breakers (maxKeys) are OPEN; ` +
            `new keys run without a breaker`,
          { name: this.name, maxKeys: this.maxKeys },
        );
      }
      return undefined;
    }
    try {
      g = this.#make(key);
    } catch (error) {
      // A key the store cannot hold (too long, invalid): served without a breaker, said once.
      if (this.badKeys++ === 0) {
        say(
          this.#options.logger ?? getDefaultLogger(),
          "warn",
          `routeCircuitBreaker '${this.name}': key '${key.slice(0, 60)}' runs without a ` +
            `breaker (${printable(error)})`,
          { name: this.name, error },
        );
      }
      return undefined;
    }
    guards.set(key, g);
    this.#newest = g;
    return g;
  }

  /**
   * Drops the least recently used CLOSED breaker, else the oldest OPEN one whose
   * reset timeout has passed with no trial running. False when none can go.
   */
  #evict(c: Context): boolean {
    const now = this.clock.now();
    if (now < this.#fullUntil) return false;
    let due: string | undefined;
    let soonest = Infinity;
    for (const [key, g] of this.#guards) {
      const b = g.breaker;
      const state = b.state;
      if (state === CircuitState.CLOSED) return this.#drop(key, g, c);
      if (state === CircuitState.HALF_OPEN) {
        if (due === undefined && b.getStats().halfOpenInFlight === 0) due = key;
      } else soonest = Math.min(soonest, b.getTimeUntilReset());
    }
    if (due !== undefined) return this.#drop(due, this.#guards.get(due)!, c);
    // Nothing can go: do not scan again before an OPEN one is due (at most 1 s: trials settle).
    this.#fullUntil = now + Math.min(soonest, 1000);
    return false;
  }

  #drop(key: string, g: Guard, c: Context): true {
    this.#guards.delete(key);
    forget(g.breaker); // gone from policies() now, not when collected
    if (this.shared) waitUntil(c, g.breaker.flush()); // outcomes not yet reported
    return true;
  }

  /** The options another middleware must match to share this group. */
  get options(): RouteCircuitBreakerOptions {
    return this.#options;
  }
}

/** Every route middleware's group, for `healthHandler({ breakers: true })` (weakly held). */
const live = new Set<{ deref(): RouteGroup | undefined }>();
let liveAtLastPrune = 0;

/** @internal The live route groups of this process (those of dropped apps are collected). */
export function liveRouteGroups(): RouteGroup[] {
  const out: RouteGroup[] = [];
  for (const ref of live) {
    const g = ref.deref();
    if (g) out.push(g);
    else live.delete(ref);
  }
  liveAtLastPrune = live.size;
  return out;
}

export function track(group: RouteGroup): void {
  const Ref = (globalThis as {
    WeakRef?: new (g: RouteGroup) => { deref(): RouteGroup | undefined };
  }).WeakRef;
  live.add(Ref ? new Ref(group) : { deref: () => group });
  if (live.size > 2 * liveAtLastPrune + 64) liveRouteGroups();
}
