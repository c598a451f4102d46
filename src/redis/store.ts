// The Redis engine: read (value, version, server time) → apply the rules in
// TypeScript → compare-and-set, lost races retried with jitter. Generic over
// the rules (`apply`), which the store factory supplies.
import { type Clock, systemClock } from "../clock.ts";
import {
  checkFunction,
  checkKnownOptions,
  checkNumber,
  checkObject,
  checkString,
  optionNames,
} from "../validate.ts";
import { clientKind, type RedisClientLike, sender } from "./client.ts";
import { RedisStoreError } from "./errors.ts";
import { CAS_SCRIPT, READ_SCRIPT, shaOf } from "./scripts.ts";
import type { Applied } from "../shared/port.ts";

export type { Applied };

/** Options of {@linkcode redisStore}. */
export interface RedisStoreOptions {
  /** Prepended to every key. Default `"er:"`. */
  prefix?: string;
  /** Entries untouched for this long (ms) expire (`PEXPIRE`). Default 7 days. */
  expireIn?: number;
  /**
   * Attempts of one operation when its compare-and-set loses to another
   * writer, before it fails. Retries wait a jittered, growing delay and stop
   * within 90% of the operation's time budget anyway. Default 100.
   */
  maxAttempts?: number;
  /**
   * Paces the retries (`now()`, `setTimeout`). Without it the store's time
   * is the server's (`TIME`, read with the entry), one clock for every
   * process; when given, its `wallNow()` is the store's time instead (as
   * `denoKvStore`'s: for tests with a `FakeClock`). Default: the system
   * clock for the retries, the server's `TIME` for the state.
   */
  clock?: Clock;
  /** Random numbers in [0, 1) for the retry jitter. Default `Math.random`. */
  random?: () => number;
}

export const OPTIONS: readonly string[] = optionNames<RedisStoreOptions>({
  prefix: 1,
  expireIn: 1,
  maxAttempts: 1,
  clock: 1,
  random: 1,
});

/** This library's bound on a Redis key (bytes, prefix included), as the Durable Object store's. */
export const REDIS_MAX_KEY_BYTES = 512;

/** The rules: from the stored value (undefined when absent), an operation and the server's time (ms). */
export type ApplyFn<Op> = (stored: unknown, op: Op, now: number) => Applied;

/** What the engine returns: an authoritative store's `run` and `checkKey`. */
export interface RedisEngine<Op> {
  /** Always `"authoritative"`: every change is a compare-and-set. */
  readonly kind: "authoritative";
  /** Applies `op` atomically to the entry at `key` and resolves to the answer. */
  run(key: string, op: Op): Promise<unknown>;
  /** Refuses a key that does not fit ({@linkcode REDIS_MAX_KEY_BYTES} with the prefix). */
  checkKey(key: string): void;
  /**
   * Runs the script `src` on the entry at `key` (the prefix added): one
   * `EVALSHA` (plus one `EVAL` after `NOSCRIPT`); resolves to its reply.
   */
  script(key: string, src: string, argv: string[]): Promise<string>;
  /** The store's time for a script: `undefined` for the server's `TIME`, else the `clock` option's `wallNow()`. */
  now(): number | undefined;
  /** Option `expireIn` (ms), as the scripts take it. */
  readonly expireIn: string;
}

/** Default retry budget (ms) of an operation that names none (the breaker's default timeout). */
const DEFAULT_BUDGET = 500;

const decoder = new TextDecoder();

/**
 * Builds the engine around `apply`. `budgetOf(op)` is the time (ms) the
 * caller waits for `op` (retries stop within 90% of it).
 */
