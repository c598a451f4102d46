import { sharedStore } from "../shared/link_store.ts";
import { applyOp, type SharedStore, type StoreOp } from "../shared/port.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { LimitState } from "../rate_limit/algorithms.ts";
import { rateLimitLife } from "../rate_limit/reducer.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  optionNames,
} from "../validate.ts";

/** A Deno KV key. */
export type KvKey = readonly (string | number | bigint | boolean | Uint8Array)[];

/** The subset of `Deno.Kv` used (structural: `@deno/kv` on Node works too). */
export interface DenoKvLike {
  /** Reads an entry. */
  get<T = unknown>(key: KvKey): Promise<{ value: T | null; versionstamp: string | null }>;
  /** Starts an atomic operation. */
  atomic(): DenoKvAtomic;
}

/** The subset of `Deno.AtomicOperation` used. */
export interface DenoKvAtomic {
  /** Fails the commit unless the key still has this versionstamp. */
  check(...checks: { key: KvKey; versionstamp: string | null }[]): DenoKvAtomic;
  /** Writes a value. */
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): DenoKvAtomic;
  /** Commits. */
  commit(): Promise<{ ok: boolean }>;
}

/** Options of {@linkcode denoKvStore}. */
export interface DenoKvStoreOptions {
  /** Key prefix, before the entry's key (`cb:<name>`). Default `["edge-resilience"]`. */
  prefix?: KvKey;
  /** Entries untouched for this long (ms) are removed. Default 7 days. */
  expireIn?: number;
  /**
   * Attempts of one operation under contention (a lost compare-and-set, or
   * SQLite's "database is locked" when several processes share a file)
   * before it fails. Retries wait a jittered, growing delay and stop before
   * the breaker's `storeOptions.timeout` anyway. Default 100.
   */
  maxAttempts?: number;
  /**
   * Time source: `wallNow()` is the store's time (as written in the state),
   * `now()` and `setTimeout` pace the retries. Default: the system clock.
   */
  clock?: Clock;
  /** Random numbers in [0, 1) for the retry jitter. Default `Math.random`. */
  random?: () => number;
}

const OPTIONS = optionNames<DenoKvStoreOptions>({
  prefix: 1,
  expireIn: 1,
  maxAttempts: 1,
  clock: 1,
  random: 1,
});

/** Deno KV refuses keys longer than this once serialized (denokv `MAX_WRITE_KEY_SIZE_BYTES`). */
export const DENO_KV_MAX_KEY_BYTES = 2048;

/**
 * The size of a key as Deno KV serializes it (the FoundationDB tuple
 * encoding): strings and byte arrays are tagged, NUL-escaped and
 * NUL-terminated, numbers take 9 bytes, booleans 1, bigints their bytes + 2.
 */
function keyBytes(key: KvKey): number {
  const enc = new TextEncoder();
  let n = 0;
  for (const part of key) {
    if (typeof part === "string" || part instanceof Uint8Array) {
      const bytes = typeof part === "string" ? enc.encode(part) : part;
      n += 2 + bytes.length + bytes.filter((b) => b === 0).length;
    } else if (typeof part === "number") n += 9;
    else if (typeof part === "boolean") n += 1;
    else n += 2 + Math.ceil(part.toString(16).replace("-", "").length / 2);
  }
  return n;
}

/** SQLite contention between connections to one file: retried, never an outage. */
const LOCKED = /database (table )?is locked|SQLITE_BUSY|SQLITE_LOCKED/i;

/** Default and ceiling of a retry budget when the breaker did not say (its default timeout). */
const DEFAULT_BUDGET = 500;

/**
 * An authoritative {@linkcode SharedStore} on Deno KV: every transition and
 * half-open permit is a compare-and-set (`atomic().check(versionstamp)`), so
 * concurrent isolates — or Deno Deploy regions — never both win. Works on a
 * local SQLite file (`Deno.openKv(path)`, state survives restarts; several
 * processes may share the file), `Deno.openKv(":memory:")`, and Deno Deploy.
 * Needs `--unstable-kv`.
 *
 * Contention is not an outage: a lost compare-and-set and SQLite's
 * "database is locked" are retried with jittered backoff within the
 * breaker's `storeOptions.timeout`. The breaker's key must fit Deno KV's
 * 2048-byte key limit with the prefix (refused when the breaker is built).
 *
 * @example
 * ```ts
 * import { circuitBreaker } from "edge-resilience";
 * import { denoKvStore } from "edge-resilience/deno-kv";
 *
 * const kv = await Deno.openKv("./circuits.sqlite");
 * const breaker = circuitBreaker({ name: "api", store: denoKvStore(kv) });
 * ```
 */
