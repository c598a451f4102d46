// A store status listener (`onStoreStatus`) that throws must not break the breaker: the user's
// calls complete with their own results, and the listener's error is logged. Public API only.
import assert from "node:assert/strict";
import { circuitBreaker, clearCircuitBreakers, MemoryStore } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { recordingLogger, test } from "./_harness.ts";
import { FaultyStore } from "./_stores.ts";

test("onStoreStatus: a listener that throws is logged; calls complete through outage and recovery", async () => {
  for (const fault of ["throw", "reject-sync", "corrupt"] as const) {
    clearCircuitBreakers();
    const clock = new FakeClock();
    const faulty = new FaultyStore(new MemoryStore({ clock }));
    const log = recordingLogger();
    const events: boolean[] = [];
    const b = circuitBreaker({
      name: `listener-${fault}`,
      storeKey: "api",
      store: faulty,
      clock,
      logger: log,
      failureThreshold: 1_000,
      onStoreStatus: (e) => {
        events.push(e.available);
        throw new Error(`listener boom (${e.available ? "up" : "down"})`);
      },
      storeOptions: { refreshInterval: 0, batchSize: 1, retryInterval: 100 },
    });
    assert.equal(await b.execute(() => "before"), "before");
    await b.flush();

    faulty.fault = fault;
    const own = new Error("user's own error");
    for (let i = 0; i < 20; i++) {
      assert.equal(await b.execute(() => i), i, `${fault} #${i}`);
      await assert.rejects(b.execute(() => Promise.reject(own)), (e) => e === own);
    }
    await b.flush();
    assert.deepEqual(events, [false], fault);
    const errors = () =>
      log.lines.filter((l) => l.startsWith("ERROR") && l.includes("listener boom"));
    assert.equal(errors().length, 1, `${fault}: ${log.lines.join("\n")}`);
    assert.match(errors()[0], /listener boom \(down\)/);

    // Recovery: the listener throws again; no effect on calls, and not logged again (the one
    // rule for every hook: a throwing hook is logged once).
    faulty.heal();
    clock.tick(200);
    for (let i = 0; i < 3; i++) {
      assert.equal(await b.execute(() => "after"), "after");
      await b.flush();
    }
    assert.deepEqual(events, [false, true], fault);
    assert.equal(errors().length, 1, fault);
    assert.equal(b.getStats().storeAvailable, true, fault);
    assert.equal(b.state, "closed", fault);
  }
});
