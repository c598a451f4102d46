/**
 * Cancellation context shared by nested policies.
 *
 * Every policy call runs its work inside a *scope*. A scope can be aborted by
 * the policy that owns it (a timeout firing, a retry giving an attempt up) or
 * by its parent (an outer policy, or the caller's own `AbortSignal`). The
 * user's code sees a scope as a {@linkcode ResilienceContext}: an
 * `AbortSignal` (created only when read) and the attempt number.
 *
 * @module
 */

/**
 * What the protected code may know about the call it runs in.
 *
 * @example Reading the context in `execute` style
 * ```ts
 * import { timeout } from "edge-resilience";
 *
 * const res = await timeout(5_000).execute(({ signal, attempt }) => {
 *   console.log("attempt", attempt);
 *   return fetch("https://example.com", { signal });
 * });
 * ```
 */
export interface ResilienceContext {
  /**
   * Aborted when an enclosing timeout fires, when a retry gives the attempt
   * up, or when the caller's signal aborts. The reason is the error that
   * caused it (e.g. a `ResilienceTimeoutError`). Created on first read.
   */
  readonly signal: AbortSignal;
  /** 1-based attempt number of the nearest enclosing `retry` (1 without one). */
  readonly attempt: number;
}

type Listener = (reason: unknown) => void;
const NOT_ABORTED: unique symbol = Symbol("not aborted");
/** The part of a scope that exists only once something listens to it. */
type Lazy = {
  listeners?: Listener[];
  unlink?: () => void;
  signal?: AbortSignal;
  /** Registered on the caller's signal: this scope and its index in the fan. */
  owner?: Scope;
  slot?: number;
};
const noop = () => {};

/** @internal A node of the cancellation tree. Exported for the policies only. */
export class Scope implements ResilienceContext {
  readonly attempt: number;
  /**
   * Whether this scope can be aborted while work under it runs: it has the
   * caller's signal, or it (or an ancestor) belongs to a timeout. Scopes that
   * cannot (a retry attempt's, without either) need no abort listeners.
   */
  readonly live: boolean;
  #parent: Scope | undefined;
  #external: AbortSignal | undefined;
  /** The abort reason, or NOT_ABORTED. */
  #reason: unknown;
  /** Listeners, parent link and signal: allocated only when something listens. */
  #x: Lazy | undefined;

  constructor(parent?: Scope, attempt?: number, external?: AbortSignal, live = false) {
    this.#parent = parent;
    this.#external = external;
    this.#reason = NOT_ABORTED;
    this.#x = undefined;
    this.attempt = attempt ?? parent?.attempt ?? 1;
    this.live = live || external !== undefined || (parent?.live ?? false);
  }

