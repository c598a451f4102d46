// The breaker object (a policy with state inspection and control, methods
// shared through a prototype) and circuitBreaker(), which makes or finds one.
import { CircuitState } from "../circuit_state.ts";
import { createPolicy, policyProto } from "../policy.ts";
import { created } from "../live_policies.ts";
import { checkFunction, checkKnownOptions, checkObject, checkString } from "../validate.ts";
import { NAMES, W } from "./options.ts";
import { differences, registry } from "./registry.ts";
import { Breaker } from "./state.ts";
import type {
  CircuitBreaker,
  CircuitBreakerOptions,
  CircuitStats,
  IsolateOptions,
  StateChangeEvent,
} from "./types.ts";

const CORE: unique symbol = Symbol("breaker");
type WithCore = { [CORE]: Breaker };

/** Methods of every breaker, shared through the prototype chain. */
const breakerProto = /* @__PURE__ */ Object.setPrototypeOf({
  get state(): CircuitState {
    const core = (this as unknown as WithCore)[CORE];
    return core.viewState(core.time());
  },
  getStats(this: WithCore): CircuitStats {
    return this[CORE].stats();
  },
  getTimeUntilReset(this: WithCore): number {
    const core = this[CORE];
    return core.remaining(core.time());
  },
  reset(this: WithCore): void {
    this[CORE].reset();
  },
  open(this: WithCore): void {
    this[CORE].open();
  },
  isolate(this: WithCore, options?: IsolateOptions): () => void {
    const core = this[CORE];
    checkObject(W, "isolate options", options);
    const scope = options?.scope ?? "instance";
    if (scope !== "instance" && scope !== "fleet") {
      throw new TypeError(`${W}: isolate option 'scope' must be "instance" or "fleet"`);
    }
    const epoch = core.isolations;
    let released = false;
    if (scope === "fleet") {
      if (core.link === undefined) {
        throw new TypeError(`${W}: isolate({ scope: "fleet" }) needs a breaker with a store`);
      }
      core.command("isolate");
      core.link.command("isolate");
      return () => {
        if (released || epoch !== core.isolations) return;
        released = true;
        core.command("release");
        core.link?.command("release");
      };
    }
    core.isolated++;
    if (core.state !== CircuitState.OPEN) core.transition(CircuitState.OPEN, "isolated");
    return () => {
      // Once, and not after reset() (which ended every isolation).
      if (released || epoch !== core.isolations) return;
      released = true;
      core.isolated--;
      // The last release: trial calls may start at once (see the JSDoc of isolate()).
      if (core.isolated === 0 && core.state === CircuitState.OPEN) {
        core.openedAt = core.time() - core.openFor;
      }
    };
  },
  onStateChange(this: WithCore, listener: (e: StateChangeEvent) => void): () => void {
    checkFunction(W, "listener", listener);
    const core = this[CORE];
    (core.listeners ??= new Set()).add(listener);
    return () => void core.listeners?.delete(listener);
  },
  flush(this: WithCore): Promise<void> {
    return this[CORE].link?.flush() ?? Promise.resolve();
  },
}, policyProto);

