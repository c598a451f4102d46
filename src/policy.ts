/**
 * The shape every pattern shares: a {@linkcode Policy} wraps functions,
 * decorates class methods, and runs context-aware work with `execute`.
 *
 * @module
 */

import { flags, now, observeCall, type PolicyKind } from "./telemetry.ts";
import {
  parentScope,
  type ResilienceContext,
  type Scope,
  type Target,
  underSignal,
  WITH_CONTEXT,
} from "./context.ts";

/**
 * A resilience policy (retry, circuit breaker, timeout, fallback or a
 * composition of them).
 *
 * - `policy(fn)` wraps a sync or async function of any arguments; the wrapper
 *   keeps the parameter types and returns a promise of the result.
 * - `@policy` decorates an (async) class method: TC39 decorators (TypeScript
 *   5+, the default) and legacy ones (`experimentalDecorators: true`, as in
 *   NestJS and Angular) alike.
 * - `policy.execute(fn, signal?)` runs `fn({ signal, attempt })` once under
 *   the policy; `signal` is the caller's own abort signal.
 *
 * `X` is what the policy can answer *instead of* the function's result (a
 * fallback's value): a wrapped `() => Promise<number>` under a `Policy<null>`
 * returns `Promise<number | null>`. Policies without a fallback are
 * `Policy<never>`.
 *
 * @example The three styles
 * ```ts
 * import { retry } from "edge-resilience";
 *
 * const policy = retry({ maxAttempts: 3, initialDelay: 100 });
 *
 * // 1. wrapper
 * const getUser = policy(async (id: string) => ({ id }));
 * await getUser("42");
 *
 * // 2. decorator
 * class Users {
 *   @policy
 *   async get(id: string) {
 *     return { id };
 *   }
 * }
 * await new Users().get("42");
 *
 * // 3. execute, with the context signal and the caller's signal
 * const controller = new AbortController();
 * await policy.execute(
 *   ({ signal }) => fetch("https://example.com", { signal }),
 *   controller.signal,
 * );
 * ```
 *
 * @example What a fallback adds to the result type
 * ```ts
 * import { fallback } from "edge-resilience";
 *
 * const price = fallback({ fallbackValue: null })(async (sku: string) => sku.length);
 * const p: number | null = await price("A-1"); // Promise<number | null>
 * ```
 */
export interface Policy<X = never> {
  /**
   * Decorates a class method (TC39 decorators, TypeScript 5+). A decorator
   * cannot change the method's declared type: declare it to include what a
   * fallback can answer (`Promise<Data | null>` under `fallback({ fallbackValue: null })`).
   */
  <This, A extends unknown[], R>(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This>,
  ): (this: This, ...args: A) => Promise<Awaited<R>>;
  /** Decorates a class method (legacy decorators, `experimentalDecorators: true`). */
  <This, A extends unknown[], R>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<(this: This, ...args: A) => R>,
  ): TypedPropertyDescriptor<(this: This, ...args: A) => Promise<Awaited<R>>>;
  /**
   * Wraps `fn`: every call of the result runs under this policy. (After the
   * decorator signatures: TypeScript lets a decorator take fewer parameters,
   * so this one would otherwise be picked for decorators too.)
   */
  <A extends unknown[], R>(
    fn: (...args: A) => R,
  ): (...args: A) => Promise<Awaited<R> | X>;
  /**
   * Runs `fn` once under this policy. `fn` receives the context (an
   * `AbortSignal` and the attempt number); `signal` is the caller's signal,
   * whose abort cancels waits and aborts the context signal.
   */
  execute<T>(
    fn: (context: ResilienceContext) => T | PromiseLike<T>,
    signal?: AbortSignal,
  ): Promise<T | X>;
  /**
   * Type only, never set at run time: carries `X` (boxed) so that
   * {@linkcode FallbackOf} and `compose` can read it.
   */
  readonly "~fallback"?: [X];
}

/**
 * What a policy can answer instead of the function's result: `FallbackOf<Policy<null>>`
 * is `null`, `FallbackOf<RetryPolicy>` is `never`. Distributes over unions.
 *
 * @example
 * ```ts
 * import { fallback, type FallbackOf } from "edge-resilience";
 *
 * const policy = fallback({ fallbackValue: "stale" as const });
 * const x: FallbackOf<typeof policy> = "stale";
 * ```
 */
export type FallbackOf<P> = P extends { readonly "~fallback"?: [infer X] } ? X : never;

/**
 * @internal How a pattern runs one call: `start(scope, fn, thisArg, args)`
 * starts the inner work with `scope` as its context; `thisArg` and `args`
 * are the caller's (fallbacks take the same), or `args` is `WITH_CONTEXT`
 * for `execute`.
 */
export type Runner = (
  fn: Target,
  thisArg: unknown,
  args: readonly unknown[],
  parent: Scope | undefined,
  operation: string,
) => Promise<unknown>;

/** @internal Where a policy keeps its runner. */
export const RUN: unique symbol = Symbol("run");

/** @internal A policy function, with its runner. */
type PolicyFn = Policy & { [RUN]: { run: Runner }; [KIND]: PolicyKind; [NAME]: string };

/** @internal Where a policy keeps its kind (for call events). */
const KIND: unique symbol = Symbol("kind");
/** @internal Where a policy keeps the name it was made with (for call events). */
const NAME: unique symbol = Symbol("name");

/**
 * @internal Methods shared by every policy (through the prototype chain, so
 * a policy costs one function object and its runner, not a set of closures).
 */
