// Fourth fresh-eyes review of shared circuits (issue #17): the times of reports
// and commands on the store's clock. Each scenario failed before its fix and
// says what a local breaker does.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  type Clock,
  MemoryStore,
  sharedStore,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

/** A breaker's clock whose wall time is `offset` ms away from `clock`'s (changeable: a step). */
function steppable(clock: FakeClock, offset = 0): Clock & { offset: number } {
  const c = {
    offset,
    now: () => clock.now(),
    wallNow: () => clock.wallNow() + c.offset,
    setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms),
    clearTimeout: (handle: unknown) => clock.clearTimeout(handle as number),
  };
  return c;
}

/** A store `there` ms away on the way to it and `back` ms on the way back. */
function farAway(inner: MemoryStore, there: number, back: number, clock: FakeClock) {
  const later = <T>(v: T, ms: number) => new Promise<T>((r) => clock.setTimeout(() => r(v), ms));
  return sharedStore({
    kind: "authoritative",
    run: (key, op) =>
      later(undefined, there).then(() => inner.run(key, op)).then((v) => later(v, back)),
  });
}

test("shared review (4th): an instance's own successes end its runs of failures in its copy, whatever its clock or the way to the store", async () => {
  // F s F F F s … never has 4 failures in a row: a local breaker never opens. A success re-applied
  // on a store answer kept its own time and was ordered before the store's last failure (dated on
  // the store's clock, shifted by the transit estimate): with a longer way there than back, or a
  // clock behind the store's, the copy opened after 6 calls and refused 54.
  const cases = [
    ["local", 0, 0, 0],
    ["25 ms each way", 25, 25, 0],
    ["50 ms there, 0 back", 50, 0, 0],
    ["0 there, 50 ms back", 0, 50, 0],
    ["25 ms each way, clock 1 s behind", 25, 25, -1_000],
    ["25 ms each way, clock 1 s ahead", 25, 25, 1_000],
  ] as const;
  for (const [label, there, back, offset] of cases) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const events: string[] = [];
    const b = circuitBreaker({
      name: "own-successes",
      clock: steppable(clock, offset),
      logger: silent,
      failureThreshold: 4,
      resetTimeout: 10_000,
      ...(label === "local" ? {} : {
        store: farAway(new MemoryStore({ clock }), there, back, clock),
        storeOptions: { timeout: 1_000 },
      }),
      onStateChange: (e) => events.push(`${e.to}:${e.reason}`),
    });
    const warm = b.execute(() => 1);
    await clock.tickAsync(500);
    await warm;
    let ran = 0;
    const pattern = [false, true, false, false, false, true];
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      const ok = pattern[i % pattern.length];
      calls.push(
        b.execute(() => {
          ran++;
          return new Promise((res, rej) =>
            clock.setTimeout(() => ok ? res(1) : rej(new Error("x")), 2)
          );
        }).catch((e) => assert.ok(!(e instanceof CircuitOpenError), `${label}: refused`)),
      );
      await clock.tickAsync(20);
    }
    await clock.tickAsync(1_000);
    await Promise.all(calls);
    assert.equal(ran, 60, `${label}: ${events.join(" ")}`);
    assert.deepEqual(events, [], label);
  }
});

test("shared review (4th): a step of an instance's wall clock while its successes are batched does not hide the fleet's failures", async () => {
  // Instance a's wall clock steps back 1 h (NTP, a resumed VM) while 4 successes wait in its
  // batch: they were dated 1 h ahead on the store's clock (bounded to now + 5 s), and every
  // failure of the fleet for 5 s was ordered before them: b reached a dead upstream 55 times
  // instead of 5. Outcomes are now dated by their age on the monotonic clock.
  for (const step of [0, -3_600_000, 3_600_000]) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const memory = new MemoryStore({ clock });
    const make = (name: string, c: Clock) =>
      circuitBreaker({
        name,
        storeKey: "stepped",
        store: memory,
        clock: c,
        logger: silent,
        failureThreshold: 5,
        resetTimeout: 60_000,
        storeOptions: { refreshInterval: 100 },
      });
    const ac = steppable(clock);
    const a = make("a", ac);
    const b = make("b", clock);
    await Promise.all([a.execute(() => 1), b.execute(() => 1)]);
    await b.flush();
    for (let i = 0; i < 3; i++) await a.execute(() => 1); // batched
    ac.offset = step;
    await clock.tickAsync(200);
    await a.flush(); // sends the batch
    let upstream = 0;
    for (let i = 0; i < 100; i++) {
      await b.execute(() => (upstream++, Promise.reject(new Error("x")))).catch(() => {});
      await clock.tickAsync(100);
    }
    await b.flush();
    assert.equal(upstream, 5, `a's clock stepped ${step} ms: b ran ${upstream} calls`);
    assert.equal(b.state, "open");
  }
});

