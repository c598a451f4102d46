// What mutation testing of src/memory_store.ts found untested: its option
// checks, that a read which changes nothing writes nothing (an entry you
// passed in stays the very object), and that a refused operation rejects
// (never throws synchronously).
import assert from "node:assert/strict";
import { MemoryStore } from "../mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { test } from "./_harness.ts";

const config = { failureThreshold: 1, resetTimeout: 1_000, halfOpenMaxCalls: 1 };

test("memory store: options are checked, naming the option", () => {
  assert.throws(() => new MemoryStore({ entries: {} as Map<string, unknown> }), {
    name: "TypeError",
    message: "MemoryStore: option 'entries' must be a Map",
  });
  assert.throws(() => new MemoryStore({ clock: 5 as never }), /MemoryStore.*'clock'/);
  assert.throws(() => new MemoryStore({ entrys: new Map() } as never), /MemoryStore.*'entries'/);
  assert.equal(new MemoryStore().kind, "authoritative");
  assert.doesNotThrow(() => new MemoryStore({ entries: undefined, clock: undefined }));
});

test("memory store: runs operations on its entries at the clock's wall time; a plain read writes nothing", async () => {
  const clock = new FakeClock(0, 50_000);
  const entries = new Map<string, unknown>();
  const store = new MemoryStore({ clock, entries });
  const read = { type: "circuit", action: "sync", outcomes: [], config } as const;
  const fresh = await store.run("cb:a", read);
  assert.equal((fresh as { state: string }).state, "closed");
  assert.equal(entries.has("cb:a"), false, "a read of nothing stores nothing");
  const opened = await store.run("cb:a", {
    type: "circuit",
    action: "sync",
    outcomes: [{ ok: false, generation: 0 }],
    config,
  });
  assert.equal((opened as { openedAt: number }).openedAt, 50_000);
  const stored = entries.get("cb:a");
  assert.equal((stored as { state: string }).state, "open");
  await store.run("cb:a", read);
  assert.equal(entries.get("cb:a"), stored, "an unchanged read leaves the entry as it was");
  // What it holds is validated: garbage is repaired and written back.
  entries.set("cb:b", "garbage");
  const r = await store.run("cb:b", read);
  assert.equal((r as { repaired?: string }).repaired, "malformed circuit state from the store");
  assert.deepEqual(entries.get("cb:b"), await store.run("cb:b", read));
});

test("memory store: a refused operation is a rejected promise, not a throw", async () => {
  const store = new MemoryStore();
  let p: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    p = store.run("cb:x", { type: "nope" } as never);
  });
  await assert.rejects(p!, { name: "TypeError", message: "unknown store operation type 'nope'" });
  await assert.rejects(
    store.run("cb:x", { type: "circuit", action: "sync", outcomes: [], config: {} } as never),
    { name: "TypeError", message: "malformed breaker config" },
  );
});
