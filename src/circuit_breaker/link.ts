// A shared circuit: this instance runs the breaker's own state machine (its
// replica) and the link keeps it in step with the store's copy — transport
// only: batched reports, a bounded timeout per operation, outages (logged
// once, a background probe), background refreshes. What the store said is
// loaded into the replica, and this instance's own outcomes not yet
// acknowledged are applied on top at once: its own evidence never waits for
// the store. Trial permits come from the store (the fleet's limit).
import type { Clock } from "../clock.ts";
import { CircuitState } from "../circuit_state.ts";
import { type Scope, start, type Target } from "../context.ts";
import { type Logger, printable } from "../logger.ts";
import { storeKey } from "../shared/keys.ts";
import type { SharedStore } from "../shared/port.ts";
import { publish } from "../telemetry.ts";
import { type LinkSettings, linkSettings, type StoreStatusEvent } from "./link_options.ts";
import {
  type CircuitMachine,
  type Command,
  FAILURE,
  NEUTRAL,
  REJECT,
  type Result,
  SUCCESS,
  type Token,
} from "./machine.ts";
import type { CircuitOp } from "./reducer.ts";
import { sharedConfig } from "./settings.ts";
import {
  boundSharedState,
  initialSharedState,
  loadState,
  type Outcome,
  parseSharedState,
  type PermitAnswer,
  type SharedConfig,
  type SharedState,
  withoutMark,
} from "./shared_data.ts";
import type { Trip } from "./trip_options.ts";
import type { CircuitBreakerOptions, TransitionReason } from "./types.ts";

/** What the link needs of its breaker: the machine, and the policy around it. */
export interface LinkHost extends CircuitMachine {
  readonly name: string;
  readonly clock: Clock;
  readonly opts: CircuitBreakerOptions;
  readonly trip: Trip;
  readonly threshold: number;
  quiet: boolean;
  isolated: number;
  totalCalls: number;
  totalFailures: number;
  logger(): Logger;
  admitCall(): Token;
  reject(thisArg: unknown, args: readonly unknown[], left?: number): Promise<unknown>;
  runLocal(
    token: Token,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown>;
}

const FAILED: unique symbol = /* @__PURE__ */ Symbol("store failed");

/**
 * Waits for `p`, or rejects with the caller's reason as soon as the caller
 * aborts (`p` is one of the link's own promises, which never reject: it is
 * left to settle by itself).
 */
function waitFor<T>(p: Promise<T>, parent: Scope | undefined): Promise<T> {
  if (parent === undefined || !parent.live) return p;
  if (parent.aborted) return Promise.reject(parent.reason);
  let off!: () => void;
  const left = new Promise<never>((_, reject) => (off = parent.onAbort(reject)));
  return Promise.race([p, left]).finally(off);
}
const DENIED = false;

export class StoreLink {
  readonly #host: LinkHost;
  readonly #store: SharedStore;
  readonly #key: string;
  readonly #config: SharedConfig;
  readonly #s: LinkSettings;
  /** A copy older than this (ms) is not used: the instance was idle (see `run`). */
  readonly #idle: number;
  /** Whether a store answer has been loaded (the first calls wait for it). */
  #synced = false;
  #fetchedAt = -Infinity;
  /** This instance's outcomes not yet sent (`at` on the monotonic clock until sent: see `#wall`). */
  #pending: Outcome[] = [];
  /** Operator commands not yet acknowledged by the store (kept through an outage), with when (monotonic). */
  #commands: { command: Command; at: number }[] = [];
  /** A future-dated `openedAt` read from the store, and the bound it got when first seen. */
  #futureAt = NaN;
  #futureBound = NaN;
  /** The instance was isolated when the store last answered: its next load is a rejoin. */
  #rejoin = false;
  #chain: Promise<void> = Promise.resolve();
  /** The send queued behind the one in flight, if any (see `#flush`). */
  #queued: Promise<void> | undefined;
  #background = new Set<Promise<void>>();
  #down = false;
  #retryAt = 0;
  /** The last round trips of store operations (ms), for the time in transit (see `#sentAt`). */
  #trips: number[] = [];
  #initial: Promise<void> | undefined;
  /** Startup (see `#gated`): over once a call did not fail or the circuit left CLOSED. */
  #gateOpen = false;
  /** Startup: how long the first store read took (the delay of the calls that waited for it). */
  #lag: number | undefined;
  /** Startup: the previous call's turn (calls are released in arrival order). */
  #turn: Promise<void> = Promise.resolve();
  /** Startup: the last released call, until it settles. */
  #inflight: Promise<void> | undefined;
  /** Permit requests of this instance go one at a time (no request storms). */
  #permitQueue: Promise<void> = Promise.resolve();
  /** When the store last denied a permit (reused until a trial settles or the view ages). */
  #deniedAt: number | undefined;
  /** Denials so far: a caller denied while it waited in the queue is denied (as at its arrival). */
  #denials = 0;
  /** Permit requests of this instance under way or queued. */
  #asking = 0;

