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
import { checkKnownOptions, checkNumber, checkObject, optionNames } from "../validate.ts";
import type { RateLimitConfig, TakeAnswer, TakeRequest } from "./algorithms.ts";
import type { RateLimitOp } from "./reducer.ts";

/**
 * What a rate limiter needs of a shared store (the store port's shape): an
 * authoritative store that applies an operation to a key's entry atomically
 * and answers. Advisory stores (Workers KV) cannot count and are refused.
 */
export interface RateLimitStore {
  /** `"authoritative"` (counts atomically) or `"advisory"` (refused). */
  readonly kind: "authoritative" | "advisory";
  /** Applies `op` atomically to the entry at `key` (read → `rateLimitReducer` → write). */
  run?(key: string, op: RateLimitOp): Promise<unknown>;
  /** Throws when `key` cannot be a key of this store. */
  checkKey?(key: string): void;
  /** Throws when this store cannot count this limiter's config (called once, at construction). */
  checkConfig?(config: RateLimitConfig): void;
  /** `false`: answers cannot tell the permits left (`routeRateLimiter` then omits them). */
  readonly knowsRemaining?: boolean;
}

/** Tuning of a rate limiter's store link (option `storeOptions`). Durations in ms. */
export interface RateLimitStoreOptions {
  /** Bound of every store operation; past it the store counts as unavailable. Default 500. */
  timeout?: number;
  /** While unavailable, the store is probed (in the background) once per this. Default 5000. */
  retryInterval?: number;
  /**
   * While the store is unavailable: `"local"` (default) — this isolate's own
   * limiter with the same config decides (fleet-wide up to `isolates × limit`
   * per interval, plus, in the interval the outage starts, what the store had
   * admitted and permits still leased); `"reject"` — every take is denied.
   * (`"allow"` is refused: a rate limit is never unbounded.)
   */
  whenUnavailable?: "local" | "reject";
  /**
   * Permits an isolate takes from the store at once, per key (integer from 1
   * to the capacity; default 1: every take is one exact store operation). With
   * `lease: n` a take that finds no leased permit asks for up to `n` and keeps
   * the rest for the next takes of that key, so about one take in `n` makes a
   * round trip (one lease request per key in flight: concurrent takes
   * meanwhile take their own permit); in exchange any interval may admit up to
   * `isolates × (n − 1)` more than the limit (permits leased in one interval
   * used in the next). Calls that may wait (`maxWait`) never use leases.
   */
  lease?: number;
  /**
   * Leased permits not used within this many ms are dropped (never given
   * back: they count as taken). At most `interval`. Default
   * `min(1000, interval)`.
   */
  leaseTtl?: number;
}

const OPTIONS = optionNames<RateLimitStoreOptions>({
  timeout: 1,
  retryInterval: 1,
  whenUnavailable: 1,
  lease: 1,
  leaseTtl: 1,
});

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

/** @internal A store's answer, with a reservation's time in store time. */
export type StoreAnswer = TakeAnswer & { at?: number; repaired?: string; granted?: number };

/** @internal Refuses a store a rate limiter cannot use, naming the option `store`. */
export function checkRateLimitStore(where: string, store: unknown): RateLimitStore {
  const s = store as Partial<RateLimitStore> | null;
  if (typeof s !== "object" || s === null) {
    throw new TypeError(`${where}: option 'store' must be a store object, got ${String(store)}`);
  }
  if (s.kind === "advisory") {
    throw new TypeError(
      `${where}: option 'store' is advisory (Workers KV: eventually consistent, one write per second per key, no atomic update), so it cannot count rate limits; use durableObjectStore or denoKvStore`,
    );
  }
  if (s.kind !== "authoritative" || typeof s.run !== "function") {
    throw new TypeError(
      `${where}: option 'store' cannot count rate limits: expected an authoritative store with run(key, op) (durableObjectStore, denoKvStore, MemoryStore)`,
    );
  }
  return s as RateLimitStore;
}

const isCount = (v: unknown) => typeof v === "number" && v >= 0 && v < Infinity;

/** Checks a store's answer; throws a `TypeError` if malformed. */
function parseAnswer(raw: unknown): StoreAnswer {
  const a = raw as Partial<StoreAnswer> | null;
  if (
    typeof a !== "object" || a === null || typeof a.allowed !== "boolean" ||
    !isCount(a.limit) || !isCount(a.remaining) || !isCount(a.resetAfter) ||
    !isCount(a.retryAfter) || (a.at !== undefined && !isCount(a.at))
  ) {
    throw new TypeError("malformed rate limit answer from the store");
  }
  const r: StoreAnswer = {
    allowed: a.allowed,
    limit: a.limit!,
    remaining: a.remaining!,
    resetAfter: a.resetAfter!,
    retryAfter: a.retryAfter!,
  };
  if (a.at !== undefined) r.at = a.at;
  if (a.granted !== undefined) {
    if (!Number.isSafeInteger(a.granted) || a.granted < 0) {
      throw new TypeError("malformed rate limit answer from the store");
    }
    r.granted = a.granted;
  }
  if (typeof a.repaired === "string") r.repaired = a.repaired.slice(0, 200);
  return r;
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
    checkKnownOptions(`${W}: storeOptions`, options, OPTIONS);
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
