import assert from "node:assert/strict";
import process from "node:process";
import { circuitBreaker, compose, currentContext, retry, timeout } from "../mod.ts";
import fc from "fast-check";
import { Scope, signalWatchers } from "../src/context.ts";
import { deferred, FC_RUNS, macrotask, test } from "./_harness.ts";

test("context: undefined outside a policy call, set while a wrapped function starts", async () => {
  assert.equal(currentContext(), undefined);
  let inside: unknown;
  let afterAwait: unknown = "unset";
  await timeout(1000)(async () => {
    inside = currentContext();
    await null;
    afterAwait = currentContext();
  })();
  assert.ok(inside);
  assert.equal(afterAwait, undefined);
  assert.equal(currentContext(), undefined);
});

test("context: nested wrapped functions inherit cancellation", async () => {
  let innerSignal: AbortSignal | undefined;
  const inner = retry({ maxAttempts: 1 })(() => {
    innerSignal = currentContext()!.signal;
    return new Promise(() => {});
  });
  const outer = timeout(10)(() => inner());
  await assert.rejects(outer());
  assert.equal(innerSignal!.aborted, true);
});

test("context: the caller's signal is passed through untouched when nothing else can abort", async () => {
  const ctl = new AbortController();
  let seen: AbortSignal | undefined;
  const { circuitBreaker } = await import("../mod.ts");
  await circuitBreaker().execute(({ signal }) => (seen = signal), ctl.signal);
  assert.equal(seen, ctl.signal);
});

test("context: a long-lived caller signal collects no listeners across calls", async () => {
  const ctl = new AbortController();
  let added = 0;
  let removed = 0;
  const signal = ctl.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...a: Parameters<typeof add>) => {
    added++;
    return add(...a);
  }) as typeof add;
  signal.removeEventListener = ((...a: Parameters<typeof remove>) => {
    removed++;
    return remove(...a);
  }) as typeof remove;
  const t = timeout(1000);
  for (let i = 0; i < 20; i++) await t.execute(() => i, signal);
  assert.ok(added > 0);
  assert.equal(added, removed);
});

/** Counts the abort listeners added to and removed from `signal`. */
function countListeners(signal: AbortSignal): { added: number; removed: number } {
  const n = { added: 0, removed: 0 };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...a: Parameters<typeof add>) => {
    n.added++;
    return add(...a);
  }) as typeof add;
  signal.removeEventListener = ((...a: Parameters<typeof remove>) => {
    n.removed++;
    return remove(...a);
  }) as typeof remove;
  return n;
}

/** Warnings the runtime emits (Node: `process.on("warning")`) while `fn` runs. */
async function warningsDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const p = process as { on?: typeof process.on; off?: typeof process.off };
  const onWarning = (w: Error) => void seen.push(`${w.name}: ${w.message}`);
  p.on?.("warning", onWarning);
  try {
    await fn();
    await macrotask(); // Node emits warnings on a later tick
  } finally {
    p.off?.("warning", onWarning);
  }
  return seen;
}

const N = 1_000;

test("context: 1,000 concurrent calls sharing one caller signal add one listener; abort cancels each", async () => {
  const ctl = new AbortController();
  const n = countListeners(ctl.signal);
  const reason = new Error("client went away");
  const aborted: unknown[] = [];
  const t = timeout(60_000);
  const b = circuitBreaker({ name: "ctx-shared-signal", failureThreshold: N * 10 });
  const r = retry({ maxAttempts: 2, initialDelay: 0 });
  const hang = ({ signal }: { signal: AbortSignal }) =>
    new Promise((_, reject) => {
      signal.addEventListener("abort", () => {
        aborted.push(signal.reason);
        reject(signal.reason);
      });
    });
  let calls: Promise<unknown>[] = [];
  const warnings = await warningsDuring(async () => {
    calls = [
      ...Array.from({ length: N }, () => t.execute(hang, ctl.signal)),
      ...Array.from({ length: N }, () => r.execute(hang, ctl.signal)),
      ...Array.from({ length: N }, () => compose(t, b).execute(hang, ctl.signal)),
    ];
    await null;
  });
  assert.deepEqual(warnings.filter((w) => w.includes("MaxListeners")), []);
  assert.equal(n.added, 1, "one listener on the caller's signal for every call");
  assert.equal(signalWatchers(ctl.signal), 3 * N);
  ctl.abort(reason);
  const results = await Promise.allSettled(calls);
  assert.ok(results.every((x) => x.status === "rejected" && x.reason === reason));
  assert.equal(aborted.length, 3 * N);
  assert.ok(aborted.every((x) => x === reason));
  assert.equal(signalWatchers(ctl.signal), 0);
  assert.equal(n.removed, 0, "the listener fired (once: true), nothing left to remove");
  b.reset();
});

