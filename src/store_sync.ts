// The breaker side of shared state: a local view of the store's state, kept
// fresh in the background, batched outcome reports, synchronous permit
// requests only when OPEN is due to end, and a local fallback whenever the
// store fails (throws, hangs, is slow, or returns malformed data).
import type { BreakerCore, Token, TransitionReason } from "./circuit_breaker.ts";
import { CircuitState } from "./circuit_state.ts";
import { savedWindowStats } from "./circuit_breaker/shared_rules.ts";
import type { WindowStats } from "./circuit_breaker/strategy.ts";
import { type Scope, start, type Target } from "./context.ts";
import {
  boundSharedState,
  type CircuitStore,
  initialSharedState,
  openDuration,
  type Outcome,
  parseSharedState,
  type PermitAnswer,
  type SharedConfig,
  type SharedState,
  withoutMark,
} from "./store.ts";
import { checkKnownOptions, checkNumber, checkObject, optionNames } from "./validate.ts";

/** Tuning of a breaker's store link (option `storeOptions`). Durations in ms. */
export interface StoreOptions {
  /** Bound of every store operation; past it the store counts as unavailable. Default 500. */
  timeout?: number;
  /** Age after which the local view is refreshed (in the background). Default 1000. */
  refreshInterval?: number;
  /** Successes are reported in batches of this size (failures at once). Default 20. */
  batchSize?: number;
  /** After a failure, the store is tried again (in the background) after this. Default 5000. */
  retryInterval?: number;
  /**
   * Half-open trial permits not returned within this are reclaimed (the
   * holder hung or crashed), so a stuck trial in one instance blocks the
   * trials of others for at most this long. At most `resetTimeout`.
   * Default: `resetTimeout`, capped at 30000.
   */
  permitTtl?: number;
  /**
   * While the store is unavailable: `"local"` (default) — this isolate's own
   * breaker decides, starting from the last shared state it saw; `"allow"` —
   * every call runs; `"reject"` — every call fails fast.
   */
  whenUnavailable?: "local" | "allow" | "reject";
}

const STORE_OPTIONS = optionNames<StoreOptions>({
  timeout: 1,
  refreshInterval: 1,
  batchSize: 1,
  retryInterval: 1,
  permitTtl: 1,
  whenUnavailable: 1,
});

/** Emitted when a breaker's store becomes unavailable or recovers. */
export interface StoreStatusEvent {
  /** Breaker name. */
  readonly name: string;
  /** Whether the store is usable again. */
  readonly available: boolean;
  /** What failed (when it became unavailable). */
  readonly error?: unknown;
}

/** @internal `admit()`'s answer for a call that must be rejected. */
export const REJECT = -1;

/** A call admitted through the store. */
export interface SharedToken {
  generation: number;
  permit: boolean;
  /** The permit's id from the store (authoritative stores that give one). */
  permitId?: number;
}

/** Admission answers: a token, LOCAL (use the local machine), ALLOW, or rejection ms. */
export type Admission =
  | { kind: "shared"; token: SharedToken }
  | { kind: "local"; gen: Token }
  | { kind: "allow" }
  | { kind: "reject"; timeUntilReset: number; state: CircuitState };

const FAILED: unique symbol = /* @__PURE__ */ Symbol("store failed");

/** @internal Where a store keeps the function that links it to a breaker. */
export const LINK: unique symbol = /* @__PURE__ */ Symbol.for("edge-resilience.store-link");

/** @internal A store, as linked by {@linkcode circuitStore}. */
export type LinkedStore = CircuitStore & {
  [LINK]: (core: BreakerCore) => StoreLink;
};

/**
 * Makes a store implementation usable by breakers: checks its shape and
 * links it to the breaker machinery (which a breaker without a store does
 * not load). Returns `impl` itself. The stores of this library (MemoryStore,
 * the Durable Object, Workers KV and Deno KV stores) come linked already;
 * wrap your own, e.g. a Redis-backed one.
 *
 * @example
 * ```ts
 * import { acquirePermit, applyOutcomes, circuitBreaker, circuitStore, initialSharedState } from "edge-resilience";
 *
 * const states = new Map();
 * const store = circuitStore({
 *   kind: "authoritative",
 *   async sync(key, outcomes, config) {
 *     const s = applyOutcomes(states.get(key) ?? initialSharedState(), outcomes, config, Date.now());
 *     states.set(key, s);
 *     return s;
 *   },
 *   async acquire(key, config) {
 *     const r = acquirePermit(states.get(key) ?? initialSharedState(), config, Date.now());
 *     states.set(key, r.state);
 *     return r;
 *   },
 * });
 * const breaker = circuitBreaker({ name: "api", store });
 * ```
 */
