// The rate limiter's side of a shared store: every request is one atomic
// operation on the key's entry (`store.run(key, op)`, the store applying
// `rateLimitReducer`), bounded by a timeout. On any fault (a throw, a hang,
// a malformed answer) the store counts as unavailable: logged once,
// `onStoreStatus` told, requests answered locally (or refused), and one
// background probe per `retryInterval` — no store command per request while
// it is down. A denial is remembered until the time it gives, so a blocked
// client costs no round trip until then.
import type { Clock } from "../clock.ts";
import { getDefaultLogger, type Logger, logRepeated } from "../logger.ts";
import { addDeadline, cancelDeadline } from "../scheduler.ts";
import type { StoreStatusEvent } from "../shared/status.ts";
import { storeKey } from "../shared/keys.ts";
import { publish } from "../telemetry.ts";
import { checkKnownOptions, checkNumber, checkObject } from "../validate.ts";
import type { RateLimitConfig, TakeRequest } from "./algorithms.ts";
import type { RateLimitOp } from "./reducer.ts";
import {
  checkRateLimitStore,
  parseAnswer,
  type RateLimitStore,
  type RateLimitStoreOptions,
  STORE_OPTIONS,
  type StoreAnswer,
} from "./store_port.ts";

/** Permits of one key leased by this isolate. */
interface Lease {
  /** Permits left. */
  left: number;
  /** When they are dropped. */
  expires: number;
  /** The store's `remaining` when it granted them (others' share). */
  remaining: number;
  /** When the key is fresh again, as the store said then. */
  reset: number;
}

/** @internal The link between one rate limiter and its store. */
export class RateLimitLink {
  readonly #store: RateLimitStore;
  readonly #prefix!: string;
  readonly #timeout: number;
  readonly #retry: number;
  readonly mode: "local" | "reject";
  #down = false;
  #retryAt = 0;
  #probing = false;
  /** Store commands sent (for tests). */
  commands = 0;
  /** Takes denied from the cache of denials, without a store command (for tests). */
  cached = 0;
  /** Keys known denied until a time, and for which cost (see `#deniedAnswer`). */
  readonly #denied = new Map<string, { until: number; cost: number; reset: number }>();
  readonly #lease: number;
  readonly #leaseTtl: number;
  /** Permits leased per key (with `storeOptions.lease`). */
  readonly #leases = new Map<string, Lease>();
  /** Keys with a lease request in flight: one at a time, so an isolate holds < `lease` extra. */
  readonly #leaseSent = new Set<string>();
  /** Takes answered from a lease, without a store command (for tests). */
  leased = 0;

