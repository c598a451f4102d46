/**
 * Graceful degradation: a wrapper that falls back to other functions and a
 * default, and an ordered {@linkcode Fallback} chain.
 *
 * @module
 */

import { callIn, parentScope, Scope, start, WITH_CONTEXT } from "./context.ts";
import { systemClock } from "./clock.ts";
import { type Logger, logRepeated, printable } from "./logger.ts";
import { createPolicy, type Policy, registrable } from "./policy.ts";
import { emit, errorType, flags, now, observeCall } from "./telemetry.ts";
import { created } from "./live_policies.ts";
import {
  checkKnownOptions,
  checkObject,
  checkString,
  type ErrorClass,
  errorMatcher,
  optionNames,
} from "./validate.ts";

/** Options of {@linkcode fallback}. */
export interface FallbackOptions<D = unknown> {
  /**
   * Returned when every function failed. Any value is valid, `undefined` and
   * `null` included: it is used when the key is present.
   */
  fallbackValue?: D;
  /**
   * Which errors fall back: a predicate, or error classes (one or an array).
   * Default: all. Others are thrown at once.
   */
  shouldFallback?: ((error: unknown) => boolean) | ErrorClass | readonly ErrorClass[];
  /**
   * Name in log messages (default: the wrapped function's name), and in
   * events and metrics (default `"fallback"`).
   */
  name?: string;
  /** Where failures are logged (default: see `setDefaultLogger`). */
  logger?: Logger;
}

/** Any function, as accepted by {@linkcode fallback}. */
export type AnyFunction = (...args: never[]) => unknown;
type AnyFn = AnyFunction;

/**
 * What the arguments of {@linkcode fallback} can answer instead of the
 * primary's result: each fallback function's (awaited) result, and the
 * `fallbackValue` when the options have one.
 *
 * @example
 * ```ts
 * import type { FallbackValues } from "edge-resilience";
 *
 * type T = FallbackValues<[() => Promise<string>, { fallbackValue: null }]>; // string | null
 * const t: T = null;
 * ```
 */
export type FallbackValues<Items extends readonly unknown[]> = Items[number] extends infer I
  ? I extends AnyFunction ? Awaited<ReturnType<I>>
  : I extends { fallbackValue?: infer D } ? ("fallbackValue" extends keyof I ? D : never)
  : never
  : never;

/** Options after validation: `shouldFallback` as a predicate. */
interface Resolved {
  /** The name in events (the `name` option; else "fallback", never the operation's). */
  name?: string;
  fallbackValue?: unknown;
  shouldFallback?: (error: unknown) => boolean;
  logger?: Logger;
}

/**
 * Tries `fns` in order with the same `this` and arguments; the first result
 * wins. When all fail: the `fallbackValue` if given, else the last error, whose
 * `cause` (when it had none) becomes an `AggregateError` of every error.
 */
async function runChain(
  primaryFailed: boolean,
  primaryError: unknown,
  fns: readonly AnyFn[],
  scope: Scope | undefined,
  thisArg: unknown,
  args: readonly unknown[],
  opts: Resolved,
  label: string,
): Promise<unknown> {
  const errors: unknown[] = [];
  const first = primaryFailed ? -1 : 0;
  const total = fns.length - first;
  const failedWith = (e: unknown, i: number) => {
    // The caller gave up (or a policy above did): nobody is left to answer.
    if (scope?.aborted || (opts.shouldFallback && !opts.shouldFallback(e))) throw e;
    errors.push(e);
    // The primary failed: the fallbacks answer.
    if (i === first && flags.on) {
      emit({
        type: "fallback",
        kind: "fallback",
        name: opts.name ?? "fallback",
        errorType: errorType(e),
      }, opts.logger);
    }
    logRepeated(
      opts.logger,
      systemClock,
      "warn",
      `Fallback '${label}': option ${i - first + 1}/${total} failed: ${printable(e)}`,
      { name: label, index: i, error: e },
      `fallback ${label} ${i}`,
    );
  };
  if (primaryFailed) failedWith(primaryError, -1);
  else if (scope?.aborted) throw scope.reason;
  for (let i = 0; i < fns.length; i++) {
    try {
      return await callIn(scope, fns[i], thisArg, args === WITH_CONTEXT ? [] : args);
    } catch (e) {
      failedWith(e, i);
    }
  }
  if ("fallbackValue" in opts) return opts.fallbackValue;
  const last = errors[errors.length - 1];
  if (
    errors.length > 1 && typeof last === "object" && last !== null &&
    Object.isExtensible(last) && !("cause" in last)
  ) {
    Object.defineProperty(last, "cause", {
      value: new AggregateError(errors, `All ${errors.length} options of '${label}' failed`),
      configurable: true,
      writable: true,
    });
  }
  throw last;
}