export function redisEngine<Op>(
  where: string,
  client: RedisClientLike,
  options: RedisStoreOptions,
  apply: ApplyFn<Op>,
  budgetOf: (op: Op) => number | undefined,
): RedisEngine<Op> {
  const W = where;
  const kind = clientKind(client);
  if (!kind) {
    throw new TypeError(
      `${W}: expected a Redis client (node-redis, ioredis, Bun's RedisClient) or { send(args, key) }`,
    );
  }
  checkObject(W, "options", options);
  checkKnownOptions(W, options, OPTIONS);
  checkString(W, "prefix", options.prefix);
  const prefix = options.prefix ?? "er:";
  const expireIn = String(checkNumber(W, "expireIn", options.expireIn, 7 * 86_400_000, 1000, {
    integer: true,
    max: 365 * 86_400_000,
  }));
  const attempts = checkNumber(W, "maxAttempts", options.maxAttempts, 100, 1, {
    integer: true,
    max: 10_000,
  });
  checkObject(W, "clock", options.clock);
  checkFunction(W, "random", options.random);
  const clock = options.clock ?? systemClock;
  const serverTime = options.clock === undefined;
  const random = options.random ?? Math.random;
  const room = REDIS_MAX_KEY_BYTES - new TextEncoder().encode(prefix).length;
  if (room < 1) {
    throw new RangeError(
      `${W}: option 'prefix' must be shorter than ${REDIS_MAX_KEY_BYTES} bytes`,
    );
  }
  const send = sender(client, kind);

  /** `EVALSHA`; on `NOSCRIPT` (cache emptied: restart, failover, SCRIPT FLUSH, eviction), `EVAL` once. */
  async function script(src: string, key: string, argv: string[]): Promise<string> {
    const sha = await shaOf(src);
    let reply: unknown;
    try {
      reply = await call(["EVALSHA", sha, "1", key, ...argv], key);
    } catch (e) {
      if (!/NOSCRIPT/.test(String((e as Error)?.message ?? e))) throw e;
      reply = await call(["EVAL", src, "1", key, ...argv], key);
    }
    if (typeof reply === "string") return reply;
    if (reply instanceof Uint8Array) return decoder.decode(reply);
    throw new RedisStoreError(
      key,
      "reply",
      1,
      `${W}: unexpected reply from Redis: ${typeof reply}`,
    );
  }
  function call(args: string[], key: string): Promise<unknown> {
    try {
      return Promise.resolve(send(args, key));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Reads the entry: its value (parsed; the raw text when unreadable), version and the server's time. */
  async function read(key: string): Promise<{ value: unknown; version: string; now: number }> {
    const text = await script(READ_SCRIPT, key, []);
    let r: unknown;
    try {
      r = JSON.parse(text);
    } catch { /* checked below */ }
    if (!Array.isArray(r) || r.length !== 5 || typeof r[2] !== "string") {
      throw new RedisStoreError(key, "reply", 1, `${W}: unreadable reply from the read script`);
    }
    const now = Number(r[0]) * 1000 + Math.floor(Number(r[1]) / 1000);
    if (!Number.isFinite(now)) {
      throw new RedisStoreError(key, "reply", 1, `${W}: unreadable server time`);
    }
    const [, , version, raw, type] = r;
    let value: unknown;
    if (type === "hash" && typeof raw === "string") {
      try {
        value = JSON.parse(raw);
      } catch {
        value = raw; // unreadable: the rules repair it
      }
    } else if (type !== "none") {
      // A key of another type (or a hash without a value): unreadable, repaired by the rules.
      value = `WRONGTYPE: a ${String(type)} at ${key}`;
    }
    return { value, version, now };
  }

  return {
    kind: "authoritative",
    expireIn,
    script: (key, src, argv) => script(src, prefix + key, argv),
    now: () => (serverTime ? undefined : clock.wallNow()),
    checkKey(key) {
      if (typeof key !== "string" || key === "") {
        throw new TypeError(`${W}: a store key must be a non-empty string`);
      }
      const size = new TextEncoder().encode(key).length;
      if (size > room) {
        throw new RangeError(
          `${W}: store key of ${size} bytes does not fit the ${REDIS_MAX_KEY_BYTES}-byte key limit (${room} bytes left after the prefix)`,
        );
      }
    },
    async run(name, op) {
      const key = prefix + name;
      const b = budgetOf(op);
      const deadline = clock.now() + (typeof b === "number" && b > 0 ? b : DEFAULT_BUDGET) * 0.9;
      for (let i = 1;; i++) {
        const { value, version, now } = await read(key);
        const r = apply(value, op, serverTime ? now : clock.wallNow());
        if (!r.write) return r.answer;
        const json = JSON.stringify(r.value);
        if (typeof json !== "string") {
          throw new TypeError(`${W}: the value to store is not JSON (${typeof r.value})`);
        }
        if (await script(CAS_SCRIPT, key, [version, json, expireIn]) === "1") return r.answer;
        // Lost to another writer: contention, not an outage. Retried with full jitter.
        const wait = random() * Math.min(50, 2 ** i);
        if (i >= attempts || clock.now() + wait >= deadline) {
          throw new RedisStoreError(
            key,
            "contention",
            i,
            `${W}: gave up after ${i} attempts under contention (conflicting writes)`,
          );
        }
        await new Promise<void>((r) => clock.setTimeout(r, wait));
      }
    },
  };
}
