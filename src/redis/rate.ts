// A rate limiter's operation on Redis: checked here as `rateLimitReducer`
// checks it (same TypeErrors, before any round trip), then ONE script run
// (src/redis/rate_script.ts) that reads, applies and writes on the server.
import { capacity, checkRateLimitConfig } from "../rate_limit/algorithms.ts";
import { checkRequest, type RateLimitOp, type rateLimitReducer } from "../rate_limit/reducer.ts";
import { RedisStoreError } from "./errors.ts";
import { RATE_SCRIPT } from "./rate_script.ts";
import type { RedisEngine } from "./store.ts";

/** What the rate reducer answers (and the script, the same). */
export type RateAnswer = ReturnType<typeof rateLimitReducer>["answer"];

const KIND = { "token-bucket": "tb", "fixed-window": "fw", "sliding-window": "sw" } as const;

/** The script's arguments for `op` (every one a string), after checking `op` as the reducer does. */
export function rateArgs(op: RateLimitOp, now: number | undefined, expireIn: string): string[] {
  const o = op as Partial<RateLimitOp> | null;
  if (typeof o !== "object" || o === null || o.type !== "rate") {
    throw new TypeError("malformed rate limit operation");
  }
  const config = checkRateLimitConfig(o.config);
  const q = checkRequest(o.request, config);
  if (now !== undefined && !(typeof now === "number" && Number.isFinite(now))) {
    throw new TypeError("rate limit: now must be a finite number");
  }
  return [
    KIND[config.algorithm],
    String(config.limit),
    String(config.interval),
    String(capacity(config)),
    String(q.cost),
    q.peek ? "1" : "",
    q.reset ? "1" : "",
    String(q.maxWait ?? 0),
    q.refund === undefined ? "" : String(q.refund),
    q.upTo === undefined ? "" : String(q.upTo),
    expireIn,
    now === undefined ? "" : String(now),
  ];
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** The answer from the script's reply, shaped as `rateLimitReducer`'s (same keys, same order). */
export function rateAnswer(key: string, text: string, op: RateLimitOp): RateAnswer {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch { /* checked below */ }
  if (
    !Array.isArray(r) || r.length !== 7 || (r[0] !== 0 && r[0] !== 1) || !isNum(r[1]) ||
    !isNum(r[2]) || !isNum(r[3]) || (r[4] !== null && !isNum(r[4])) ||
    (r[5] !== null && !isNum(r[5])) || (r[6] !== 0 && r[6] !== 1)
  ) {
    throw new RedisStoreError(key, "reply", 1, "redisStore: unreadable reply from the rate script");
  }
  const answer: RateAnswer = {
    allowed: r[0] === 1,
    limit: op.config.limit,
    remaining: r[1],
    resetAfter: r[2],
    retryAfter: r[3],
  };
  if (r[6] === 1) answer.repaired = "malformed rate limit state";
  if (r[4] !== null) answer.at = r[4];
  if (r[5] !== null) answer.granted = r[5];
  return answer;
}

/** Runs a rate-limit operation on the entry at `key`: one script, one round trip. */
export async function runRate(
  engine: Pick<RedisEngine<never>, "script" | "now" | "expireIn">,
  key: string,
  op: RateLimitOp,
): Promise<RateAnswer> {
  const argv = rateArgs(op, engine.now(), engine.expireIn);
  return rateAnswer(key, await engine.script(key, RATE_SCRIPT, argv), op);
}
