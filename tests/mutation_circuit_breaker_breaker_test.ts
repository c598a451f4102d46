// What mutation testing of src/circuit_breaker/breaker.ts found untested:
// isolate()'s option checks and releases (once, not after reset(), the last
// one lets trials start at once), listener removal, flush without a store,
// and the registry's answers by name.
import assert from "node:assert/strict";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  MemoryStore,
  type StateChangeEvent,
} from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

test("breaker: isolate() checks its options, naming them", () => {
  clearCircuitBreakers();
  const b = circuitBreaker({ logger: silent });
  assert.throws(() => b.isolate(5 as never), /circuitBreaker.*'isolate options'/);
  assert.throws(() => b.isolate({ scope: "everyone" as never }), {
    name: "TypeError",
    message: `circuitBreaker: isolate option 'scope' must be "instance" or "fleet"`,
  });
  assert.throws(() => b.isolate({ scope: "fleet" }), {
    name: "TypeError",
    message: `circuitBreaker: isolate({ scope: "fleet" }) needs a breaker with a store`,
  });
  assert.equal(b.state, "closed", "a refused isolate changes nothing");
  const release = b.isolate({});
  assert.equal(b.state, "open");
  release();
});

test("breaker: instance isolations nest; the last release lets a trial start at once, a second call of it does nothing", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const events: string[] = [];
  const b = circuitBreaker({
    clock,
    logger: silent,
    resetTimeout: 10_000,
    halfOpenMaxCalls: 1,
    onStateChange: (e) => void events.push(`${e.to}:${e.reason}`),
  });
  const r1 = b.isolate();
  const r2 = b.isolate({ scope: "instance" });
  assert.deepEqual(events, ["open:isolated"], "one transition");
  clock.tick(20_000);
  await assert.rejects(b.execute(() => 1), (e) => e instanceof CircuitOpenError && e.isolated);
  r1();
  r1(); // once: the other isolation still holds
  await assert.rejects(b.execute(() => 1), CircuitOpenError);
  assert.equal(b.getTimeUntilReset(), Infinity);
  r2();
  assert.equal(b.state, "half_open", "released: trial calls may start at once");
  assert.equal(b.getTimeUntilReset(), 0);
  assert.equal(await b.execute(() => 7), 7);
  assert.equal(b.state, "closed");
});

test("breaker: a release after reset() does nothing (reset ended every isolation)", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const b = circuitBreaker({ clock, logger: silent, resetTimeout: 10_000, failureThreshold: 1 });
  const release = b.isolate();
  b.reset();
  assert.equal(b.state, "closed");
  await assert.rejects(b.execute(() => Promise.reject(new Error("x"))));
  assert.equal(b.state, "open");
  clock.tick(5_000);
  release();
  assert.equal(b.state, "open", "the failure's open duration is not cut short");
  assert.equal(b.getTimeUntilReset(), 5_000);
  // Releasing while CLOSED: nothing moves either.
  b.reset();
  const r = b.isolate();
  b.reset();
  r();
  assert.equal(b.state, "closed");
});

test("breaker: a fleet isolation holds every instance until released, once; not after reset()", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const mk = (name: string) =>
    circuitBreaker({
      name,
      storeKey: "fleet",
      store,
      clock,
      logger: silent,
      resetTimeout: 1_000,
      halfOpenMaxCalls: 1,
    });
  const a = mk("a");
  const b = mk("b");
  await a.execute(() => 1);
  await b.execute(() => 1);
  const release = a.isolate({ scope: "fleet" });
  assert.equal(a.state, "open");
  await a.flush();
  await b.flush();
  clock.tick(60_000);
  await b.flush();
  assert.equal(b.state, "open", "held: no half-open however long");
  release();
  await a.flush();
  assert.equal(a.state, "half_open", "released: trials at once");
  await b.flush();
  assert.equal(b.state, "half_open");
  assert.equal(await b.execute(() => 2), 2);
  await b.flush();
  await a.flush();
  assert.equal(a.state, "closed");
  // Released after a reset(): nothing sent, the circuit stays as it is.
  const again = a.isolate({ scope: "fleet" });
  a.reset();
  await a.flush();
  const opened = a.isolate({ scope: "fleet" });
  again(); // from before the reset: ignored
  again();
  await a.flush();
  await b.flush();
  clock.tick(60_000);
  await b.flush();
  assert.equal(b.state, "open", "the second isolation still holds");
  opened();
  await a.flush();
  await b.flush();
  assert.equal(b.state, "half_open");
});

