/**
 * Composition of policies in a stated order.
 *
 * @module
 */

import { callIn, currentContext, type ResilienceContext, underSignal } from "./context.ts";
import { decorateLegacy, type FallbackOf, type Policy } from "./policy.ts";

/**
 * Combines policies, **outermost first**: `compose(a, b, c)(fn)` is
 * `a(b(c(fn)))`, exactly like stacking the decorators `@a @b @c` above a
 * method (TypeScript applies the bottom decorator first, so the top one is
 * outermost). A call enters `a`, then `b`, then `c`, then `fn`; the context
 * signal of `fn` is aborted by any of them. The result type includes what
 * any layer's fallback can answer.
 *
 * Recommended order for a remote call (Polly's and Microsoft's standard
 * pipeline):
 * `compose(fallback(...), timeout(total), retry(...), circuitBreaker(...), timeout(attempt))`.
 * - Each attempt is one breaker call, so a recovering upstream gets at most
 *   `halfOpenMaxCalls` calls per trial period (with retry inside the breaker
 *   it got `halfOpenMaxCalls × maxAttempts`), and every failed attempt counts.
 * - An open circuit is not retried blindly: retry waits out the
 *   `CircuitOpenError`'s `timeUntilReset` when that fits within its
 *   `maxDelay`, and otherwise gives up at once.
 * - The attempt timeout is inside the breaker, so a hanging attempt is a
 *   breaker failure; the total timeout bounds attempts and waits together.
 * - The fallback is outermost: it answers when everything below failed or the
 *   circuit is open — never for the caller's own cancellation.
 *
 * A caller whose signal has already aborted gets nothing run, in any layer:
 * `execute` rejects at once with `signal.reason`.
 *
 * @example
 * ```ts
 * import { circuitBreaker, compose, fallback, retry, timeout } from "edge-resilience";
 *
 * const resilient = compose(
 *   fallback({ fallbackValue: { cached: true } }),
 *   timeout(10_000), // the whole call, waits included
 *   retry({ maxAttempts: 3, initialDelay: 500 }),
 *   circuitBreaker({ name: "api", failureThreshold: 5 }),
 *   timeout(2_000), // each attempt
 * );
 * const reliableApiCall = resilient(() => fetch("https://api.example/data").then((r) => r.json()));
 * ```
 */
export function compose<P extends Policy<unknown>[]>(
  ...policies: P
): Policy<FallbackOf<P[number]>> {
  policies.forEach((p, i) => {
    if (typeof p !== "function" || typeof p.execute !== "function") {
      throw new TypeError(`compose: argument #${i + 1} is not a policy`);
    }
  });
  if (policies.length === 0) throw new TypeError("compose: expected at least one policy");
  const wrap = (fn: (...args: never[]) => unknown) => {
    let w = fn;
    for (let i = policies.length - 1; i >= 0; i--) w = policies[i](w) as typeof fn;
    return w;
  };
  const composed = function (
    fn: (...args: never[]) => unknown,
    context?: unknown,
    descriptor?: unknown,
  ) {
    if (descriptor) return decorateLegacy(composed, descriptor as object);
    if (typeof fn !== "function") {
      throw new TypeError(`compose: expected a function to wrap, got ${typeof fn}`);
    }
    if (context !== undefined && (context as { kind?: unknown }).kind !== "method") {
      throw new TypeError("compose: can only decorate methods");
    }
    return wrap(fn);
  };
  const execute = <T>(
    fn: (context: ResilienceContext) => T | PromiseLike<T>,
    signal?: AbortSignal,
  ): Promise<T> => {
    if (typeof fn !== "function") {
      return Promise.reject(new TypeError(`compose: execute expects a function, got ${typeof fn}`));
    }
    // A caller that has already gone gets nothing run, in any layer.
    if (signal?.aborted) return Promise.reject(signal.reason);
    // The innermost policy makes its scope current while starting this.
    const inner = wrap(function () {
      return fn(currentContext()!);
    }) as () => Promise<T>;
    return underSignal(signal, (root) => root ? callIn(root, inner, undefined, []) : inner());
  };
  Object.defineProperty(composed, "execute", { value: execute });
  return composed as unknown as Policy<FallbackOf<P[number]>>;
}