test("context: finished calls release their registration on a shared caller signal", async () => {
  const ctl = new AbortController();
  const n = countListeners(ctl.signal);
  const t = timeout(60_000);
  const gates = Array.from({ length: N }, () => deferred<number>());
  const calls = gates.map((g) => t.execute(() => g.promise, ctl.signal));
  await null;
  assert.equal(signalWatchers(ctl.signal), N);
  assert.equal(n.added, 1);
  // Finish them in a scrambled order: each releases its own registration only.
  for (let i = 0; i < N; i++) gates[(i * 7919) % N].resolve(i);
  assert.equal((await Promise.all(calls)).length, N);
  assert.equal(signalWatchers(ctl.signal), 0, "the set empties");
  assert.equal(n.removed, 1, "the one listener is removed once nothing watches");
  // A later call on the same signal registers again and still sees an abort.
  const late = t.execute(
    ({ signal }) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    ctl.signal,
  );
  await null;
  assert.equal(n.added, 2);
  ctl.abort("bye");
  await assert.rejects(late, (e) => e === "bye");
  assert.equal(signalWatchers(ctl.signal), 0);
});

test("context: scopes on one caller signal, settled in any order: the rest abort, the settled do not", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant(-1), fc.nat(40)), { maxLength: 60 }),
      fc.nat(60),
      (ops, abortAt) => {
        const ctl = new AbortController();
        const n = countListeners(ctl.signal);
        // Each scope: what its listener saw, and whether it had settled when the signal aborted.
        type Entry = { scope: Scope; seen: unknown[]; disposed: boolean; settledFirst?: boolean };
        const scopes: Entry[] = [];
        const abort = () => {
          for (const s of scopes) s.settledFirst = s.disposed;
          ctl.abort("stop");
        };
        ops.forEach((o, step) => {
          if (step === abortAt) abort();
          if (o === -1 || scopes.length === 0) {
            const seen: unknown[] = [];
            const scope = new Scope(undefined, undefined, ctl.signal);
            scope.onAbort((r) => seen.push(r));
            scopes.push({
              scope,
              seen,
              disposed: false,
              settledFirst: false,
            });
          } else {
            const s = scopes[o % scopes.length];
            s.scope.dispose();
            s.disposed = true;
          }
          const live = scopes.filter((s) => !s.disposed && !s.scope.aborted).length;
          assert.equal(signalWatchers(ctl.signal), ctl.signal.aborted ? 0 : live);
          if (!ctl.signal.aborted) {
            // (After the abort the `once` listener is gone without a removeEventListener.)
            assert.equal(n.added - n.removed, live > 0 ? 1 : 0, "one listener while any is live");
          }
        });
        if (!ctl.signal.aborted) abort();
        for (const s of scopes) {
          // Settled before the abort: never told. Otherwise: told once, with the reason.
          assert.deepEqual(s.seen, s.settledFirst ? [] : ["stop"]);
        }
        assert.equal(signalWatchers(ctl.signal), 0);
      },
    ),
    { numRuns: FC_RUNS },
  );
});
