// Circuit breakers sharing state through Redis (a real redis-server), with
// node-redis and ioredis: the differential test (one shared instance is the
// local breaker; a fleet kept in step admits what one local breaker admits),
// the threshold in total across instances, half-open probes bounded under
// concurrency, and the logged repair of an unreadable entry.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  circuitBreaker,
  CircuitOpenError,
  clearCircuitBreakers,
  type SharedStore,
  systemClock,
} from "../mod.ts";
import type { FakeClock } from "../src/testing/mod.ts";
import { redisStore } from "../src/redis/mod.ts";
import { MODES, run, schedules, type Step } from "./_differential.ts";
import { FC_RUNS, recordingLogger, silent } from "./_harness.ts";
import { CLIENT_NAMES, connect, fileServer, redisTest } from "./_redis.ts";

const server = await fileServer();
const boom = () => Promise.reject(new Error("boom"));

/** The store's time is the fake wall time; its contention backoff waits on real timers. */
const storeClock = (clock: FakeClock) => ({
  now: () => systemClock.now(),
  wallNow: () => clock.wallNow(),
  setTimeout: (fn: () => void, ms: number) => systemClock.setTimeout(fn, ms),
  clearTimeout: (h: unknown) => systemClock.clearTimeout(h as never),
});

let prefixes = 0;

for (const name of CLIENT_NAMES) {
  redisTest(
    `differential (Redis, ${name}): one shared instance is the local breaker (3 modes)`,
    async () => {
      const c = await connect(name, server!);
      try {
        const prefix = `diff${++prefixes}:`;
        const makeStore = (clock: FakeClock): SharedStore =>
          redisStore(c.client as never, { prefix, clock: storeClock(clock) });
        for (const [mode, options] of Object.entries(MODES)) {
          let key = 0;
          await fc.assert(
            fc.asyncProperty(schedules(1), async (steps: Step[]) => {
              clearCircuitBreakers();
              const local = await run(steps, options, undefined, 1, true, "local");
              const shared = await run(steps, options, makeStore, 1, true, `${mode}-${key++}`);
              assert.deepEqual(shared, local, `${mode} mode`);
            }),
            { numRuns: FC_RUNS },
          );
        }
      } finally {
        await c.close();
      }
    },
  );

  redisTest(
    `differential (Redis, ${name}): 3 instances kept in step admit what one local breaker admits`,
    async () => {
      const c = await connect(name, server!);
      try {
        const prefix = `fleet${++prefixes}:`;
        for (const [mode, options] of Object.entries(MODES)) {
          let key = 0;
          await fc.assert(
            fc.asyncProperty(schedules(3), async (steps: Step[]) => {
              clearCircuitBreakers();
              const one = steps.map((s) => ("at" in s ? { ...s, at: 0 } : s)) as Step[];
              const local = await run(one, options, undefined, 1, false, "local");
              const fleet = await run(
                steps,
                options,
                (clock) => redisStore(c.client as never, { prefix, clock: storeClock(clock) }),
                3,
                false,
                `f-${mode}-${key++}`,
              );
              const calls = (t: string[]) => t.filter((l) => l.startsWith("call"));
              assert.deepEqual(calls(fleet), calls(local), `${mode} mode`);
            }),
            { numRuns: Math.max(100, FC_RUNS / 4) },
          );
        }
      } finally {
        await c.close();
      }
    },
  );

  redisTest(
    `Redis (${name}): the threshold counts in total across instances; every instance then fails fast`,
    async () => {
      clearCircuitBreakers();
      const c = await connect(name, server!);
      try {
        const store = redisStore(c.client as never);
        const bs = Array.from({ length: 3 }, (_, i) =>
          circuitBreaker({
            name: `total-${name}-${i}`,
            storeKey: `total-${name}`,
            store,
            logger: silent,
            failureThreshold: 3,
            resetTimeout: 60_000,
          }));
        for (const b of bs) {
          await assert.rejects(b.execute(boom), /boom/);
          await b.flush();
        }
        for (const b of bs) await b.flush();
        let ran = 0;
        for (const b of bs) await assert.rejects(b.execute(() => ran++), CircuitOpenError);
        assert.equal(ran, 0);
        assert.match(server!.cli("HGET", `er:cb:total-${name}`, "v"), /"state":"open"/);
      } finally {
        await c.close();
      }
    },
  );

  redisTest(
    `Redis (${name}): 200 concurrent half-open calls over 4 instances admit at most halfOpenMaxCalls probes`,
    async () => {
      clearCircuitBreakers();
      const c = await connect(name, server!);
      try {
        const store = redisStore(c.client as never);
        const bs = Array.from({ length: 4 }, (_, i) =>
          circuitBreaker({
            name: `probes-${name}-${i}`,
            storeKey: `probes-${name}`,
            store,
            logger: silent,
            failureThreshold: 1,
            // A permit lasts resetTimeout at most: 1 s, so that a loaded machine stalling a 20 ms
            // trial cannot expire its permit (another instance would then get one, by design).
            resetTimeout: 1_000,
            halfOpenMaxCalls: 2,
            // Generous: this test is about permits, not about a slow machine.
            storeOptions: { timeout: 10_000 },
          }));
        await assert.rejects(bs[0].execute(boom));
        for (const b of bs) await b.flush();
        await new Promise((r) => setTimeout(r, 1_020));
        let admitted = 0;
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            bs[i % 4].execute(async () => {
              admitted++;
              await new Promise((r) => setTimeout(r, 20));
            }).then(() => "ok", (e) => (e instanceof CircuitOpenError ? "rejected" : String(e)))),
        );
        for (const b of bs) await b.flush();
        // At most halfOpenMaxCalls trials; besides them, an instance whose first call reaches the
        // store only after the trials closed the circuit runs that one call as a CLOSED call (its
        // queued callers are refused): at most one per other instance (docs/shared-state.md).
        assert.ok(admitted >= 1 && admitted <= 2 + 3, `admitted ${admitted}`);
        assert.equal(results.filter((r) => r === "rejected").length, 200 - admitted);
      } finally {
        await c.close();
      }
    },
  );

  redisTest(
    `Redis (${name}): an unreadable entry is repaired and logged once, not an outage`,
    async () => {
      clearCircuitBreakers();
      const c = await connect(name, server!);
      try {
        const log = recordingLogger();
        const statuses: boolean[] = [];
        const key = `er:cb:repair-${name}`;
        server!.cli("RPUSH", key, "not", "a", "hash");
        const b = circuitBreaker({
          name: `repair-${name}`,
          store: redisStore(c.client as never),
          logger: log,
          onStoreStatus: (e) => statuses.push(e.available),
          failureThreshold: 2,
        });
        assert.equal(await b.execute(() => 1), 1);
        await b.flush();
        assert.equal(server!.cli("TYPE", key), "hash");
        assert.deepEqual(statuses, []);
        const repairs = log.lines.filter((l) => /WRONGTYPE|unreadable|repair/i.test(l));
        assert.equal(repairs.length, 1, log.lines.join("\n"));
      } finally {
        await c.close();
      }
    },
  );
}

redisTest("Redis: the server of this file stops", () => server!.dispose());