export function circuitStore<S extends CircuitStore>(impl: S): S {
  if (
    typeof impl !== "object" || impl === null || typeof impl.sync !== "function" ||
    (impl.kind !== "authoritative" && impl.kind !== "advisory") ||
    (impl.kind === "authoritative" && typeof impl.acquire !== "function") ||
    (impl.kind === "advisory" && typeof impl.publish !== "function")
  ) {
    throw new TypeError(
      "circuitStore: expected { kind: 'authoritative', sync, acquire } or { kind: 'advisory', sync, publish }",
    );
  }
  Object.defineProperty(impl, LINK, {
    value: (core: BreakerCore) => new StoreLink(core, impl),
  });
  return impl;
}

export class StoreLink {
  readonly #core: BreakerCore;
  readonly #store: CircuitStore;
  readonly #key: string;
  readonly #config: SharedConfig;
  readonly #timeout: number;
  readonly #refresh: number;
  readonly #batch: number;
  readonly #retry: number;
  readonly #mode: "local" | "allow" | "reject";
  #view: SharedState | undefined;
  #fetchedAt = -Infinity;
  #pending: Outcome[] = [];
  #chain: Promise<void> = Promise.resolve();
  /** The send queued behind the one in flight, if any (see `#flush`). */
  #queued: Promise<void> | undefined;
  #background = new Set<Promise<void>>();
  #down = false;
  #retryAt = 0;
  #initial: Promise<void> | undefined;
  /** Permit requests of this instance go one at a time (no request storms). */
  #permitQueue: Promise<void> = Promise.resolve();
  /** A denial reused by queued callers until a trial settles or the view ages. */
  #denied: { at: number; state: SharedState } | undefined;