  constructor(
    readonly where: string,
    readonly name: string,
    store: unknown,
    prefix: string,
    options: RateLimitStoreOptions | undefined,
    readonly onStoreStatus: ((e: StoreStatusEvent) => void) | undefined,
    readonly logger: Logger | undefined,
    readonly clock: Clock,
    readonly config: RateLimitConfig,
    readonly maxKeys: number,
  ) {
    const W = where;
    this.#store = checkRateLimitStore(W, store);
    try {
      this.#store.checkConfig?.(config);
    } catch (e) {
      throw new TypeError(`${W}: option 'store' cannot count this limit: ${e}`, { cause: e });
    }
    checkObject(W, "storeOptions", options);
    checkKnownOptions(`${W}: storeOptions`, options, STORE_OPTIONS);
    const o = options ?? {};
    this.#timeout = checkNumber(W, "storeOptions.timeout", o.timeout, 500, 0, {
      exclusiveMin: true,
    });
    this.#retry = checkNumber(W, "storeOptions.retryInterval", o.retryInterval, 5000, 0);
    const mode = o.whenUnavailable ?? "local";
    if (mode !== "local" && mode !== "reject") {
      throw new TypeError(
        `${W}: option 'storeOptions.whenUnavailable' must be "local" or "reject"${
          (mode as string) === "allow" ? ' (a rate limit is never unbounded: no "allow")' : ""
        }, got ${JSON.stringify(mode)}`,
      );
    }
    this.mode = mode;
    const cap = config.algorithm === "token-bucket" ? config.burst ?? config.limit : config.limit;
    this.#lease = checkNumber(W, "storeOptions.lease", o.lease, 1, 1, { integer: true, max: cap });
    this.#leaseTtl = checkNumber(
      W,
      "storeOptions.leaseTtl",
      o.leaseTtl,
      Math.min(1000, config.interval),
      0,
      { exclusiveMin: true, max: config.interval },
    );
    try {
      // Namespaced and encoded as the store port expects: "rl:" + the name (512 bytes at most).
      this.#prefix = storeKey("rl:", prefix);
      this.#store.checkKey?.(this.#prefix);
    } catch (e) {
      const Class = e instanceof RangeError ? RangeError : TypeError;
      throw new Class(`${W}: option 'storeKey' cannot be a key of this store: ${String(e)}`, {
        cause: e,
      });
    }
  }

  /**
   * The store key of a limiter key (`""`: the limiter's own limit, as a
   * policy, checked at construction). A key the store cannot hold is the
   * caller's error (a `RangeError`), never a store outage: one client's
   * oversized key must not switch every client to the local limiter.
   */
  keyOf(key: string): string {
    if (key === "") return this.#prefix;
    let full: string;
    try {
      full = storeKey(`${this.#prefix}:`, key);
      this.#store.checkKey?.(full);
    } catch (e) {
      throw new RangeError(`${this.where}: key cannot be a key of this store: ${String(e)}`, {
        cause: e,
      });
    }
    return full;
  }

  get available(): boolean {
    return !this.#down;
  }

  /**
   * Applies `request` to `key` in the store; `undefined` when the store is
   * unavailable (the caller answers locally or refuses, by `mode`).
   */
  take(key: string, request: TakeRequest): Promise<StoreAnswer | undefined> | undefined {
    const storeKey = this.keyOf(key);
    if (this.#down) {
      if (!this.#probing && this.clock.now() >= this.#retryAt) this.#probe(storeKey);
      return undefined;
    }
    const plain = !request.peek && !request.reset && request.refund === undefined;
    const leasing = plain && this.#lease > 1 && !request.maxWait;
    if (plain) {
      // Permits this isolate already holds come first: a denial seen meanwhile (the store had
      // leased them all) does not make them unusable.
      if (leasing) {
        const leased = this.#fromLease(storeKey, request.cost);
        if (leased) return Promise.resolve(leased);
      }
      const cached = this.#deniedAnswer(storeKey, request);
      if (cached) return Promise.resolve(cached);
    } else if (request.reset) {
      this.#denied.delete(storeKey);
      this.#leases.delete(storeKey);
    }
    const sent = this.clock.now();
    // Concurrent takes of a key that find no leased permit: the first asks for a batch, the
    // others for their own cost only (each asking for a batch would leave this isolate holding
    // up to `concurrency × (lease − 1)` permits, breaking the bound at an interval's edge).
    const lease = leasing && !this.#leaseSent.has(storeKey);
    if (lease) this.#leaseSent.add(storeKey);
    const pending = this.#call(
      storeKey,
      lease ? { cost: request.cost, upTo: Math.max(request.cost, this.#lease) } : request,
    );
    if (!plain) return pending;
    return pending.then((a) => {
      if (lease) this.#leaseSent.delete(storeKey);
      if (a && !a.allowed && a.retryAfter > 0) this.#deny(storeKey, request.cost, sent, a);
      else if (a?.allowed) {
        this.#denied.delete(storeKey);
        const extra = (a.granted ?? request.cost) - request.cost;
        if (lease && extra > 0) {
          // Permits still held (fewer than a take needed) add up: none is lost.
          const held = this.#leases.get(storeKey);
          const now = this.clock.now();
          this.#keep(this.#leases, storeKey, {
            left: extra + (held !== undefined && now < held.expires ? held.left : 0),
            expires: sent + this.#leaseTtl,
            remaining: a.remaining,
            reset: sent + a.resetAfter,
          });
          a.remaining += extra;
        }
      }
      return a;
    });
  }

  /** A take answered from this isolate's lease of the key, if it holds enough permits. */
  #fromLease(storeKey: string, cost: number): StoreAnswer | undefined {
    const l = this.#leases.get(storeKey);
    if (l === undefined) return undefined;
    const now = this.clock.now();
    if (now >= l.expires) {
      this.#leases.delete(storeKey);
      return undefined;
    }
    if (l.left < cost) return undefined;
    l.left -= cost;
    if (l.left === 0) this.#leases.delete(storeKey);
    this.leased++;
    return {
      allowed: true,
      limit: this.config.limit,
      remaining: l.remaining + l.left,
      resetAfter: Math.max(0, Math.ceil(l.reset - now)),
      retryAfter: 0,
    };
  }

  /** Sets `key` in a bounded map (at most `maxKeys`: the oldest entry goes). */
  #keep<V>(map: Map<string, V>, key: string, value: V): void {
    if (!map.has(key) && map.size >= this.maxKeys) map.delete(map.keys().next().value!);
    map.set(key, value);
  }

  /**
   * The answer to a take that a denial seen earlier already settles: the key
   * cannot get `cost` (or more) permits before `until`, so a take that would
   * not wait that long is denied here, without a round trip (as
   * @upstash/ratelimit's ephemeral cache). Only a reset elsewhere can make a
   * key available earlier; then this isolate learns it at `until` at most.
   */
  #deniedAnswer(storeKey: string, request: TakeRequest): StoreAnswer | undefined {
    const d = this.#denied.get(storeKey);
    if (d === undefined) return undefined;
    const now = this.clock.now();
    const left = d.until - now;
    if (left <= 0) {
      this.#denied.delete(storeKey);
      return undefined;
    }
    if (request.cost < d.cost || left <= (request.maxWait ?? 0)) return undefined;
    this.cached++;
    return {
      allowed: false,
      limit: this.config.limit,
      remaining: 0,
      resetAfter: Math.max(0, Math.ceil(d.reset - now)),
      retryAfter: Math.ceil(left),
    };
  }

  #deny(storeKey: string, cost: number, sent: number, a: StoreAnswer): void {
    // (Measured from when the take was sent: the store's answer is at least that old.)
    this.#keep(this.#denied, storeKey, {
      until: sent + a.retryAfter,
      cost,
      reset: sent + a.resetAfter,
    });
  }

  /** Until the next probe (a refusal's `retryAfter` in "reject" mode), ms >= 1. */
  untilProbe(): number {
    return Math.max(1, Math.ceil(this.#retryAt - this.clock.now()));
  }

  #probe(storeKey: string): void {
    this.#probing = true;
    void this.#call(storeKey, { cost: 1, peek: true }).then(() => {
      this.#probing = false;
    });
  }

  #call(storeKey: string, request: TakeRequest): Promise<StoreAnswer | undefined> {
    const op: RateLimitOp = {
      type: "rate",
      request,
      config: { ...this.config, timeout: this.#timeout },
    };
    const clock = this.clock;
    this.commands++;
    return new Promise((resolve) => {
      let done = false;
      const deadline = addDeadline(clock, this.#timeout, () => {
        if (done) return;
        done = true;
        this.#fail(new Error(`store did not answer within ${this.#timeout}ms`));
        resolve(undefined);
      });
      const settle = (raw: unknown, error: unknown, failed: boolean) => {
        if (done) return;
        done = true;
        cancelDeadline(clock, deadline);
        if (!failed) {
          try {
            const a = parseAnswer(raw);
            if (a.repaired !== undefined) this.#repaired(a.repaired);
            this.#up();
            return resolve(a);
          } catch (e) {
            error = e;
          }
        }
        this.#fail(error);
        resolve(undefined);
      };
      let p: Promise<unknown>;
      try {
        p = Promise.resolve(this.#store.run!(storeKey, op));
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then((raw) => settle(raw, undefined, false), (e) => settle(undefined, e, true));
    });
  }

  #log(): Logger {
    return this.logger ?? getDefaultLogger();
  }

  /**
   * Logs; a logger that throws is ignored (a take always settles, and never
   * fails for the logger's fault). A repeated message (`kind`) is aggregated.
   */
  #say(level: "info" | "warn", message: string, data: Record<string, unknown>, kind?: string) {
    try {
      if (kind === undefined) this.#log()[level](message, data);
      else logRepeated(this.logger, this.clock, level, message, data, kind);
    } catch {
      // The logger threw: nothing more to do (the limiter keeps working).
    }
  }

  #repaired(reason: string): void {
    // Logged once, then counted (one line per repeat interval), however many keys are repaired.
    this.#say(
      "warn",
      `Rate limiter '${this.name}': a state in the store was unreadable (${reason}); replaced by a fresh one`,
      { name: this.name, reason },
      `rl.repaired:${this.name}`,
    );
  }

  #fail(error: unknown): void {
    this.#retryAt = this.clock.now() + this.#retry;
    if (this.#down) return;
    this.#down = true;
    let text: string;
    try {
      text = String(error);
    } catch {
      text = "an error that cannot be printed";
    }
    this.#say(
      "warn",
      `Rate limiter '${this.name}': store unavailable (${text}); ${
        this.mode === "local" ? "limiting locally" : "refusing every take"
      } until it answers again`,
      { name: this.name, error },
    );
    this.#status({ name: this.name, available: false, error });
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#say("info", `Rate limiter '${this.name}': store available again`, { name: this.name });
    this.#status({ name: this.name, available: true });
  }

  #status(e: StoreStatusEvent): void {
    // One emission: the channel and `onStoreStatus`, guarded as every hook.
    const n = this.name;
    publish(
      "store.status",
      "rateLimiter",
      n,
      e,
      this.onStoreStatus,
      undefined,
      this.#log(),
      `Rate limiter '${n}' store listener`,
    );
  }
}
