// The rate limiter's runner: the policy's calls (take a permit, wait for a
// reserved one, or be refused) and the keyed takes, locally or through the
// store link.
import { type Scope, start, type Target } from "../context.ts";
import { RateLimitedError } from "../errors.ts";
import { addDeadline, cancelDeadline } from "../scheduler.ts";
import { emit, flags } from "../telemetry.ts";
import type { RateLimitConfig, TakeAnswer, TakeRequest } from "./algorithms.ts";
import type { LocalLimits } from "./local.ts";
import type { RateLimitLink } from "./store_link.ts";

/** The policy's own key (user keys are non-empty). */
export const OWN = "";

/** A call waiting for its reserved permit. */
class Waiter {
  deadline: unknown = undefined;
  offAbort: (() => void) | undefined = undefined;
  constructor(
    readonly at: number,
    readonly local: boolean,
    readonly fn: Target,
    readonly thisArg: unknown,
    readonly args: readonly unknown[],
    readonly parent: Scope | undefined,
    readonly resolve: (v: unknown) => void,
    readonly reject: (e: unknown) => void,
  ) {}
}

/** @internal The state of one limiter; its `run` is the policy's runner. */
export class Limiter {
  admitted = 0;
  limited = 0;
  waiting = 0;
  readonly request: TakeRequest;

  constructor(
    readonly name: string,
    readonly config: RateLimitConfig,
    readonly local: LocalLimits,
    readonly link: RateLimitLink | undefined,
    maxWait: number,
  ) {
    this.request = maxWait > 0 ? { cost: 1, maxWait } : { cost: 1 };
  }

  run(fn: Target, thisArg: unknown, args: readonly unknown[], parent: Scope | undefined) {
    if (parent?.aborted) return Promise.reject(parent.reason);
    if (this.link) return this.runShared(fn, thisArg, args, parent);
    const r = this.local.take(OWN, this.request);
    return this.decide(r.answer, r.at, true, fn, thisArg, args, parent);
  }

  async runShared(
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ) {
    const pending = this.link!.take(OWN, this.request);
    const a = pending && await pending;
    if (a) return await this.decide(a, a.at ?? 0, false, fn, thisArg, args, parent);
    if (this.link!.mode === "reject") {
      return await this.decide(this.refusal(), 0, true, fn, thisArg, args, parent);
    }
    const r = this.local.take(OWN, this.request);
    return await this.decide(r.answer, r.at, true, fn, thisArg, args, parent);
  }

  decide(
    a: TakeAnswer,
    at: number,
    local: boolean,
    fn: Target,
    thisArg: unknown,
    args: readonly unknown[],
    parent: Scope | undefined,
  ): Promise<unknown> {
    if (!a.allowed) {
      this.limited++;
      if (flags.on) this.emitTake(a);
      return Promise.reject(RateLimitedError.fast(this.name, undefined, a.retryAfter, a.limit));
    }
    if (a.retryAfter === 0) {
      if (flags.on) this.emitTake(a);
      return this.launch(fn, thisArg, args, parent);
    }
    // A reservation to wait for: `acquired` once the wait is over, or `canceled` (exactly one).
    if (parent?.aborted) {
      this.refund(at, local);
      if (flags.on) this.emitCanceled();
      return Promise.reject(parent.reason);
    }
    return new Promise((resolve, reject) => {
      const w = new Waiter(at, local, fn, thisArg, args, parent, resolve, reject);
      if (parent?.live) {
        // Listened to before the wait is scheduled: a signal that cannot be listened to (not an
        // AbortSignal) refuses the call with its permit given back, and `fn` never runs.
        try {
          w.offAbort = parent.onAbort((reason) => {
            if (w.deadline === undefined) return;
            cancelDeadline(this.local.clock, w.deadline);
            w.deadline = undefined;
            this.leave(w);
            this.refund(w.at, w.local);
            if (flags.on) this.emitCanceled();
            reject(reason);
          });
        } catch (e) {
          this.refund(at, local);
          return reject(e);
        }
      }
      this.waiting++;
      w.deadline = addDeadline(this.local.clock, a.retryAfter, () => {
        w.deadline = undefined;
        this.leave(w);
        if (flags.on) this.emitTake(a);
        resolve(this.launch(fn, thisArg, args, parent));
      });
    });
  }

  leave(w: Waiter): void {
    this.waiting--;
    const off = w.offAbort;
    w.offAbort = undefined;
    off?.();
  }

  launch(fn: Target, thisArg: unknown, args: readonly unknown[], parent: Scope | undefined) {
    this.admitted++;
    try {
      return Promise.resolve(start(parent, fn, thisArg, args));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Gives back a cancelled waiter's reserved permit. */
  refund(at: number, local: boolean): void {
    const request = { cost: 1, refund: at };
    if (local) this.local.take(OWN, request);
    else void this.link!.take(OWN, request);
  }

  /**
   * The answer while the store is unavailable in "reject" mode: nothing is
   * known before the store is tried again, so `resetAfter` is `retryAfter`
   * (a RateLimit header's `t` then agrees with `Retry-After`).
   */
  refusal(): TakeAnswer {
    const retryAfter = this.link!.untilProbe();
    const limit = this.config.limit;
    return { allowed: false, limit, remaining: 0, resetAfter: retryAfter, retryAfter };
  }

  take(key: string, request: TakeRequest): Promise<TakeAnswer> {
    if (this.link) return this.takeShared(key, request);
    return Promise.resolve(this.count(this.local.take(key, request).answer, request));
  }

  async takeShared(key: string, request: TakeRequest): Promise<TakeAnswer> {
    const pending = this.link!.take(key, request);
    let a = pending && await pending;
    if (a) a = publicAnswer(a);
    else if (this.link!.mode === "reject") a = this.refusal();
    // (A reset forgets the local state too: the one used while the store is unavailable.)
    if (a === undefined || request.reset) a = this.local.take(key, request).answer;
    return this.count(a, request);
  }

  count(a: TakeAnswer, request: TakeRequest): TakeAnswer {
    if (!request.peek && !request.reset) {
      if (a.allowed) this.admitted++;
      else this.limited++;
      if (flags.on) this.emitTake(a);
    }
    return a;
  }

  /** Tells the channel a waiting call was cancelled by its caller (its permit given back). */
  emitCanceled(): void {
    emit({ type: "rate_limit.canceled", kind: "rateLimiter", name: this.name });
  }

  /** Tells the channel a permit was taken (after waiting `retryAfter`) or refused. */
  emitTake(a: TakeAnswer): void {
    emit(
      a.allowed
        ? {
          type: "rate_limit.acquired",
          kind: "rateLimiter",
          name: this.name,
          waited: a.retryAfter,
        }
        : { type: "rate_limited", kind: "rateLimiter", name: this.name, retryAfter: a.retryAfter },
    );
  }
}

function publicAnswer(a: TakeAnswer): TakeAnswer {
  return {
    allowed: a.allowed,
    limit: a.limit,
    remaining: a.remaining,
    resetAfter: a.resetAfter,
    retryAfter: a.retryAfter,
  };
}