  constructor(core: BreakerCore, store: CircuitStore) {
    const W = "circuitBreaker";
    const key = core.opts.storeKey ?? core.opts.name;
    if (typeof key !== "string" || key === "") {
      throw new TypeError(`${W}: option 'storeKey' (or 'name') is required with option 'store'`);
    }
    try {
      store.checkKey?.(key);
    } catch (e) {
      const option = core.opts.storeKey !== undefined ? "storeKey" : "name";
      const Class = e instanceof RangeError ? RangeError : TypeError;
      throw new Class(`${W}: option '${option}' cannot be a key of this store: ${String(e)}`, {
        cause: e,
      });
    }
    checkObject(W, "storeOptions", core.opts.storeOptions);
    checkKnownOptions(`${W}: storeOptions`, core.opts.storeOptions, STORE_OPTIONS);
    const o = core.opts.storeOptions ?? {};
    this.#core = core;
    this.#store = store;
    this.#key = key;
    this.#timeout = checkNumber(W, "storeOptions.timeout", o.timeout, 500, 0, {
      exclusiveMin: true,
    });
    const trip = core.trip!; // kept for the link
    this.#config = {
      // Rate only: no run of failures trips (the largest count a store accepts).
      failureThreshold: Number.isFinite(trip.consecutive)
        ? trip.consecutive
        : Number.MAX_SAFE_INTEGER,
      ...(trip.rates ? { rates: trip.rates } : {}),
      ...(core.maxReset > core.resetTimeout ? { maxResetTimeout: core.maxReset } : {}),
      resetTimeout: core.resetTimeout,
      halfOpenMaxCalls: core.halfOpenMax,
      // A trial that never reports (a hung or crashed instance) blocks the others' trials no
      // longer than resetTimeout: its permit expires.
      permitTtl: checkNumber(
        W,
        "storeOptions.permitTtl",
        o.permitTtl,
        Math.max(1, Math.min(30_000, core.resetTimeout)),
        1,
        { max: Math.max(1, core.resetTimeout) },
      ),
      timeout: this.#timeout,
    };
    this.#refresh = checkNumber(W, "storeOptions.refreshInterval", o.refreshInterval, 1000, 0);
    this.#batch = checkNumber(W, "storeOptions.batchSize", o.batchSize, 20, 1, {
      integer: true,
      max: 10_000,
    });
    this.#retry = checkNumber(W, "storeOptions.retryInterval", o.retryInterval, 5000, 0);
    const mode = o.whenUnavailable ?? "local";
    if (mode !== "local" && mode !== "allow" && mode !== "reject") {
      throw new TypeError(
        `${W}: option 'storeOptions.whenUnavailable' must be "local", "allow" or "reject"`,
      );
    }
    this.#mode = mode;
  }

  /** A call through the store (shared token, the local machine, or allowed). */
  async run(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    const core = this.#core;
    const a = await this.admit(core.clock.now());
    if (a.kind === "reject") return await core.reject(thisArg, args, a.timeUntilReset, a.state);
    if (a.kind === "local") {
      if (a.gen === REJECT) return await core.reject(thisArg, args, core.left, core.state);
      return await core.runLocal(a.gen, fn, thisArg, args, parent);
    }
    core.totalCalls++;
    // Slow calls: the call's duration is reported with its outcome.
    const t0 = core.slowAfter === Infinity ? NaN : core.clock.now();
    const slow = () => core.clock.now() - t0 >= core.slowAfter; // false when not measured
    let value;
    try {
      value = await start(parent, fn, thisArg, args);
    } catch (e) {
      if (core.callerAborted(parent)) {
        // The caller's own cancellation says nothing about the service: a trial only
        // returns its permit.
        if (a.kind === "shared" && a.token.permit) this.settle(a.token, null);
        throw e;
      }
      const failed = core.countsAsFailure(e);
      if (failed) core.totalFailures++;
      // A neutral (excluded) error shows the service answers: a trial returns its permit as a success.
      if (a.kind === "shared" && (failed || a.token.permit)) this.settle(a.token, !failed, slow());
      throw e;
    }
    // A returned value can be a failure too (isFailureResult); it is still returned.
    const ok = core.resultOutcome(value) === "success";
    if (ok) core.totalSuccesses++;
    else core.totalFailures++;
    if (a.kind === "shared") this.settle(a.token, ok, slow());
    return value;
  }

  /** The local machine takes over from a shared state (outage, or a broadcast OPEN). */
  #adopt(s: SharedState, wallNow: number, now: number): void {
    const core = this.#core;
    if (s.state === CircuitState.CLOSED) {
      if (core.state !== CircuitState.CLOSED) core.transition(CircuitState.CLOSED, "shared");
      return;
    }
    // OPEN (possibly due) or HALF_OPEN: open locally for what is left of it, so that a
    // due circuit goes on with (local) trial calls rather than letting everything through.
    const left = s.state === CircuitState.OPEN
      ? Math.max(0, openDuration(s, this.#config) - (wallNow - s.openedAt))
      : 0;
    if (core.state === CircuitState.OPEN && core.remaining(now) >= left) return;
    if (core.state !== CircuitState.OPEN) core.transition(CircuitState.OPEN, "shared");
    core.openedAt = now - (core.openFor - left);
  }

  /** Store availability events, to `onStoreStatus`. */
  #status(e: StoreStatusEvent): void {
    try {
      this.#core.opts.onStoreStatus?.(e);
    } catch (err) {
      this.#core.logger().error(
        `Circuit breaker '${this.#core.name}' store listener threw: ${String(err)}`,
      );
    }
  }

  /**
   * A transition seen in the shared state, logged and emitted. An OPEN that
   * this instance's own report caused (its failure, in the generation just
   * before) keeps the seed's wording ("OPEN after N failures", "OPEN after a
   * failed trial call"); any other OPEN was decided elsewhere: reason
   * `shared` ("OPEN (shared: opened by another instance)").
   */
  #announce(old: SharedState, s: SharedState, sent: readonly Outcome[] | undefined): void {
    const from = old.state;
    const to = s.state;
    let reason: TransitionReason;
    if (to === CircuitState.OPEN) {
      const ours = s.generation === old.generation + 1 &&
        // (a rate can trip on a success too: the one that brought minimumThroughput)
        sent?.some((o) => (!o.ok || s.tripped !== undefined) && o.generation === old.generation);
      reason = !ours
        ? "shared"
        : from === CircuitState.HALF_OPEN
        ? "half_open_failure"
        : s.tripped ?? "failure_threshold";
    } else reason = to === CircuitState.CLOSED ? "recovered" : "reset_timeout";
    // A rate trip counts the failures of the window that tripped.
    const rates = this.#config.rates;
    const failures = to !== CircuitState.OPEN
      ? old.failures
      : s.tripped && rates
      ? savedWindowStats(rates, s.window, this.#core.clock.wallNow()).failures
      : s.failures;
    this.#core.emit(from, to, reason, failures, s.generation);
  }

  /**
   * Checks a state read from the store: its shape, then its times against
   * this breaker's config (see `boundSharedState`); a repair the store made
   * is logged here, once (only the answer of the repairing operation says so).
   */
  #read(v: unknown): SharedState {
    const core = this.#core;
    const s = boundSharedState(parseSharedState(v), this.#config, core.clock.wallNow());
    if (s.repaired === undefined) return s;
    core.logger().warn(
      `Circuit breaker '${core.name}': the shared state in the store was unreadable (${s.repaired}); replaced by a fresh CLOSED state`,
      { name: core.name, reason: s.repaired },
    );
    return withoutMark(s);
  }

  /** A transition of the local machine: advisory stores broadcast OPEN and CLOSED. */
  localTransition(to: CircuitState, generation: number): void {
    const store = this.#store;
    if (store.kind !== "advisory" || this.#down) return;
    if (to !== CircuitState.OPEN && to !== CircuitState.CLOSED) return;
    const s = initialSharedState();
    s.state = to;
    s.generation = generation;
    s.openedAt = to === CircuitState.OPEN ? this.#core.clock.wallNow() : 0;
    this.#spawn(this.#op(() => store.publish!(this.#key, s)).then(() => {}));
  }

  /** Rate mode: the shared window's counts and rates (from the view). */
  windowStats(): WindowStats | undefined {
    const rates = this.#config.rates;
    const v = this.view;
    return rates && v ? savedWindowStats(rates, v.window, this.#core.clock.wallNow()) : undefined;
  }

  get available(): boolean {
    return !this.#down;
  }

  /** The shared view, when the store is in use (authoritative stores). */
  get view(): SharedState | undefined {
    return this.#down || this.#store.kind === "advisory" ? undefined : this.#view;
  }

  /**
   * Runs a store operation under the timeout and validates its answer;
   * FAILED (and outage handling) on any fault.
   */
  async #op<T>(fn: () => Promise<T>, check?: (r: T) => T): Promise<T | typeof FAILED> {
    const clock = this.#core.clock;
    let timer: unknown;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = clock.setTimeout(
          () => reject(new Error(`store did not answer within ${this.#timeout}ms`)),
          this.#timeout,
        );
      });
      let r: T = await Promise.race([Promise.resolve().then(fn), deadline]);
      if (check) r = check(r);
      this.#up();
      return r;
    } catch (e) {
      this.#fail(e);
      return FAILED;
    } finally {
      clock.clearTimeout(timer);
    }
  }

  #fail(error: unknown): void {
    const now = this.#core.clock.now();
    this.#retryAt = now + this.#retry;
    if (this.#down) return;
    this.#down = true;
    const core = this.#core;
    core.logger().warn(
      `Circuit breaker '${core.name}': state store unavailable (${String(error)}); using ${
        this.#mode === "local" ? "local state" : `'${this.#mode}' mode`
      }`,
      { name: core.name, error },
    );
    if (this.#view && this.#store.kind === "authoritative") {
      this.#adopt(this.#view, core.clock.wallNow(), now);
    }
    this.#status({ name: core.name, available: false, error });
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    const core = this.#core;
    core.logger().info(`Circuit breaker '${core.name}': state store available again`, {
      name: core.name,
    });
    this.#status({ name: core.name, available: true });
  }

  #spawn(p: Promise<void>): void {
    this.#background.add(p);
    p.then(() => this.#background.delete(p));
  }

  #setView(s: SharedState, sent?: readonly Outcome[]): void {
    const old = this.#view;
    this.#view = s;
    this.#fetchedAt = this.#core.clock.now();
    if (this.#store.kind === "advisory") {
      // Adopt a broadcast OPEN that is still running (an old one must not disturb).
      const wall = this.#core.clock.wallNow();
      if (
        s.state === CircuitState.OPEN && wall - s.openedAt < this.#config.resetTimeout
      ) {
        this.#adopt(s, wall, this.#core.clock.now());
      }
    } else if (old && old.generation !== s.generation && old.state !== s.state) {
      this.#announce(old, s, sent);
    }
  }

  /**
   * Sends pending outcomes (in order, after earlier sends) and refreshes the
   * view. Coalesced: at most one send in flight and one queued behind it;
   * every flush asked for meanwhile joins the queued one. So a slow or
   * hanging store costs one pending operation, not one per call.
   */
  #flush(): Promise<void> {
    if (this.#queued) return this.#queued;
    const run = async () => {
      this.#queued = undefined;
      // Taken when the send starts: outcomes recorded while it is under way go in the next one.
      const batch = this.#pending;
      this.#pending = [];
      const cfg = this.#config;
      const r = await this.#op(
        () => this.#store.sync(this.#key, batch, cfg),
        (v) => (v === undefined ? initialSharedState() : this.#read(v)),
      );
      if (r !== FAILED) this.#setView(r!, batch);
    };
    this.#queued = this.#chain = this.#chain.then(run);
    return this.#queued;
  }

  /** Decides how a call at monotonic `now` proceeds. */
  async admit(now: number): Promise<Admission> {
    if (this.#down) {
      if (now >= this.#retryAt) {
        this.#retryAt = now + this.#retry;
        this.#spawn(this.#flush());
      }
      return this.#unavailable();
    }
    if (this.#view === undefined) {
      // The first calls of this isolate learn the shared state: one fetch for all of them.
      this.#initial ??= this.#flush().then(() => {
        this.#initial = undefined;
      });
      await this.#initial;
      if (this.#down) return this.#unavailable();
    } else if (now - this.#fetchedAt > this.#refresh) {
      this.#fetchedAt = now; // one refresh at a time
      this.#spawn(this.#flush());
    }
    if (this.#store.kind === "advisory") return { kind: "local", gen: this.#core.admit() };
    const v = this.#view!;
    const cfg = this.#config;
    if (v.state === CircuitState.CLOSED) {
      return { kind: "shared", token: { generation: v.generation, permit: false } };
    }
    const wall = this.#core.clock.wallNow();
    if (v.state === CircuitState.OPEN && wall - v.openedAt < openDuration(v, cfg)) {
      return {
        kind: "reject",
        timeUntilReset: openDuration(v, cfg) - (wall - v.openedAt),
        state: CircuitState.OPEN,
      };
    }
    // OPEN is due to end, or HALF_OPEN: only the store can grant a trial.
    const answer = await this.#acquire();
    if (answer === FAILED) return this.#unavailable();
    this.#setView(answer.state);
    const s = answer.state;
    if (!answer.granted) {
      const left = s.state === CircuitState.OPEN ? openDuration(s, cfg) - (wall - s.openedAt) : 0;
      return { kind: "reject", timeUntilReset: Math.max(0, left), state: s.state };
    }
    const permit = s.state === CircuitState.HALF_OPEN;
    return {
      kind: "shared",
      token: permit && answer.permit !== undefined
        ? { generation: s.generation, permit, permitId: answer.permit }
        : { generation: s.generation, permit },
    };
  }

  /** One permit request at a time; a fresh denial answers the callers queued behind it. */
  async #acquire(): Promise<PermitAnswer | typeof FAILED> {
    const previous = this.#permitQueue;
    let release!: () => void;
    this.#permitQueue = new Promise<void>((r) => (release = r));
    await previous;
    try {
      const d = this.#denied;
      if (d && this.#core.clock.now() - d.at < this.#refresh) {
        return { granted: false, state: d.state };
      }
      const cfg = this.#config;
      const answer = await this.#op(
        () => this.#store.acquire!(this.#key, cfg),
        (a) => {
          if (typeof a?.granted !== "boolean") throw new TypeError("malformed permit answer");
          const r: PermitAnswer = { granted: a.granted, state: this.#read(a.state) };
          if (typeof a.permit === "number" && Number.isFinite(a.permit)) r.permit = a.permit;
          return r;
        },
      );
      this.#denied = answer !== FAILED && !answer.granted
        ? { at: this.#core.clock.now(), state: answer.state }
        : undefined;
      return answer;
    } finally {
      release();
    }
  }

  #unavailable(): Admission {
    if (this.#mode === "allow") return { kind: "allow" };
    if (this.#mode === "reject") {
      return { kind: "reject", timeUntilReset: this.#retry, state: CircuitState.OPEN };
    }
    return { kind: "local", gen: this.#core.admit() };
  }

  /**
   * Records a shared call's outcome (`null`: neutral, only returns the permit);
   * failures and trials are sent at once.
   */
  settle(token: SharedToken, ok: boolean | null, slow = false): void {
    if (token.permit) this.#denied = undefined; // a trial ended: permits may be free again
    const o: Outcome = ok === null
      ? { ok: true, neutral: true, generation: token.generation }
      : { ok, generation: token.generation };
    if (slow) o.slow = true;
    if (token.permit) {
      o.permit = true;
      if (token.permitId !== undefined) o.permitId = token.permitId;
    }
    this.#pending.push(o);
    if (!ok || token.permit || this.#pending.length >= this.#batch) this.#spawn(this.#flush());
  }

  /**
   * Sends what is pending, refreshes the view, and waits for every
   * background store operation.
   */
  async flush(): Promise<void> {
    if (!this.#down) this.#spawn(this.#flush());
    while (this.#background.size) await Promise.all([...this.#background]);
  }
}