const FALLBACK_OPTIONS = /* @__PURE__ */ optionNames<FallbackOptions>({
  fallbackValue: 1,
  shouldFallback: 1,
  name: 1,
  logger: 1,
});

function splitArgs(
  where: string,
  items: unknown[],
): [AnyFn[], Resolved] {
  let given: FallbackOptions = {};
  const last = items[items.length - 1];
  if (items.length > 0 && typeof last !== "function") {
    checkKnownOptions(where, last, FALLBACK_OPTIONS);
    given = last as FallbackOptions;
    items = items.slice(0, -1);
  }
  items.forEach((f, i) => {
    if (typeof f !== "function") {
      throw new TypeError(`${where}: fallback #${i + 1} must be a function, got ${typeof f}`);
    }
  });
  checkString(where, "name", given.name);
  checkObject(where, "logger", given.logger);
  return [items as AnyFn[], {
    shouldFallback: errorMatcher(where, "shouldFallback", given.shouldFallback),
    logger: given.logger,
    name: given.name,
    ...("fallbackValue" in given ? { fallbackValue: given.fallbackValue } : {}),
  }];
}

/**
 * Wraps a primary function: if it fails, each fallback function is tried in
 * order with the same arguments, then the `fallbackValue` (the seed's
 * `@fallback(get_cached_data, default=...)`). Without one, the last
 * error is thrown, with all errors reachable through its `cause` (an
 * `AggregateError`, set when more than one function failed and the last error
 * has no cause of its own).
 *
 * The caller's own cancellation is never answered by a fallback: when the
 * caller's signal (or an enclosing policy, such as a timeout) has aborted,
 * nothing runs, and a failure that comes after the abort is thrown as is,
 * without trying the next function or the `fallbackValue`.
 *
 * The result type includes what the fallbacks can return: `fallback({
 * fallbackValue: null })` applied to `() => Promise<number>` gives
 * `() => Promise<number | null>`.
 *
 * @example Wrapper and decorator
 * ```ts
 * import { fallback } from "edge-resilience";
 *
 * const getCachedData = (id: string) => ({ id, cached: true });
 *
 * const getLiveData = fallback(getCachedData, { fallbackValue: "No data available" })(
 *   async (id: string) => (await fetch(`https://api.example/${id}`)).json(),
 * );
 *
 * class Data {
 *   @fallback(getCachedData, { fallbackValue: null })
 *   async live(id: string) {
 *     return (await fetch(`https://api.example/${id}`)).json();
 *   }
 * }
 * ```
 */
export function fallback<Items extends (AnyFunction | FallbackOptions)[]>(
  ...fallbacksAndOptions: Items
): Policy<FallbackValues<Items>> {
  const W = "fallback";
  const [fns, opts] = splitArgs(W, fallbacksAndOptions);
  const policy = createPolicy<Policy<FallbackValues<Items>>>(W, {
    name: opts.name,
    run: (fn, thisArg, args, parent, operation) => {
      // A caller that has already gone gets nothing run, and no fallback answer.
      if (parent?.aborted) return Promise.reject(parent.reason);
      // The primary runs without an async frame; the chain only when it fails.
      const chain = (e: unknown) =>
        runChain(true, e, fns, parent, thisArg, args, opts, opts.name ?? operation);
      try {
        return Promise.resolve(start(parent, fn, thisArg, args)).then(undefined, chain);
      } catch (e) {
        return chain(e);
      }
    },
  });
  created(W, opts.name ?? W, policy);
  return policy;
}

/** Options of the {@linkcode Fallback} chain. */
export interface FallbackChainOptions<D = unknown> {
  /** Name in log messages, events and metrics (`policy.name`). Default `"fallback"`. */
  name?: string;
  /**
   * Returned when every function failed. Any value is valid, `undefined` and
   * `null` included: it is used when the key is present.
   */
  fallbackValue?: D;
  /**
   * Which errors fall back: a predicate, or error classes (one or an array).
   * Default: all. Others are thrown at once.
   */
  shouldFallback?: ((error: unknown) => boolean) | ErrorClass | readonly ErrorClass[];
  /** Where failures are logged (default: see `setDefaultLogger`). */
  logger?: Logger;
}