export function denoKvStore(kv: DenoKvLike, options: DenoKvStoreOptions = {}): SharedStore {
  const W = "denoKvStore";
  if (!kv || typeof kv.get !== "function" || typeof kv.atomic !== "function") {
    throw new TypeError(`${W}: expected a Deno KV database (from openKv)`);
  }
  checkObject(W, "options", options);
  checkKnownOptions(W, options, OPTIONS);
  const prefix = options.prefix ?? ["edge-resilience"];
  if (!Array.isArray(prefix)) throw new TypeError(`${W}: option 'prefix' must be a KV key (array)`);
  const expireIn = checkNumber(W, "expireIn", options.expireIn, 7 * 86_400_000, 1000, {
    max: 365 * 86_400_000,
  });
  const attempts = checkNumber(W, "maxAttempts", options.maxAttempts, 100, 1, {
    integer: true,
    max: 10_000,
  });
  checkObject(W, "clock", options.clock);
  checkFunction(W, "random", options.random);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const room = DENO_KV_MAX_KEY_BYTES - keyBytes(prefix);
  if (room < 3) {
    throw new RangeError(
      `${W}: option 'prefix' leaves no room in Deno KV's ${DENO_KV_MAX_KEY_BYTES}-byte key limit`,
    );
  }
  const checkKey = (name: string): void => {
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`${W}: the breaker's store key must be a non-empty string`);
    }
    const size = keyBytes([name]);
    if (size > room) {
      throw new RangeError(
        `${W}: store key of ${size} bytes does not fit Deno KV's ${DENO_KV_MAX_KEY_BYTES}-byte key limit (${room} bytes left after the prefix)`,
      );
    }
  };
  const keyOf = (name: string): KvKey => {
    checkKey(name);
    return [...prefix, name];
  };
  /**
   * Runs `attempt` until it returns a result, retrying contention (a lost
   * compare-and-set returns `undefined`; "database is locked" throws) with
   * full-jitter exponential backoff, within `budget` ms and `attempts` tries.
   */
  async function contended<R>(budget: number, attempt: () => Promise<R | undefined>): Promise<R> {
    const deadline = clock.now() + budget;
    let cause: unknown = "conflicting writes";
    for (let i = 1;; i++) {
      try {
        const r = await attempt();
        if (r !== undefined) return r;
      } catch (e) {
        if (!LOCKED.test(String((e as Error)?.message ?? e))) throw e;
        cause = e;
      }
      const wait = random() * Math.min(50, 2 ** i);
      if (i >= attempts || clock.now() + wait >= deadline) {
        throw new Error(`${W}: gave up after ${i} attempts under contention (${String(cause)})`, {
          cause,
        });
      }
      await new Promise<void>((r) => clock.setTimeout(r, wait));
    }
  }
  return sharedStore({
    kind: "authoritative",
    checkKey,
    run(name, op) {
      const key = keyOf(name);
      // Read, run the reducer, compare-and-set; a read that changes nothing writes nothing.
      return contended(budget(op), async () => {
        const entry = await kv.get(key);
        const now = clock.wallNow();
        const { value, answer, write } = applyOp(entry.value ?? undefined, op, now);
        if (!write) return { answer };
        // A rate limit's state is kept at least until it is fresh again (expireIn may be shorter).
        const life = op.type === "rate" && value !== undefined
          ? Math.max(expireIn, rateLimitLife(value as LimitState, op.config, now))
          : expireIn;
        const { ok } = await kv.atomic()
          .check({ key, versionstamp: entry.versionstamp })
          .set(key, value, { expireIn: life })
          .commit();
        return ok ? { answer } : undefined;
      }).then((r) => r.answer);
    },
  });
}

/** The time an operation may spend retrying: a little less than the breaker waits for it. */
function budget(op: StoreOp): number {
  const t = (op as { config?: { timeout?: unknown } })?.config?.timeout;
  return typeof t === "number" && t > 0 ? t * 0.9 : DEFAULT_BUDGET * 0.9;
}
