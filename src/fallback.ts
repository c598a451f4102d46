/**
 * Graceful degradation: a wrapper that falls back to other functions and a
 * default, and an ordered {@linkcode Fallback} chain.
 *
 * @module
 */

import { callIn, parentScope, Scope, start, WITH_CONTEXT } from "./context.ts";
import { getDefaultLogger, type Logger } from "./logger.ts";
import { createPolicy, type Policy, registrable } from "./policy.ts";
import { checkFunction, checkObject, checkString } from "./validate.ts";

/** Options of {@linkcode fallback}. */
export interface FallbackOptions<D = unknown> {
  /**
   * Returned when every function failed. Any value is valid, `undefined` and
   * `null` included: it is used when the key is present.
   */
  default?: D;
  /** Which errors fall back (default: all). Others are thrown at once. */
  shouldFallback?: (error: unknown) => boolean;
  /** Name for log messages (default: the wrapped function's name). */
  name?: string;
  /** Where failures are logged (default: see `setDefaultLogger`). */
  logger?: Logger;
}

/** Any function, as accepted by {@linkcode fallback}. */
export type AnyFunction = (...args: never[]) => unknown;
type AnyFn = AnyFunction;

/**
 * Tries `fns` in order with the same `this` and arguments; the first result
 * wins. When all fail: the default if given, else the last error, whose
 * `cause` (when it had none) becomes an `AggregateError` of every error.
 */