const CHAIN_OPTIONS = /* @__PURE__ */ optionNames<FallbackChainOptions>({
  name: 1,
  fallbackValue: 1,
  shouldFallback: 1,
  logger: 1,
});

/**
 * An ordered chain of sources: {@linkcode Fallback.execute} tries each added
 * function in order with the same arguments, then the `fallbackValue`.
 *
 * @example
 * ```ts
 * import { Fallback } from "edge-resilience";
 *
 * const fb = new Fallback<string>({ name: "data_source", fallbackValue: "offline_mode" });
 * fb.add(async () => (await fetch("https://api1.example/data")).text());
 * fb.add(async () => (await fetch("https://api2.example/data")).text());
 * fb.add(() => "from local cache");
 *
 * const result = await fb.execute(); // primary → backup → cache → default
 * ```
 *
 * @example A default of another type: the third type parameter
 * ```ts
 * import { Fallback } from "edge-resilience";
 *
 * const price = new Fallback<number, [string], null>({ fallbackValue: null });
 * price.add(async (sku) => sku.length);
 * const p: number | null = await price.execute("A-1");
 * ```
 */
export class Fallback<T = unknown, A extends unknown[] = [], D = T> {
  /** Chain name: in logs, events and metrics (`policy.name`). Default `"fallback"`. */
  readonly name: string;
  readonly #fns: ((...args: A) => T | PromiseLike<T>)[] = [];
  readonly #opts: Resolved;

  /**
   * Creates an empty chain. Unknown option names are refused (`{ default }`
   * is a `TypeError` naming `fallbackValue`, the same option as `fallback()`'s).
   */
  constructor(options: FallbackChainOptions<D> = {}) {
    const W = "Fallback";
    checkKnownOptions(W, options, CHAIN_OPTIONS);
    checkString(W, "name", options.name);
    checkObject(W, "logger", options.logger);
    this.name = options.name ?? "fallback";
    this.#opts = {
      name: this.name,
      shouldFallback: errorMatcher(W, "shouldFallback", options.shouldFallback),
      logger: options.logger,
      ...("fallbackValue" in options ? { fallbackValue: options.fallbackValue } : {}),
    };
    // Listed by `policies("fallback")`, announced to subscribers, as `fallback()` is.
    created("fallback", this.name, this);
  }

  /**
   * Appends `fn` to the chain and returns it unchanged, so it also works as
   * a decorator (`@fb.add`) of functions and of static methods (bound to the
   * class). It is bound to the chain, so it can be passed around detached.
   */
  readonly add: {
    <F extends (...args: A) => T | PromiseLike<T>>(fn: F, context?: ClassMethodDecoratorContext): F;
    /** Legacy decorator of a static method (`experimentalDecorators: true`). */
    <F extends (...args: A) => T | PromiseLike<T>>(
      target: object,
      key: string | symbol,
      descriptor: TypedPropertyDescriptor<F>,
    ): TypedPropertyDescriptor<F>;
  } = <F extends (...args: A) => T | PromiseLike<T>>(
    fn: F,
    context?: ClassMethodDecoratorContext | string | symbol,
    descriptor?: TypedPropertyDescriptor<F>,
  ): F => {
    this.#fns.push(registrable("Fallback.add", fn, context, descriptor));
    // A legacy decorator returns the descriptor (unchanged), else the function itself.
    return (descriptor ?? fn) as F;
  };

  /** Number of functions in the chain. */
  get size(): number {
    return this.#fns.length;
  }

  /**
   * Tries every function in order with `args`. Throws a `TypeError` if the
   * chain is empty. Inside a call whose caller has aborted, nothing (more)
   * runs and the `fallbackValue` is not used.
   */
  execute(...args: A): Promise<T | D> {
    if (this.#fns.length === 0) {
      return Promise.reject(
        new TypeError(`Fallback '${this.name}' has no functions: add() at least one`),
      );
    }
    const scope = parentScope() ?? new Scope();
    // A `call` event as the `fallback()` policy sends (only while someone asked for them).
    const t0 = flags.calls ? now() : 0;
    const p = runChain(false, undefined, this.#fns, scope, undefined, args, this.#opts, this.name);
    return (flags.calls ? observeCall("fallback", this.name, t0, p, scope) : p) as Promise<T | D>;
  }
}