test("breaker: onStateChange returns its removal; flush() without a store resolves", async () => {
  clearCircuitBreakers();
  const b = circuitBreaker({ logger: silent, failureThreshold: 1 });
  const seen: StateChangeEvent[] = [];
  const off = b.onStateChange((e) => void seen.push(e));
  assert.throws(() => b.onStateChange(5 as never), /circuitBreaker.*'listener'/);
  b.open();
  assert.equal(seen.length, 1);
  off();
  b.reset();
  assert.equal(seen.length, 1, "removed");
  off(); // twice: nothing
  assert.equal(await b.flush(), undefined);
});

test("breaker: a name alone finds the registered breaker; equal options too; others are refused, naming them", () => {
  clearCircuitBreakers();
  const a = circuitBreaker({ name: "reg", failureThreshold: 3, logger: silent });
  assert.equal(circuitBreaker({ name: "reg" }), a);
  assert.equal(circuitBreaker({ name: "reg", failureThreshold: 3, logger: silent }), a);
  assert.throws(() => circuitBreaker({ name: "reg", failureThreshold: 4, logger: silent }), {
    name: "TypeError",
    message:
      /^circuitBreaker: a breaker named 'reg' is already registered with other options \(.*failureThreshold.*\)\. Get it with circuitBreaker\(\{ name: 'reg' \}\) alone, replace it after removeCircuitBreaker\('reg'\), or choose another name\.$/,
  });
  const anon1 = circuitBreaker({ logger: silent });
  const anon2 = circuitBreaker({ logger: silent });
  assert.notEqual(anon1, anon2, "no name: never shared");
  assert.equal(circuitBreaker({ name: "fresh" }).getStats().state, "closed");
  clearCircuitBreakers();
});

test("breaker: a fleet release called twice does not end an isolation made after it", async () => {
  clearCircuitBreakers();
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  const mk = (name: string) =>
    circuitBreaker({ name, storeKey: "twice", store, clock, logger: silent, resetTimeout: 1_000 });
  const a = mk("a");
  const b = mk("b");
  await a.execute(() => 1);
  await b.execute(() => 1);
  const first = a.isolate({ scope: "fleet" });
  await a.flush();
  first();
  await a.flush();
  const second = b.isolate({ scope: "fleet" });
  await b.flush();
  first(); // again: must not release b's isolation
  await a.flush();
  clock.tick(60_000);
  await b.flush();
  await a.flush();
  assert.equal(a.state, "open", "b's isolation still holds the fleet");
  second();
  await b.flush();
});

test("breaker: the options checks name the option; registry differences are all listed", async () => {
  clearCircuitBreakers();
  assert.throws(
    () => circuitBreaker(5 as never),
    /circuitBreaker: option 'options' must be an object/,
  );
  circuitBreaker({ name: "two", failureThreshold: 3, resetTimeout: 1_000, logger: silent });
  assert.throws(
    () => circuitBreaker({ name: "two", failureThreshold: 4, resetTimeout: 2_000, logger: silent }),
    (e: Error) =>
      /failureThreshold.*; .*resetTimeout|resetTimeout.*; .*failureThreshold/.test(e.message),
  );
  // A breaker given the name "anonymous" keeps it: only an unnamed one takes its function's name.
  const named = circuitBreaker({ name: "anonymous", logger: silent });
  const wrapped = named(function fetchUser() {
    return 1;
  });
  assert.equal(await wrapped(), 1);
  assert.equal(named.name, "anonymous");
  clearCircuitBreakers();
});