  /** True once this scope or an ancestor was aborted. */
  get aborted(): boolean {
    if (this.#reason !== NOT_ABORTED) return true;
    const ext = this.#external;
    if (ext?.aborted) {
      this.abort(ext.reason);
      return true;
    }
    const p = this.#parent;
    if (p?.aborted) {
      this.abort(p.reason);
      return true;
    }
    return false;
  }

  /** The abort reason (meaningful once {@linkcode aborted} is true). */
  get reason(): unknown {
    return this.aborted ? this.#reason : undefined;
  }

  /** Aborts this scope and, through listeners, every linked descendant. */
  abort(reason: unknown): void {
    if (this.#reason !== NOT_ABORTED) return;
    this.#reason = reason;
    const x = this.#x;
    if (!x) return;
    const listeners = x.listeners;
    x.listeners = undefined;
    this.#unlinkParent();
    if (listeners) { for (const l of listeners) l(reason); }
  }

  /**
   * Calls `listener` once when the scope aborts (at once if it already has).
   * Returns an unsubscribe function.
   */
  onAbort(listener: Listener): () => void {
    if (this.aborted) {
      listener(this.#reason);
      return noop;
    }
    const x = (this.#x ??= {});
    (x.listeners ??= []).push(listener);
    this.#linkParent(x);
    return () => {
      const l = x.listeners;
      if (!l) return;
      const i = l.indexOf(listener);
      if (i >= 0) l.splice(i, 1);
    };
  }

  get signal(): AbortSignal {
    const x = (this.#x ??= {});
    let s = x.signal;
    if (s === undefined) {
      if (this.#external && !this.#parent) {
        // A root scope made from the caller's signal: hand it through as is.
        s = this.#external;
      } else {
        const ctl = new AbortController();
        this.onAbort((r) => ctl.abort(r));
        s = ctl.signal;
      }
      x.signal = s;
    }
    return s;
  }

  /** Detaches from the parent and the caller's signal once the call settled. */
  dispose(): void {
    const x = this.#x;
    if (!x) return;
    x.listeners = undefined;
    this.#unlinkParent();
  }

  #linkParent(x: Lazy): void {
    if (x.unlink) return;
    const ext = this.#external;
    const parent = this.#parent;
    let a = noop;
    let b = noop;
    if (ext) {
      const fan = watch(ext, x, this);
      a = () => unwatch(fan, ext, x);
    }
    if (parent) b = parent.onAbort((r) => this.abort(r));
    x.unlink = () => {
      a();
      b();
    };
  }

  #unlinkParent(): void {
    const x = this.#x;
    const u = x?.unlink;
    if (u) {
      x!.unlink = noop;
      u();
    }
  }
}

/**
 * One abort listener per caller signal, however many calls share it: the
 * listener aborts every scope registered on the signal. A scope leaves the
 * set when its call settles; the listener is removed once the set is empty
 * (the set itself stays with the signal, ready for its next call).
 */
type Fan = { entries: Lazy[]; onAbort: () => void };
const fans = new WeakMap<AbortSignal, Fan>();

/** Registers `x` (the lazy part of `scope`) on `signal`'s fan. */
function watch(signal: AbortSignal, x: Lazy, scope: Scope): Fan {
  let fan = fans.get(signal);
  if (!fan) {
    const entries: Lazy[] = [];
    const onAbort = () => {
      const reason = signal.reason;
      const all = entries.splice(0);
      let thrown: { e: unknown } | undefined;
      for (const e of all) {
        e.slot = -1;
        try {
          e.owner!.abort(reason);
        } catch (err) {
          thrown ??= { e: err }; // the others still abort (as separate listeners would)
        }
      }
      if (thrown) throw thrown.e;
    };
    fans.set(signal, fan = { entries, onAbort });
  }
  const entries = fan.entries;
  if (entries.length === 0) signal.addEventListener("abort", fan.onAbort, { once: true });
  x.owner = scope;
  x.slot = entries.length;
  entries.push(x);
  return fan;
}

/** Removes `x` from the fan (swap with the last entry: O(1)). */
function unwatch(fan: Fan, signal: AbortSignal, x: Lazy): void {
  const i = x.slot!;
  if (i < 0) return;
  x.slot = -1;
  const entries = fan.entries;
  const last = entries.pop()!;
  if (last !== x) {
    entries[i] = last;
    last.slot = i;
  }
  if (entries.length === 0) signal.removeEventListener("abort", fan.onAbort);
}

/** @internal Scopes registered on the caller's `signal` now (for tests). */
export function signalWatchers(signal: AbortSignal): number {
  return fans.get(signal)?.entries.length ?? 0;
}

/** Marks "inside a policy call that has no scope of its own" (no allocation per call). */
const NO_SCOPE = {} as Scope;
let current: Scope | undefined;

/**
 * The context of the policy call whose function is starting right now.
 *
 * Policies set it while they *synchronously* start the function they wrap, so
 * call it at the top of a wrapped function or decorated method, before the
 * first `await`. Outside that window it returns `undefined`. Nested wrapped
 * functions started in that window inherit the context automatically.
 *
 * @example Getting the signal inside a decorated method
 * ```ts
 * import { currentContext, timeout } from "edge-resilience";
 *
 * class Api {
 *   @timeout(5_000)
 *   async load(url: string): Promise<Response> {
 *     const ctx = currentContext(); // before the first await
 *     return await fetch(url, { signal: ctx?.signal });
 *   }
 * }
 * ```
 */
export function currentContext(): ResilienceContext | undefined {
  // Inside a policy with nothing that can abort: a fresh, never-aborted context.
  return current === NO_SCOPE ? new Scope() : current;
}

/** @internal The scope a newly started policy call should treat as parent. */
export function parentScope(): Scope | undefined {
  return current === NO_SCOPE ? undefined : current;
}

/** @internal Calls `fn` with `scope` as the current context. */
export function callIn<R>(
  scope: Scope | undefined,
  fn: (...args: never[]) => R,
  thisArg: unknown,
  args: readonly unknown[],
): R {
  const prev = current;
  current = scope ?? NO_SCOPE;
  try {
    return (fn as (...a: unknown[]) => R).apply(thisArg, args as unknown[]);
  } finally {
    current = prev;
  }
}

/**
 * @internal Starts a call whose parent is the current scope, or — when the
 * caller passed a signal — a scope made from that signal, detached once the
 * call settles so that a long-lived signal does not collect listeners.
 */
export function underSignal<T>(
  signal: AbortSignal | undefined,
  start: (parent: Scope | undefined) => Promise<T>,
): Promise<T> {
  if (!signal) return start(parentScope());
  const root = new Scope(parentScope(), undefined, signal);
  const p = start(root);
  const detach = () => root.dispose();
  p.then(detach, detach);
  return p;
}

/**
 * @internal Marks a call made by `execute`: the function receives the
 * context as its only argument.
 */
export const WITH_CONTEXT: readonly unknown[] = Object.freeze([]);

/** @internal A function a policy protects. */
export type Target = (...args: never[]) => unknown;

/**
 * @internal Starts `fn` in `scope`: with the caller's `this` and arguments,
 * or, for `execute`, with the context as its argument. No per-call closure.
 */
export function start(
  scope: Scope | undefined,
  fn: Target,
  thisArg: unknown,
  args: readonly unknown[],
): unknown {
  if (args !== WITH_CONTEXT) return callIn(scope, fn, thisArg, args);
  const ctx = scope ?? new Scope(); // execute's function always gets a context
  return callIn(ctx, fn, undefined, [ctx]);
}
