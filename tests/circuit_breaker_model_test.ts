// Model-based property test: the breaker against a small reference model over
// random sequences of successes, failures, time steps and concurrent calls.
import assert from "node:assert/strict";
import fc from "fast-check";
import { circuitBreaker, CircuitOpenError } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, FC_RUNS, silent, test } from "./_harness.ts";

type Cmd =
  | { t: "call"; ok: boolean }
  | { t: "start" }
  | { t: "settle"; i: number; ok: boolean }
  | { t: "tick"; ms: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ t: fc.constant("call" as const), ok: fc.boolean() }),
  fc.record({ t: fc.constant("start" as const) }),
  fc.record({ t: fc.constant("settle" as const), i: fc.nat(20), ok: fc.boolean() }),
  fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 1500 }) }),
);

/** The reference model: the specification, written as plainly as possible. */
class Model {
  state: "closed" | "open" | "half_open" = "closed";
  gen = 0;
  failures = 0;
  successes = 0;
  inFlight = 0;
  openedAt = 0;
  now = 0;
  constructor(readonly threshold: number, readonly reset: number, readonly maxHalf: number) {}
  go(s: Model["state"]) {
    this.state = s;
    this.gen++;
    this.successes = 0;
    this.inFlight = 0;
    if (s === "open") this.openedAt = this.now;
    else this.failures = 0;
  }
  view() {
    return this.state === "open" && this.now - this.openedAt >= this.reset
      ? "half_open"
      : this.state;
  }
  /** Returns the token of an admitted call, or null when rejected. */
  admit(): number | null {
    if (this.state === "open") {
      if (this.now - this.openedAt < this.reset) return null;
      this.go("half_open");
    }
    if (this.state === "half_open") {
      if (this.inFlight >= this.maxHalf) return null;
      this.inFlight++;
    }
    return this.gen;
  }
  settle(token: number, ok: boolean) {
    if (token !== this.gen) return;
    if (this.state === "half_open") this.inFlight--;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (this.state === "half_open" && this.successes >= this.maxHalf) this.go("closed");
    } else {
      this.failures++;
      if (this.state === "half_open" || this.failures >= this.threshold) this.go("open");
    }
  }
}

test("breaker model: random successes, failures, time steps and concurrent calls", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 3 }),
      fc.array(cmd, { maxLength: 60 }),
      async (threshold, reset, maxHalf, cmds) => {
        const clock = new FakeClock();
        const b = circuitBreaker({
          failureThreshold: threshold,
          resetTimeout: reset,
          halfOpenMaxCalls: maxHalf,
          clock,
          logger: silent,
        });
        const m = new Model(threshold, reset, maxHalf);
        const pending: {
          token: number;
          d: ReturnType<typeof deferred<string>>;
          p: Promise<unknown>;
        }[] = [];
        for (const c of cmds) {
          if (c.t === "tick") {
            clock.tick(c.ms);
            m.now += c.ms;
          } else if (c.t === "call") {
            const token = m.admit();
            let ran = false;
            const r = await b.execute(() => {
              ran = true;
              if (!c.ok) throw new Error("fail");
              return "ok";
            }).catch((e) => e);
            assert.equal(ran, token !== null, "admission differs from the model");
            if (token === null) assert.ok(r instanceof CircuitOpenError);
            else m.settle(token, c.ok);
          } else if (c.t === "start") {
            const token = m.admit();
            const d = deferred<string>();
            let ran = false;
            const p = b.execute(() => {
              ran = true;
              return d.promise;
            }).catch((e) => e);
            assert.equal(ran, token !== null, "admission differs from the model");
            if (token === null) await p;
            else pending.push({ token, d, p });
          } else if (pending.length > 0) {
            const [call] = pending.splice(c.i % pending.length, 1);
            if (c.ok) call.d.resolve("ok");
            else call.d.reject(new Error("fail"));
            await call.p;
            m.settle(call.token, c.ok);
          }
          const s = b.getStats();
          assert.equal(s.state, m.view());
          assert.equal(b.state, m.view());
          assert.equal(s.failureCount, m.failures);
          assert.equal(s.successCount, m.successes);
          assert.equal(s.halfOpenInFlight, m.inFlight);
          assert.ok(s.halfOpenInFlight <= maxHalf);
          const left = m.state === "open" ? Math.max(0, m.reset - (m.now - m.openedAt)) : 0;
          assert.equal(s.timeUntilReset, left);
        }
        for (const call of pending) {
          call.d.resolve("ok");
          await call.p;
        }
      },
    ),
    { numRuns: FC_RUNS },
  );
});