async function runChain(
  primaryFailed: boolean,
  primaryError: unknown,
  fns: readonly AnyFn[],
  scope: Scope | undefined,
  thisArg: unknown,
  args: readonly unknown[],
  opts: FallbackOptions,
  label: string,
): Promise<unknown> {
  const errors: unknown[] = [];
  const first = primaryFailed ? -1 : 0;
  const total = fns.length - first;
  const failedWith = (e: unknown, i: number) => {
    if (opts.shouldFallback && !opts.shouldFallback(e)) throw e;
    errors.push(e);
    (opts.logger ?? getDefaultLogger()).warn(
      `Fallback '${label}': option ${i - first + 1}/${total} failed: ${String(e)}`,
      { name: label, index: i, error: e },
    );
  };
  if (primaryFailed) failedWith(primaryError, -1);
  for (let i = 0; i < fns.length; i++) {
    try {
      return await callIn(scope, fns[i], thisArg, args === WITH_CONTEXT ? [] : args);
    } catch (e) {
      failedWith(e, i);
    }
  }
  if ("default" in opts) return opts.default;
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

function splitArgs(
  where: string,
  items: unknown[],
): [AnyFn[], FallbackOptions] {
  let opts: FallbackOptions = {};
  const last = items[items.length - 1];
  if (items.length > 0 && typeof last !== "function") {
    checkObject(where, "options", last);
    opts = last as FallbackOptions;
    items = items.slice(0, -1);
  }
  items.forEach((f, i) => {
    if (typeof f !== "function") {
      throw new TypeError(`${where}: fallback #${i + 1} must be a function, got ${typeof f}`);
    }
  });
  checkFunction(where, "shouldFallback", opts.shouldFallback);
  checkString(where, "name", opts.name);
  checkObject(where, "logger", opts.logger);
  return [items as AnyFn[], opts];
}

/**
 * Wraps a primary function: if it fails, each fallback function is tried in
 * order with the same arguments, then the `default` (the seed's
 * `@fallback(get_cached_data, default=...)`). Without a default, the last
 * error is thrown, with all errors reachable through its `cause`.
 *
 * @example Wrapper and decorator
 * ```ts
 * import { fallback } from "edge-resilience";
 *
 * const getCachedData = (id: string) => ({ id, cached: true });
 *
 * const getLiveData = fallback(getCachedData, { default: "No data available" })(
 *   async (id: string) => (await fetch(`https://api.example/${id}`)).json(),
 * );
 *
 * class Data {
 *   @fallback(getCachedData, { default: null })
 *   async live(id: string) {
 *     return (await fetch(`https://api.example/${id}`)).json();
 *   }
 * }
 * ```
 */
export function fallback(
  ...fallbacksAndOptions: (AnyFunction | FallbackOptions)[]
): Policy {
  const W = "fallback";
  const [fns, opts] = splitArgs(W, fallbacksAndOptions);
  return createPolicy<Policy>(
    W,
    (fn, thisArg, args, parent, operation) => {
      // The primary runs without an async frame; the chain only when it fails.
      const chain = (e: unknown) =>
        runChain(true, e, fns, parent, thisArg, args, opts, opts.name ?? operation);
      try {
        return Promise.resolve(start(parent, fn, thisArg, args)).then(undefined, chain);
      } catch (e) {
        return chain(e);
      }
    },
  );
}

/** Options of the {@linkcode Fallback} chain. */
export interface FallbackChainOptions<D = unknown> {
  /** Name for log messages. Default `"fallback"`. */
  name?: string;
  /**
   * Returned when every function failed. Any value is valid, `undefined` and
   * `null` included: it is used when the key is present.
   */
  defaultValue?: D;
  /** Which errors fall back (default: all). Others are thrown at once. */
  shouldFallback?: (error: unknown) => boolean;
  /** Where failures are logged (default: see `setDefaultLogger`). */
  logger?: Logger;
}

/**
 * An ordered chain of sources: {@linkcode Fallback.execute} tries each added
 * function in order with the same arguments, then the default value.
 *
 * @example
 * ```ts
 * import { Fallback } from "edge-resilience";
 *
 * const fb = new Fallback<string>({ name: "data_source", defaultValue: "offline_mode" });
 * fb.add(async () => (await fetch("https://api1.example/data")).text());
 * fb.add(async () => (await fetch("https://api2.example/data")).text());
 * fb.add(() => "from local cache");
 *
 * const result = await fb.execute(); // primary → backup → cache → default
 * ```
 */
export class Fallback<T = unknown, A extends unknown[] = []> {
  /** Chain name (for logs). */
  readonly name: string;
  readonly #fns: ((...args: A) => T | PromiseLike<T>)[] = [];
  readonly #opts: FallbackOptions;

  /** Creates an empty chain. */
  constructor(options: FallbackChainOptions<T> = {}) {
    const W = "Fallback";
    checkObject(W, "options", options);
    checkString(W, "name", options.name);
    checkFunction(W, "shouldFallback", options.shouldFallback);
    checkObject(W, "logger", options.logger);
    this.name = options.name ?? "fallback";
    this.#opts = {
      shouldFallback: options.shouldFallback,
      logger: options.logger,
      ...("defaultValue" in options ? { default: options.defaultValue } : {}),
    };
  }

  /**
   * Appends `fn` to the chain and returns it unchanged, so it also works as
   * a decorator (`@fb.add`) of functions and of static methods (bound to the
   * class). It is bound to the chain, so it can be passed around detached.
   */
  readonly add = <F extends (...args: A) => T | PromiseLike<T>>(
    fn: F,
    context?: ClassMethodDecoratorContext,
  ): F => {
    this.#fns.push(registrable("Fallback.add", fn, context));
    return fn;
  };

  /** Number of functions in the chain. */
  get size(): number {
    return this.#fns.length;
  }

  /**
   * Tries every function in order with `args`. Throws a `TypeError` if the
   * chain is empty.
   */
  execute(...args: A): Promise<T> {
    if (this.#fns.length === 0) {
      return Promise.reject(
        new TypeError(`Fallback '${this.name}' has no functions: add() at least one`),
      );
    }
    return runChain(
      false,
      undefined,
      this.#fns,
      parentScope() ?? new Scope(),
      undefined,
      args,
      this.#opts,
      this.name,
    ) as Promise<T>;
  }
}