/**
 * Creates (or returns the registered) circuit breaker.
 *
 * Consecutive failures reaching `failureThreshold` open the circuit (or, in
 * rate mode, `failureRateThreshold` / `slowCallRateThreshold` reached over a
 * sliding window of calls once it holds `minimumThroughput`); while
 * OPEN calls fail fast with {@linkcode CircuitOpenError} (or the `fallback`
 * is called with the same arguments). The OPEN → HALF_OPEN move is computed
 * from the monotonic clock when a call arrives: no timers. In HALF_OPEN at
 * most `halfOpenMaxCalls` trial calls run at once (others are rejected),
 * `halfOpenMaxCalls` successes close the circuit, and any failure re-opens
 * it. Results of calls admitted before a transition are ignored.
 *
 * Trial calls: a trial still running `resetTimeout` after it started gives
 * its permit back (a hanging trial cannot wedge the breaker) and its late
 * result is ignored; a trial admitted in an earlier half-open period holds
 * its permit until then, so at most `halfOpenMaxCalls` trials run at once.
 * Worked out from the clock when calls arrive: no timer per call.
 *
 * Cancellation: a call whose caller already gave up (its signal, or an
 * enclosing policy's, is aborted) rejects at once with the abort reason
 * without running or counting anything; a call that fails after its caller
 * cancelled it counts as neither failure nor success (see
 * `countCallerAborts`).
 *
 * Registry: `circuitBreaker({ name })` with only a name returns the
 * registered breaker of that name (or creates one with the defaults). With
 * more options, equal options return the same breaker: numbers, strings and
 * plain data (arrays, `storeOptions`) by value, functions and other objects
 * by identity (two closures with the same source are different functions).
 * Different options throw a `TypeError` naming the differences and saying
 * how to share or replace the breaker. Unknown option names are refused.
 *
 * Logs (seed wording): info `Circuit breaker 'NAME' transitioning to
 * HALF_OPEN`, warn `Circuit breaker 'NAME' OPEN after N failures`, info
 * `Circuit breaker 'NAME' CLOSED - service recovered`.
 *
 * @example
 * ```ts
 * import { circuitBreaker, getCircuitBreaker } from "edge-resilience";
 *
 * const breaker = circuitBreaker({
 *   name: "external_api",
 *   failureThreshold: 5,
 *   resetTimeout: 60_000,
 *   halfOpenMaxCalls: 3,
 *   fallback: () => ({ status: "cached" }),
 * });
 * const getData = breaker(async () => (await fetch("https://api.example")).json());
 * await getData();
 *
 * const same = getCircuitBreaker("external_api")!;
 * console.log(same.state, same.getStats().failureCount, same.getTimeUntilReset());
 * ```
 *
 * @example Rate mode for an HTTP upstream: half of the last 50 calls, at least 20
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 *
 * const upstream = circuitBreaker({
 *   name: "quotes-api",
 *   failureRateThreshold: 0.5,
 *   windowCalls: 50,
 *   minimumThroughput: 20,
 *   isFailureResult: (res) => (res as Response).status >= 500, // still returned
 *   slowCallDuration: 2_000,
 *   slowCallRateThreshold: 0.8,
 *   resetTimeout: 10_000,
 *   maxResetTimeout: 300_000, // doubles on each failed re-check, up to 5 min
 * });
 * const res = await upstream.execute(({ signal }) => fetch("https://quotes.example/x", { signal }));
 * console.log(res.status, JSON.stringify(upstream.getStats().window));
 * ```
 */
export function circuitBreaker<
  F extends ((...args: never[]) => unknown) | undefined = undefined,
>(
  options: CircuitBreakerOptions & { fallback?: F } = {},
): CircuitBreaker<F extends (...args: never[]) => infer R ? Awaited<R> : never> {
  checkObject(W, "options", options);
  checkKnownOptions(W, options, NAMES);
  const { name } = options;
  checkString(W, "name", name);
  if (name !== undefined) {
    const found = registry.get(name);
    if (found) {
      // Only a name: "the breaker of this name", whatever it was created with.
      if (Object.keys(options).length === 1) return found.breaker;
      const diff = differences(found.options, options);
      if (diff.length === 0) return found.breaker;
      throw new TypeError(
        `${W}: a breaker named '${name}' is already registered with other options (${
          diff.join("; ")
        }). Get it with circuitBreaker({ name: '${name}' }) alone, replace it after ` +
          `removeCircuitBreaker('${name}'), or choose another name.`,
      );
    }
  }
  const core = new Breaker(name ?? "anonymous", options);
  const breaker: CircuitBreaker = createPolicy<CircuitBreaker>(
    W,
    core,
    breakerProto,
    name === undefined ? (fn) => core.nameAfter(fn, breaker) : undefined,
    core.name, // the function's own `name` is the breaker's name
  );
  (breaker as unknown as { [CORE]: Breaker })[CORE] = core;
  if (name !== undefined) registry.set(name, { breaker, options });
  created(W, core.name, breaker);
  return breaker;
}
