// Model-based property test: the breaker against a small reference model over
// random sequences of successes, failures, time steps and concurrent calls.
import assert from "node:assert/strict";
import fc from "fast-check";
import { circuitBreaker, CircuitOpenError } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { deferred, FC_RUNS, silent, test } from "./_harness.ts";

type Cmd =
  | { t: "call"; ok: boolean; gone: boolean }
  | { t: "start" }
  | { t: "settle"; i: number; ok: boolean }
  | { t: "abort"; i: number }
  | { t: "isolate" }
  | { t: "release"; i: number }
  | { t: "tick"; ms: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ t: fc.constant("call" as const), ok: fc.boolean(), gone: fc.boolean() }),
  fc.record({ t: fc.constant("start" as const) }),
  fc.record({ t: fc.constant("settle" as const), i: fc.nat(20), ok: fc.boolean() }),
  fc.record({ t: fc.constant("abort" as const), i: fc.nat(20) }),
  fc.record({ t: fc.constant("isolate" as const) }),
  fc.record({ t: fc.constant("release" as const), i: fc.nat(5) }),
  fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 1500 }) }),
);

/** A call's token in the model: a CLOSED call's generation, or a trial. */
type Token = number | { gen: number; at: number };

/** The reference model: the specification, written as plainly as possible. */
class Model {
  state: "closed" | "open" | "half_open" = "closed";
  gen = 0;
  failures = 0;
  successes = 0;
  /** Running trials of any half-open period; each holds a permit for `reset` ms (≥ 1) at most. */
  trials: { gen: number; at: number }[] = [];
  openedAt = 0;
  isolated = 0;
  now = 0;
  constructor(readonly threshold: number, readonly reset: number, readonly maxHalf: number) {}
  go(s: Model["state"]) {
    this.state = s;
    this.gen++;
    this.successes = 0;
    if (s === "open") this.openedAt = this.now;
    else this.failures = 0;
  }
  live(t: { at: number }) {
    // Given back exactly `reset` ms after it started (inclusive, as Polly and resilience4j).
    return this.now - t.at < Math.max(1, this.reset);
  }
  inFlight() {
    return this.trials.filter((t) => this.live(t)).length;
  }
  left() {
    if (this.state !== "open") return 0;
    if (this.isolated > 0) return Infinity;
    return Math.max(0, this.reset - (this.now - this.openedAt));
  }
  view() {
    return this.state === "open" && this.left() === 0 ? "half_open" : this.state;
  }
  /** Returns the token of an admitted call, or null when rejected. */
  admit(): Token | null {
    if (this.state === "closed") return this.gen;
    if (this.state === "open") {
      if (this.left() > 0) return null;
      this.go("half_open");
    }
    this.trials = this.trials.filter((t) => this.live(t));
    if (this.trials.length >= this.maxHalf) return null;
    const trial = { gen: this.gen, at: this.now };
    this.trials.push(trial);
    return trial;
  }
  /** `ok`: success, failure, or null for a call its caller cancelled (counts as nothing). */
  settle(token: Token, ok: boolean | null) {
    let gen = token as number;
    const trial = typeof token !== "number";
    if (trial) {
      const i = this.trials.indexOf(token);
      if (i >= 0) this.trials.splice(i, 1);
      if (i < 0 || !this.live(token)) return; // expired: its permit went back already
      gen = token.gen;
    }
    if (gen !== this.gen || ok === null) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (trial && this.successes >= this.maxHalf) this.go("closed");
    } else {
      this.failures++;
      if (trial || this.failures >= this.threshold) this.go("open");
    }
  }
  isolate() {
    this.isolated++;
    if (this.state !== "open") this.go("open");
  }
  release() {
    this.isolated--;
    if (this.isolated === 0 && this.state === "open") this.openedAt = -Infinity;
  }
}

test("breaker model: random successes, failures, time steps, concurrent calls, caller aborts, hanging trials and isolation", async () => {
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
          token: Token;
          d: ReturnType<typeof deferred<string>>;
          p: Promise<unknown>;
          ctl: AbortController;
        }[] = [];
        const handles: (() => void)[] = [];
        const gone = AbortSignal.abort(new Error("caller gone"));
        for (const c of cmds) {
          if (c.t === "tick") {
            clock.tick(c.ms);
            m.now += c.ms;
          } else if (c.t === "call") {
            // An already-aborted caller: never admitted, never run, counts as nothing.
            const token = c.gone ? null : m.admit();
            let ran = false;
            const r = await b.execute(() => {
              ran = true;
              if (!c.ok) throw new Error("fail");
              return "ok";
            }, c.gone ? gone : undefined).catch((e) => e);
            assert.equal(ran, token !== null, "admission differs from the model");
            if (c.gone) assert.equal(r, gone.reason);
            else if (token === null) assert.ok(r instanceof CircuitOpenError);
            else m.settle(token, c.ok);
          } else if (c.t === "start") {
            const token = m.admit();
            const d = deferred<string>();
            const ctl = new AbortController();
            let ran = false;
            // The work ignores its signal: it settles only when the test says so.
            const p = b.execute(() => {
              ran = true;
              return d.promise;
            }, ctl.signal).catch((e) => e);
            assert.equal(ran, token !== null, "admission differs from the model");
            if (token === null) await p;
            else pending.push({ token, d, p, ctl });
          } else if (c.t === "abort") {
            if (pending.length > 0) pending[c.i % pending.length].ctl.abort();
          } else if (c.t === "isolate") {
            handles.push(b.isolate());
            m.isolate();
          } else if (c.t === "release") {
            if (handles.length > 0) {
              handles.splice(c.i % handles.length, 1)[0]();
              m.release();
            }
          } else if (pending.length > 0) {
            const [call] = pending.splice(c.i % pending.length, 1);
            if (c.ok) call.d.resolve("ok");
            else call.d.reject(new Error("fail"));
            await call.p;
            m.settle(call.token, c.ok ? true : call.ctl.signal.aborted ? null : false);
          }
          const s = b.getStats();
          assert.equal(s.state, m.view());
          assert.equal(b.state, m.view());
          // Past its open duration the circuit reads HALF_OPEN, with the counts of that state.
          const due = m.state === "open" && m.view() === "half_open";
          assert.equal(s.failureCount, due ? 0 : m.failures);
          assert.equal(s.successCount, due ? 0 : m.successes);
          assert.equal(s.halfOpenInFlight, m.inFlight());
          assert.ok(s.halfOpenInFlight <= maxHalf);
          assert.equal(s.isolated, m.isolated > 0);
          assert.equal(s.timeUntilReset, m.isolated > 0 ? null : m.left());
          assert.equal(b.getTimeUntilReset(), m.left());
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