  constructor(host: LinkHost, store: SharedStore) {
    const W = "circuitBreaker";
    const name = host.opts.storeKey ?? host.opts.name;
    if (host.opts.storeKey !== undefined && typeof host.opts.storeKey !== "string") {
      throw new TypeError(`${W}: option 'storeKey' must be a non-empty string`);
    }
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`${W}: option 'storeKey' (or 'name') is required with option 'store'`);
    }
    try {
      this.#key = storeKey("cb:", name);
      store.checkKey?.(this.#key);
    } catch (e) {
      const option = host.opts.storeKey !== undefined ? "storeKey" : "name";
      const Class = e instanceof RangeError ? RangeError : TypeError;
      throw new Class(`${W}: option '${option}' cannot be a key of this store: ${printable(e)}`, {
        cause: e,
      });
    }
    this.#s = linkSettings(W, host.opts.storeOptions);
    this.#host = host;
    this.#store = store;
    this.#config = sharedConfig(host, this.#s.timeout);
    this.#idle = Math.max(2 * this.#s.refresh, 2 * this.#s.timeout);
  }

  /** A call of a shared circuit. */
  async run(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    const clock = this.#host.clock;
    const arrived = clock.now();
    if (this.#down) {
      this.#probeLater();
      // Still at startup (the first read failed): in arrival order, behind the calls that
      // waited for that read (see below).
      if (this.#gateOpen || this.#s.mode !== "local") {
        return await this.#unavailable(fn, thisArg, args, parent);
      }
      return await this.#gated(arrived, fn, thisArg, args, parent);
    }
    if (!this.#synced) {
      // The first calls of this instance learn the shared state: one read for all of them.
      this.#initial ??= this.#flush().then(() => {
        this.#initial = undefined;
        this.#lag ??= clock.now() - arrived;
      });
      await waitFor(this.#initial, parent);
      if (this.#down) {
        // The first read failed (or timed out): the calls that waited for it go on the local
        // state, released in arrival order as after a read (not all at once: a local breaker
        // would have seen the earlier ones' failures before admitting the later ones).
        if (this.#gateOpen || this.#s.mode !== "local") {
          return await this.#unavailable(fn, thisArg, args, parent);
        }
        return await this.#gated(arrived, fn, thisArg, args, parent);
      }
    } else {
      const age = clock.now() - this.#fetchedAt;
      if (age > this.#idle) {
        // An idle instance's copy may be arbitrarily old (the fleet opened, half-opened, was
        // reset meanwhile): this call waits for a fresh one (one round trip after idleness).
        await waitFor(this.#flush(), parent);
        if (this.#down) return await this.#unavailable(fn, thisArg, args, parent);
      } else if (age > this.#s.refresh) {
        this.#fetchedAt = clock.now(); // one refresh at a time, in the background
        this.#spawn(this.#flush());
      }
    }
    if (!this.#gateOpen) return await this.#gated(arrived, fn, thisArg, args, parent);
    return await this.#admit(fn, thisArg, args, parent);
  }

  /**
   * Startup. The calls that waited for the first store read arrived over its
   * round trip, when a local breaker would have seen the outcomes of the
   * earlier ones before admitting the later ones. So, until one call of this
   * instance does not fail (or the circuit leaves CLOSED), calls are released
   * in arrival order, each as late as the first read took (`#lag`) after it
   * arrived, or as soon as the call before it settles, or at once when none
   * is in flight. An instance's own failures then stop it as early as a local
   * breaker's would, and a call that hangs delays the next by `#lag` at most.
   */
  async #gated(
    arrived: number,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    const host = this.#host;
    const previous = this.#turn;
    let next!: () => void;
    this.#turn = new Promise<void>((r) => (next = r));
    let timer: unknown;
    try {
      await waitFor(previous, parent);
      const wait = arrived + (this.#lag ?? 0) - host.clock.now();
      const inflight = this.#inflight;
      if (!this.#gateOpen && inflight !== undefined && wait > 0) {
        await waitFor(
          Promise.race([
            inflight,
            new Promise<void>((r) => (timer = host.clock.setTimeout(r, wait))),
          ]),
          parent,
        );
      }
    } finally {
      if (timer !== undefined) host.clock.clearTimeout(timer);
      // A caller that left early passes its turn on only when its own turn comes.
      previous.then(next);
    }
    if (host.state !== CircuitState.CLOSED) this.#gateOpen = true; // the startup is over
    const admit = (): Promise<unknown> =>
      this.#down
        ? this.#unavailable(fn, thisArg, args, parent)
        : this.#admit(fn, thisArg, args, parent);
    if (this.#gateOpen) return await admit();
    const failures = host.totalFailures;
    const p = admit();
    const settled: Promise<void> = p.then(() => {}, () => {}).then(() => {
      if (this.#inflight === settled) this.#inflight = undefined;
      if (host.totalFailures === failures || host.state !== CircuitState.CLOSED) {
        this.#gateOpen = true;
      }
    });
    this.#inflight = settled;
    return await p;
  }

  /** Admission by the replica; OPEN and due, or HALF_OPEN: a trial permit from the store. */
  async #admit(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    const host = this.#host;
    if (parent !== undefined && parent.aborted) throw parent.reason;
    const s = host.state;
    if (
      this.#store.kind === "advisory" || s === CircuitState.CLOSED || host.held ||
      (s === CircuitState.OPEN && host.remaining(host.time()) > 0)
    ) {
      const token = host.admitCall();
      if (token === REJECT) return await host.reject(thisArg, args);
      return await host.runLocal(token, fn, thisArg, args, parent);
    }
    const asker = { left: false };
    const asked = this.#acquire(asker);
    let answer: Awaited<typeof asked>;
    try {
      answer = await waitFor(asked, parent);
    } catch (e) {
      // The caller left while the permit was asked for: it is refused at once and the work
      // never starts; no request is sent for it if none was yet, and a permit granted later
      // goes back at once (a neutral trial), before the callers queued behind it ask.
      asker.left = true;
      asked.then((a) => this.#giveBack(a)); // answered before it saw the caller leave
      throw e;
    }
    if (parent !== undefined && parent.aborted) {
      this.#giveBack(answer);
      throw parent.reason;
    }
    if (answer === FAILED) return await this.#unavailable(fn, thisArg, args, parent);
    if (answer === DENIED || !answer.granted) {
      return await host.reject(thisArg, args, host.remaining(host.time()));
    }
    host.totalCalls++;
    const token: Token = answer.permit === undefined
      ? answer.state.generation
      : { gen: answer.state.generation, permit: answer.permit };
    return await host.runLocal(token, fn, thisArg, args, parent);
  }

  /** A permit granted to a caller that left (or to a stale request): returned, a neutral trial. */
  #giveBack(answer: PermitAnswer | typeof FAILED | typeof DENIED): void {
    if (answer === FAILED || answer === DENIED || answer.permit === undefined) return;
    const host = this.#host;
    const trial = { gen: answer.state.generation, permit: answer.permit };
    host.settle(trial, NEUTRAL, false, host.clock.wallNow());
    this.report(trial, NEUTRAL, false, host.clock.wallNow());
  }

  /** One permit request at a time; a recent denial answers the callers queued behind it. */
  async #acquire(asker: { left: boolean }): Promise<PermitAnswer | typeof FAILED | typeof DENIED> {
    const arrived = this.#denials;
    // Another permit request of this instance is under way: this caller arrived during the
    // fleet's trials, when a local breaker admits it as a trial or refuses it.
    const behind = this.#asking > 0;
    // The round of trials this caller arrived for: the current one if HALF_OPEN, else the next.
    const round = this.#host.gen + (this.#host.state === CircuitState.HALF_OPEN ? 0 : 1);
    this.#asking++;
    const previous = this.#permitQueue;
    let release!: () => void;
    this.#permitQueue = new Promise<void>((r) => (release = r));
    try {
      await previous;
      // Its caller left while it waited for its turn: nothing to ask for.
      if (asker.left) return DENIED;
      // The store failed while this caller waited: no request of its own (one timeout, not one
      // per queued caller).
      if (this.#down) return FAILED;
      const clock = this.#host.clock;
      // The fleet's trials were full while this caller waited: a local breaker would have
      // refused it when it arrived. A recent denial also answers new callers.
      if (this.#denials !== arrived) return DENIED;
      const host = this.#host;
      if (
        host.state === CircuitState.HALF_OPEN && host.running(host.time()) >= host.halfOpenMax
      ) {
        return DENIED; // this instance's own copy knows the fleet's permits are all taken
      }
      if (this.#deniedAt !== undefined && clock.now() - this.#deniedAt < this.#s.refresh) {
        return DENIED;
      }
      // The trials ended while it waited (the copy is CLOSED now): refused without a request.
      if (behind && this.#host.state === CircuitState.CLOSED) return DENIED;
      // The circuit moved on while it waited (a trial failed: OPEN again; or it closed): a
      // local breaker decided this caller when it arrived, in the trials now over — refused
      // (never let in later, in another round of trials).
      if (behind && (host.gen > round || host.state === CircuitState.OPEN && host.gen >= round)) {
        return DENIED;
      }
      if (host.state === CircuitState.OPEN && host.remaining(host.time()) > 0) return DENIED;
      const op: CircuitOp = { type: "circuit", action: "acquire", config: this.#config };
      // In order after this instance's earlier reports (sent first if pending): the store
      // decides with every outcome this instance has reported, and the answer is loaded under
      // the same rule as the others (outcomes not yet sent are applied on top).
      if (this.#pending.length > 0) void this.#flush();
      const genAsked = host.gen;
      const asked = this.#chain.then(() =>
        this.#op(() => this.#store.run!(this.#key, op), (a) => {
          const p = a as PermitAnswer;
          if (typeof p?.granted !== "boolean") throw new TypeError("malformed permit answer");
          const r: PermitAnswer = { granted: p.granted, state: this.#read(p.state) };
          if (typeof p.permit === "number" && Number.isFinite(p.permit)) r.permit = p.permit;
          return r;
        })
      );
      this.#spawn(this.#chain = asked.then(() => {}));
      const answer = await asked;
      if (answer === FAILED) return FAILED;
      if (host.gen !== genAsked && answer.state.generation < host.gen) {
        // This instance's own evidence moved the circuit on while the request was under way
        // (a trial failed: OPEN again): the answer is older than what it knows. Its permit goes
        // back and the caller is refused, as a local breaker would refuse it now; the report of
        // that evidence brings the store's next state.
        this.#giveBack(answer);
        return DENIED;
      }
      this.#adopt(answer.state);
      if (asker.left) {
        // Its caller left meanwhile: the permit goes back now, so that the callers queued
        // behind it find it free (a local breaker would admit them: no trial is running).
        this.#giveBack(answer);
        return DENIED;
      }
      // It waited behind another request and the trials ended meanwhile (the store answers
      // CLOSED, no permit): as a trial-time arrival it is refused, not let in with the crowd.
      // (The first caller of an instance runs: the circuit is CLOSED when the store decides.)
      if (behind && answer.granted && answer.permit === undefined) {
        this.#deniedAt = undefined;
        return DENIED;
      }
      this.#deniedAt = answer.granted ? undefined : clock.now();
      // A denial, or a grant that took the last permit: the callers queued behind this one
      // arrived while the fleet's trials were full (a local breaker refuses them on arrival),
      // even if the trials end, and the circuit closes, before their turn.
      if (
        !answer.granted ||
        (host.state === CircuitState.HALF_OPEN && host.running(host.time()) >= host.halfOpenMax)
      ) {
        this.#denials++;
      }
      return answer;
    } finally {
      this.#asking--;
      release();
    }
  }

  /** While the store is unavailable: the replica decides alone (or allow / reject). */
  #unavailable(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    // The caller may have left while the store was being asked: the work never starts.
    if (parent !== undefined && parent.aborted) return Promise.reject(parent.reason);
    const host = this.#host;
    const mode = this.#s.mode;
    if (mode === "reject") return host.reject(thisArg, args, this.#s.retry);
    if (mode === "allow") {
      try {
        return Promise.resolve(start(parent, fn, thisArg, args));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const token = host.admitCall();
    if (token === REJECT) return host.reject(thisArg, args);
    return host.runLocal(token, fn, thisArg, args, parent);
  }

  /**
   * A settled call's outcome, already applied to the replica by the breaker:
   * queued for the store (failures, trials and outcomes that moved the
   * replica sent at once, successes in batches).
   */
  report(token: Token, result: Result, slow: boolean, at: number, moved = false): void {
    const trial = typeof token !== "number";
    if (this.#down || this.#store.kind === "advisory" || (result === NEUTRAL && !trial)) return;
    const clock = this.#host.clock;
    // Kept on the monotonic clock until sent (see `#wall`).
    const o: Outcome = {
      ok: result !== FAILURE,
      generation: trial ? token.gen : token,
      at: clock.now() - (clock.wallNow() - at),
    };
    if (result === NEUTRAL) o.neutral = true;
    if (slow) o.slow = true;
    if (trial) {
      o.permit = true;
      o.permitId = token.permit;
      this.#deniedAt = undefined; // a trial ended: permits may be free again
    }
    this.#pending.push(o);
    if (result === FAILURE || trial || moved || this.#pending.length >= this.#s.batch) {
      this.#spawn(this.#flush());
    }
  }

  /**
   * An operator's command: applied to the replica by the breaker, sent to the
   * store. Never dropped: while the store is unavailable it is kept (in
   * order) and sent first when the store answers again; and it is itself a
   * probe, sent at once whatever `retryInterval` says (an operator acting
   * after an incident must not wait for the next call).
   */
  command(c: Command): void {
    if (this.#store.kind === "advisory") return;
    if (c === "reset") this.#pending = []; // counted before the reset: they must not count after it
    this.#commands.push({ command: c, at: this.#host.clock.now() });
    this.#spawn(this.#chain = this.#chain.then(async () => void await this.#sendCommands()));
  }

  /** Sends the operator commands not yet acknowledged, in order; false if the store failed. */
  async #sendCommands(): Promise<boolean> {
    // No round trip measured yet (a fresh instance's first operation): one read first, so that
    // the command's time in transit counts (else it is dated when it reaches the store: a later
    // command, of this instance or another, given within that time would be taken as older).
    if (this.#commands.length > 0 && this.#trips.length === 0) {
      const read: CircuitOp = {
        type: "circuit",
        action: "sync",
        outcomes: [],
        config: this.#config,
      };
      const r = await this.#op(
        () => this.#store.run!(this.#key, read),
        (v) => (v === undefined ? initialSharedState() : this.#read(v)),
      );
      if (r === FAILED) return false;
      this.#adopt(r);
    }
    while (this.#commands.length > 0) {
      const { command, at } = this.#commands[0];
      const op: CircuitOp = {
        type: "circuit",
        action: "command",
        command,
        at: this.#wall(at),
        sentAt: this.#sentAt(),
        config: this.#config,
      };
      const r = await this.#op(() => this.#store.run!(this.#key, op), (v) => this.#read(v));
      if (r === FAILED) return false;
      this.#commands.shift();
      this.#adopt(r);
    }
    return true;
  }

  /** A transition of the replica: advisory stores broadcast OPEN and CLOSED. */
  localTransition(to: CircuitState, reason: TransitionReason): void {
    const store = this.#store;
    if (store.kind !== "advisory" || this.#down || reason === "shared") return;
    if (to !== CircuitState.OPEN && to !== CircuitState.CLOSED) return;
    const host = this.#host;
    const s = initialSharedState();
    s.state = to;
    s.generation = host.gen;
    s.openedAt = to === CircuitState.OPEN ? host.openedAt : 0;
    if (host.openFor !== host.resetTimeout) s.openFor = host.openFor;
    this.#spawn(this.#op(() => store.publish!(this.#key, s)).then(() => {}));
  }

  get available(): boolean {
    return !this.#down;
  }

  /**
   * Loads what the store said into the replica, then this instance's own
   * outcomes not yet sent; one event if the state changed (muted meanwhile).
   */
  #adopt(s: SharedState): void {
    this.#synced = true;
    const host = this.#host;
    this.#fetchedAt = host.clock.now();
    // An isolated instance does not follow the store until released.
    if (host.isolated > 0) {
      this.#rejoin = true;
      return;
    }
    // Released from its own isolation: it rejoins the shared circuit (reason "shared"), which
    // did not necessarily move (its last reason, e.g. an old `reset`, would mislead).
    const rejoin = this.#rejoin;
    this.#rejoin = false;
    const from = host.state;
    const genBefore = host.gen;
    const late = host.late;
    host.quiet = true;
    try {
      loadState(host, s);
      // Commands the store has not acknowledged yet are this instance's last word: they stay
      // applied on top of any answer (an answer to an earlier operation must not undo them).
      for (const c of this.#commands) host.command(c.command);
      for (const o of this.#pending) {
        const result = o.neutral === true ? NEUTRAL : o.ok ? SUCCESS : FAILURE;
        const token = o.permitId === undefined ? o.generation : {
          gen: o.generation,
          permit: o.permitId,
        };
        // On top of what the store said, in their own order, as when they settled (see
        // `Breaker.finish`): the store's times are on its clock, shifted by an estimate of the
        // time in transit; this instance's on its own. A success of this instance ordered by
        // its own time before the store's last failure (its clock behind, or a way to the store
        // longer than the way back) did not end the run it ends locally: F s F F F tripped a
        // threshold of 4 here, and the copy refused calls a local breaker runs. The store,
        // which gets the report, decides for the fleet.
        const at = Math.max(this.#wall(o.at ?? 0), host.lastSuccessAt, host.lastFailureAt);
        host.settle(token, result, o.slow === true, at);
      }
    } finally {
      host.quiet = false;
      host.late = late;
    }
    if (host.state !== from) {
      // A state not newer than this copy's (the store did not follow a trip this instance
      // made on its own evidence): the store's last reason would tell an old story.
      const reason = rejoin || s.generation <= genBefore ? "shared" : host.reason ?? "shared";
      host.changed(from, host.state, reason, host.strategy.failures, true);
    }
  }

  /** An advisory store's broadcast: a running OPEN is adopted (an old one must not disturb). */
  #adoptBroadcast(v: unknown): void {
    this.#synced = true;
    const host = this.#host;
    this.#fetchedAt = host.clock.now();
    if (v === undefined || v === null || host.isolated > 0) return;
    const s = this.#read(v);
    const now = host.time();
    const left = s.state === CircuitState.OPEN
      ? (s.openFor ?? host.resetTimeout) - (now - s.openedAt)
      : 0;
    if (left <= 0 || (host.state === CircuitState.OPEN && host.remaining(now) >= left)) return;
    if (host.state !== CircuitState.OPEN) host.transition(CircuitState.OPEN, "shared");
    host.openedAt = s.openedAt;
    host.openFor = Math.min(s.openFor ?? host.resetTimeout, host.maxReset);
  }

  /** Store availability events, to `onStoreStatus`. */
  #status(e: StoreStatusEvent): void {
    const host = this.#host;
    const name = host.name;
    publish(
      "store.status",
      "circuitBreaker",
      name,
      e,
      host.opts.onStoreStatus,
      undefined,
      host.logger(),
      `Circuit breaker '${name}' store listener`,
    );
  }

  /**
   * Checks a state read from the store: its shape, then its times against
   * this breaker's config; a repair the store made is logged here, once
   * (only the answer of the repairing operation says so).
   */
  #read(v: unknown): SharedState {
    const host = this.#host;
    const parsed = parseSharedState(v);
    const raw = parsed.openedAt;
    // A future-dated OPEN (a store clock ahead of ours) is bounded when first seen, and keeps
    // that bound on every later read: re-bounding it against a moving "now" would keep the
    // countdown from ever running out.
    if (raw === this.#futureAt) parsed.openedAt = Math.min(raw, this.#futureBound);
    const s = boundSharedState(parsed, this.#config, host.clock.wallNow());
    if (s.openedAt < raw && raw !== this.#futureAt) {
      this.#futureAt = raw;
      this.#futureBound = s.openedAt;
    }
    if (s.repaired === undefined) return s;
    host.logger().warn(
      `Circuit breaker '${host.name}': the shared state in the store was unreadable (${s.repaired}); replaced by a fresh CLOSED state`,
      { name: host.name, reason: s.repaired },
    );
    return withoutMark(s);
  }

  /** Runs a store operation under the timeout and checks its answer; FAILED on any fault. */
  async #op<T>(fn: () => Promise<unknown>, check?: (r: unknown) => T): Promise<T | typeof FAILED> {
    const clock = this.#host.clock;
    const timeout = this.#s.timeout;
    let timer: unknown;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = clock.setTimeout(
          () => reject(new Error(`store did not answer within ${timeout}ms`)),
          timeout,
        );
      });
      const started = clock.now();
      const r = await Promise.race([Promise.resolve().then(fn), deadline]);
      const checked = check ? check(r) : r as T;
      if (this.#trips.push(clock.now() - started) > 8) this.#trips.shift();
      this.#up();
      return checked;
    } catch (e) {
      this.#fail(e);
      return FAILED;
    } finally {
      clock.clearTimeout(timer);
    }
  }

  /**
   * `sentAt` of an operation: when it reaches the store, on this clock — now
   * plus half the shortest of the last round trips. The store moves the
   * operation's times onto its clock by `now - sentAt`, so their age counts
   * the time in transit: a far instance's earlier command is not taken for a
   * later one than a near instance's (exact when the way there takes as long
   * as the way back).
   */
  #sentAt(): number {
    return this.#host.clock.wallNow() + (this.#trips.length ? Math.min(...this.#trips) / 2 : 0);
  }

  /**
   * A time of this instance's monotonic clock as wall time now: outcomes and
   * commands are dated by their age on the monotonic clock, so a step of the
   * wall clock between when they happened and when they are sent (NTP, a
   * resumed VM) does not move them (a success dated 1 h ahead hid every
   * failure of the fleet for the skew allowance).
   */
  #wall(mono: number): number {
    const clock = this.#host.clock;
    return clock.wallNow() - (clock.now() - mono);
  }

  #fail(error: unknown): void {
    const host = this.#host;
    this.#retryAt = host.clock.now() + this.#s.retry;
    this.#pending = []; // reports are never resent
    if (this.#down) return;
    this.#down = true;
    const mode = this.#s.mode;
    host.logger().warn(
      `Circuit breaker '${host.name}': state store unavailable (${printable(error)}); using ${
        mode === "local" ? "local state" : `'${mode}' mode`
      }`,
      { name: host.name, error },
    );
    this.#status({ name: host.name, available: false, error });
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    const host = this.#host;
    host.logger().info(`Circuit breaker '${host.name}': state store available again`, {
      name: host.name,
    });
    this.#status({ name: host.name, available: true });
  }

  /** While down: one background probe per `retryInterval`. */
  #probeLater(): void {
    const now = this.#host.clock.now();
    if (now < this.#retryAt) return;
    this.#retryAt = now + this.#s.retry;
    this.#spawn(this.#flush());
  }

  #spawn(p: Promise<void>): void {
    this.#background.add(p);
    p.then(() => this.#background.delete(p));
  }

  /**
   * Sends pending outcomes (in order, after earlier sends) and loads the
   * answer. Coalesced: at most one send in flight and one queued behind it;
   * every flush asked for meanwhile joins the queued one. So a slow or
   * hanging store costs one pending operation, not one per call.
   */
  #flush(): Promise<void> {
    if (this.#queued) return this.#queued;
    const run = async () => {
      this.#queued = undefined;
      const store = this.#store;
      if (store.kind === "advisory") {
        const r = await this.#op(() => store.read!(this.#key, this.#config));
        if (r !== FAILED) this.#adoptBroadcast(r);
        return;
      }
      // Commands the store has not acknowledged (given during an outage) go first.
      if (this.#commands.length > 0 && !(await this.#sendCommands())) return;
      // Taken when the send starts: outcomes recorded while it is under way go in the next one.
      const outcomes = this.#pending;
      this.#pending = [];
      for (const o of outcomes) o.at = this.#wall(o.at ?? 0);
      const op: CircuitOp = {
        type: "circuit",
        action: "sync",
        outcomes,
        sentAt: this.#sentAt(),
        config: this.#config,
      };
      const r = await this.#op(
        () => store.run!(this.#key, op),
        (v) => (v === undefined ? initialSharedState() : this.#read(v)),
      );
      if (r !== FAILED) this.#adopt(r);
    };
    this.#queued = this.#chain = this.#chain.then(run);
    return this.#queued;
  }

  /** Sends what is pending, refreshes the replica, and waits for every background operation. */
  async flush(): Promise<void> {
    if (!this.#down) this.#spawn(this.#flush());
    while (this.#background.size) await Promise.all([...this.#background]);
  }
}