test("shared review (4th): a fresh instance's quick open() then reset() ends closed (no round trip measured yet)", async () => {
  // A fresh instance's first operation had no round trip to estimate its time in transit: its
  // command was dated when it reached the store, later than a command it gave after it (10 ms
  // later, the store 50 ms away each way): reset() was taken as stale and the fleet stayed OPEN.
  for (
    const [given, want] of [[["open", "reset"], "closed"], [["reset", "open"], "open"]] as const
  ) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const memory = new MemoryStore({ clock });
    const b = circuitBreaker({
      name: "fresh-commands",
      clock,
      logger: silent,
      failureThreshold: 2,
      resetTimeout: 60_000,
      store: farAway(memory, 50, 50, clock),
      storeOptions: { timeout: 1_000 },
    });
    for (const c of given) {
      b[c]();
      await clock.tickAsync(10);
    }
    const done = b.flush();
    await clock.tickAsync(2_000);
    await done;
    const other = circuitBreaker({
      name: "other",
      storeKey: "fresh-commands",
      clock,
      logger: silent,
      failureThreshold: 2,
      resetTimeout: 60_000,
      store: memory,
    });
    await other.execute(() => 1).catch(() => {});
    assert.deepEqual([b.state, other.state], [want, want], given.join(", "));
  }
});

test("shared review (4th): with a store on each process's clock (Deno KV), an instance behind another can still reset or open the circuit", async () => {
  // Deno KV runs the reducer at each process's own time. a's clock is 10 s (or 1 h) ahead: its
  // trip (or reset) was dated in b's future, and b's reset() (or open()) a second later was taken
  // for one given before it and ignored, for as long as the clocks disagree.
  for (const offset of [10_000, 3_600_000]) {
    for (const command of ["reset", "open"] as const) {
      clearCircuitBreakers();
      const clock = new FakeClock();
      const entries = new Map<string, unknown>();
      const make = (name: string, c: Clock) =>
        circuitBreaker({
          name,
          storeKey: "per-process",
          store: new MemoryStore({ clock: c, entries }),
          clock: c,
          logger: silent,
          failureThreshold: 2,
          resetTimeout: 60_000,
          storeOptions: { refreshInterval: 100 },
        });
      const a = make("a", steppable(clock, offset));
      const b = make("b", clock);
      await Promise.all([a.execute(() => 1), b.execute(() => 1)]);
      if (command === "reset") {
        for (let i = 0; i < 2; i++) {
          await a.execute(() => Promise.reject(new Error("x"))).catch(() => {});
        }
      } else a.reset();
      await a.flush();
      await clock.tickAsync(1_000);
      b[command]();
      await b.flush();
      const want = command === "reset" ? "closed" : "open";
      const stored = entries.get("cb:per-process") as { state: string };
      assert.equal(stored.state, want, `stored, b.${command}(), a ${offset} ms ahead`);
      assert.equal(b.state, want, `b.${command}(), a ${offset} ms ahead`);
      if (command === "reset") {
        // (An OPEN circuit reads due at once on a clock ahead by resetTimeout or more: see the
        // docs' Clocks. A reset reads closed everywhere.)
        await clock.tickAsync(200);
        await a.execute(() => 1);
        await a.flush();
        assert.equal(a.state, "closed", `a, b.reset(), a ${offset} ms ahead`);
      }
    }
  }
});
