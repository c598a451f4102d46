// Rate limits shared through the library's own stores (the same port and
// adapters as shared circuits): MemoryStore and Deno KV here, the Durable
// Object in workerd (tests/cloudflare_test.ts). Exact: several limiters
// sharing one limit admit exactly the limit.
import assert from "node:assert/strict";
import { MemoryStore, rateLimiter, type SharedStore, workersKvStoreGuard } from "./_rate_stores.ts";
import { denoKvStore } from "../src/deno_kv/mod.ts";
import { FakeClock } from "../src/testing/mod.ts";
import { silent, test } from "./_harness.ts";

const DENO = { runtimes: ["deno" as const], why: "Deno KV is Deno's own API" };

async function admitted(store: (clock: FakeClock) => SharedStore, instances: number) {
  const clock = new FakeClock();
  const s = store(clock);
  const limiters = Array.from({ length: instances }, () =>
    rateLimiter({
      name: "api",
      limit: 100,
      interval: 60_000,
      algorithm: "fixed-window",
      store: s,
      clock,
      logger: silent,
    }));
  let allowed = 0;
  for (let i = 0; i < 1_000; i++) {
    const r = await limiters[i % instances].take("client-1");
    if (r.allowed) allowed++;
    clock.tick(10);
  }
  return allowed;
}

test("shared rate limit (MemoryStore): 3 limiters sharing one limit of 100 admit exactly 100 of 1,000", async () => {
  assert.equal(await admitted((clock) => new MemoryStore({ clock }), 3), 100);
});

test(
  "shared rate limit (Deno KV): 3 limiters sharing one limit of 100 admit exactly 100 of 1,000",
  async () => {
    const kv = await (globalThis as unknown as { Deno: { openKv(p: string): Promise<Deno.Kv> } })
      .Deno.openKv(":memory:");
    try {
      assert.equal(await admitted((clock) => denoKvStore(kv, { clock }), 3), 100);
    } finally {
      kv.close();
    }
  },
  DENO,
);

test("shared rate limit: Workers KV (advisory) is refused when the limiter is built, naming 'store'", () => {
  assert.throws(
    () => rateLimiter({ limit: 1, interval: 1000, store: workersKvStoreGuard() }),
    (e) =>
      e instanceof TypeError && /'store'/.test(e.message) && /Workers KV|advisory/.test(e.message),
  );
});
