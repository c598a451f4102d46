// The named registry: lookup, conflicts judged on what can be compared (from
// the option table), and its public functions.
import type { CircuitBreaker, CircuitBreakerOptions } from "./types.ts";
import { NAMES } from "./options.ts";

/** Registered breakers by name. */
export const registry = new Map<
  string,
  { breaker: CircuitBreaker; options: CircuitBreakerOptions }
>();

/**
 * Arrays and plain objects (`excludedErrors`, `storeOptions`) are compared by
 * content; anything else by identity: two closures with the same source are
 * still two functions (they may capture different things).
 */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (!isPlain(a) || !isPlain(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length &&
    ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

function isPlain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null || Array.isArray(v);
}

/** A value for a conflict message. */
const show = (v: unknown): string =>
  v === undefined
    ? "not set"
    : Array.isArray(v)
    ? `[${v.map((x) => (typeof x === "function" ? x.name : show(x)))}]`
    : typeof v === "function"
    ? "a function"
    : typeof v === "object" && v !== null
    ? "an object"
    : typeof v === "string"
    ? JSON.stringify(v)
    : String(v);

/** The options (every one but `name`, from the option table) that differ. */
export function differences(a: CircuitBreakerOptions, b: CircuitBreakerOptions): string[] {
  const out: string[] = [];
  for (const k of NAMES as readonly (keyof CircuitBreakerOptions)[]) {
    const x = a[k];
    const y = b[k];
    if (k === "name" || same(x, y)) continue;
    const kind = !Array.isArray(x) && show(x) === show(y) && show(x);
    out.push(
      `${k}: ${
        kind ? `a different ${kind.slice(kind.indexOf(" ") + 1)}` : `${show(x)} vs ${show(y)}`
      }`,
    );
  }
  return out;
}

/**
 * Returns the registered breaker with this name, or `undefined`.
 *
 * @example
 * ```ts
 * import { circuitBreaker, getCircuitBreaker } from "edge-resilience";
 *
 * circuitBreaker({ name: "db" });
 * console.log(getCircuitBreaker("db")?.state); // "closed"
 * ```
 */
export function getCircuitBreaker(name: string): CircuitBreaker | undefined {
  return registry.get(name)?.breaker;
}

/**
 * Every registered breaker, in registration order (e.g. for a health page).
 *
 * @example
 * ```ts
 * import { listCircuitBreakers } from "edge-resilience";
 *
 * for (const b of listCircuitBreakers()) console.log(b.name, b.state);
 * ```
 */
export function listCircuitBreakers(): CircuitBreaker[] {
  return [...registry.values()].map((r) => r.breaker);
}

/**
 * Empties the registry (for tests). Existing breaker objects keep working
 * but are no longer returned by {@linkcode getCircuitBreaker}.
 *
 * @example
 * ```ts
 * import { clearCircuitBreakers } from "edge-resilience";
 *
 * clearCircuitBreakers();
 * ```
 */
export function clearCircuitBreakers(): void {
  registry.clear();
}

/**
 * Removes one breaker from the registry; returns whether it was there. The
 * breaker object keeps working for whoever holds it; a later
 * `circuitBreaker({ name })` creates a new one (e.g. with other options).
 *
 * @example
 * ```ts
 * import { circuitBreaker, removeCircuitBreaker } from "edge-resilience";
 *
 * circuitBreaker({ name: "search", failureThreshold: 5 });
 * removeCircuitBreaker("search");
 * const stricter = circuitBreaker({ name: "search", failureThreshold: 2 });
 * ```
 */
export function removeCircuitBreaker(name: string): boolean {
  return registry.delete(name);
}
