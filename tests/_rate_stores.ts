// Stores for the shared rate-limit tests.
export { MemoryStore, rateLimiter, type SharedStore } from "../mod.ts";
import { workersKvStore } from "../src/cloudflare/mod.ts";

/** A Workers KV store over a do-nothing binding (advisory: it cannot count). */
export function workersKvStoreGuard() {
  return workersKvStore({ get: () => Promise.resolve(null), put: () => Promise.resolve() });
}