export const policyProto: object = /* @__PURE__ */ Object.setPrototypeOf({
  execute<T>(
    this: PolicyFn,
    fn: (context: ResilienceContext) => T | PromiseLike<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (typeof fn !== "function") {
      return Promise.reject(new TypeError(`execute expects a function, got ${typeof fn}`));
    }
    const target = this[RUN];
    const op = fn.name || "anonymous";
    return underSignal(
      signal,
      (parent) =>
        (flags.calls
          ? observed(
            this[KIND],
            this[NAME],
            target,
            fn as Target,
            undefined,
            WITH_CONTEXT,
            parent,
            op,
          )
          : target.run(fn as Target, undefined, WITH_CONTEXT, parent, op)) as Promise<T>,
    );
  },
}, Function.prototype);

/** @internal Builds the callable policy object around a runner. */
export function createPolicy<P extends Policy<unknown>>(
  where: string,
  runner: Runner | { run: Runner; readonly name?: string },
  proto: object = policyProto,
  onWrap?: (fn: (...args: never[]) => unknown) => void,
  name = where,
): P {
  // An object with a `run` method (a breaker's state) saves a closure per policy.
  const target = typeof runner === "function" ? { run: runner } : runner;
  // A computed key names the function at creation (defineProperty would make it slow and big).
  const policy = {
    [name]: function (fn: (...args: unknown[]) => unknown, context?: unknown, legacy?: unknown) {
      if (legacy) return decorateLegacy(policy, legacy as object);
      if (typeof fn !== "function") {
        throw new TypeError(`${where}: expected a function to wrap, got ${typeof fn}`);
      }
      if (context !== undefined && (context as { kind?: unknown }).kind !== "method") {
        throw new TypeError(
          `${where}: can only decorate methods, not a ${
            String((context as { kind?: unknown }).kind)
          }`,
        );
      }
      onWrap?.(fn);
      const operation = fn.name || "anonymous";
      // Keeps the name, so that outer policies log and report the real operation.
      return {
        [fn.name]: function (this: unknown, ...args: unknown[]) {
          if (flags.calls) {
            return observed(
              where as PolicyKind,
              name,
              target,
              fn,
              this,
              args,
              parentScope(),
              operation,
            );
          }
          return target.run(fn, this, args, parentScope(), operation);
        },
      }[fn.name];
    },
  }[name] as unknown as PolicyFn;
  policy[RUN] = target;
  policy[KIND] = where as PolicyKind;
  policy[NAME] = name;
  Object.setPrototypeOf(policy, proto);
  return policy as unknown as P;
}

/**
 * Runs one call with a `call` event when it settles (only while a subscriber
 * asked for call events). The name: the runner's `name` when it is a string
 * (a breaker's current one, a retry's…), else the name the policy was made
 * with (an adaptive limiter's, a bulkhead's; its kind by default) — never
 * the operation's, so that a policy has one name in every event.
 */
function observed(
  kind: PolicyKind,
  made: string,
  target: { run: Runner; name?: unknown },
  fn: Target,
  thisArg: unknown,
  args: readonly unknown[],
  parent: Scope | undefined,
  operation: string,
): Promise<unknown> {
  const t0 = now();
  const name = typeof target.name === "string" ? target.name : made;
  let p: Promise<unknown>;
  try {
    p = target.run(fn, thisArg, args, parent, operation);
  } catch (e) {
    p = Promise.reject(e);
  }
  // A breaker's `isFailureResult`: the value it counts as a failure is a failure here too.
  const failedResult = kind === "circuitBreaker"
    ? (target as { opts?: { isFailureResult?: (v: unknown) => unknown } }).opts?.isFailureResult
    : undefined;
  return observeCall(kind, name, t0, p, parent, failedResult);
}

/**
 * @internal A legacy (`experimentalDecorators`) method decorator call is
 * `(target, key, descriptor)`: wraps `descriptor.value` (refused by `wrap`
 * when it is not a function: a getter, a field) and returns the new descriptor.
 */
export function decorateLegacy(wrap: (fn: never) => unknown, descriptor: object): object {
  return { ...descriptor, value: wrap((descriptor as { value: never }).value) };
}

/**
 * @internal For `Fallback.add` and `HealthCheck.register` used as decorators:
 * returns a function that calls `fn` bound to its class (static methods), or
 * `fn` itself for plain functions. Instance methods are refused.
 */
export function registrable<F extends (...args: never[]) => unknown>(
  where: string,
  fn: F,
  context?: ClassMethodDecoratorContext | string | symbol,
  descriptor?: TypedPropertyDescriptor<F>,
): F {
  if (typeof context === "string" || typeof context === "symbol") {
    // A legacy decorator call (experimentalDecorators): (target, key, descriptor).
    const method = descriptor?.value;
    if (typeof method !== "function") {
      throw new TypeError(
        `${where}: legacy decorators (experimentalDecorators) are not supported here; pass the function instead of decorating`,
      );
    }
    if (typeof fn !== "function") {
      throw new TypeError(
        `${where}: can decorate functions and static methods only (an instance method has no instance to call)`,
      );
    }
    // `fn` is the class: static methods run with it as `this`.
    return ((...args: never[]) => method.apply(fn, args)) as F;
  }
  if (typeof fn !== "function") {
    throw new TypeError(`${where}: expected a function, got ${typeof fn}`);
  }
  if (context === undefined) return fn;
  if (context.kind !== "method" || !context.static) {
    throw new TypeError(
      `${where}: can decorate functions and static methods only (an instance method has no instance to call)`,
    );
  }
  let target: F = fn;
  context.addInitializer(function (this: unknown) {
    target = fn.bind(this) as F;
  });
  return ((...args: never[]) => target(...args)) as F;
}
