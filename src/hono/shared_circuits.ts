// The shared state of a route middleware's circuits, as the health endpoint
// reports it: read from the store (not only this isolate's breakers), one
// cached read per circuit, a bounded number of reads per health request.
import { CircuitState } from "../circuit_state.ts";
import type { Clock } from "../clock.ts";
import {
  boundSharedState,
  parseSharedState,
  type SharedConfig,
  type SharedState,
} from "../circuit_breaker/shared_data.ts";
import { storeKey } from "../shared/keys.ts";
import type { CircuitBreaker } from "../circuit_breaker.ts";
import type { RouteGroup } from "./circuit_breaker.ts";

/** Store reads one health request may make, per route middleware. */
export const READS_PER_REQUEST = 50;
/** Reads in flight at once (Workers allow 6 simultaneous connections). */
const CONCURRENCY = 6;

/** What the health endpoint shows of one circuit. */
export interface CircuitEntry {
  name: string;
  state: CircuitState;
  failureCount: number;
  /** ms until trial calls (0 unless OPEN); null while the breaker is isolated. */
  timeUntilReset: number | null;
  storeAvailable?: boolean;
  /** Where the state comes from: this isolate's breaker, or the store. */
  source: "local" | "store";
}

interface Cached {
  at: number;
  state: SharedState | undefined;
}

const caches = new WeakMap<RouteGroup, Map<string, Cached>>();

function fromShared(name: string, s: SharedState, config: SharedConfig, wall: number) {
  // The open duration in force (grown by reopenings), as the breakers themselves count it.
  const openFor = Math.min(s.openFor ?? config.resetTimeout, config.maxResetTimeout ?? Infinity);
  const left = s.state !== CircuitState.OPEN
    ? 0
    : s.held === true
    ? null
    : Math.max(0, openFor - (wall - s.openedAt));
  return {
    name,
    state: s.state === CircuitState.OPEN && left === 0 ? CircuitState.HALF_OPEN : s.state,
    failureCount: s.failures,
    timeUntilReset: left,
    storeAvailable: true,
    source: "store" as const,
  };
}

/** One store read, bounded by the store timeout; undefined on any fault. */
async function read(
  group: RouteGroup,
  key: string,
  clock: Clock,
): Promise<SharedState | undefined> {
  const sh = group.shared!;
  let timer: unknown;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(() => reject(new Error("store timeout")), sh.timeout);
    });
    const s = await Promise.race([
      Promise.resolve().then(() =>
        sh.store.kind === "advisory"
          ? sh.store.read!(storeKey("cb:", `${sh.prefix}:${key}`), sh.config)
          : sh.store.run!(storeKey("cb:", `${sh.prefix}:${key}`), {
            type: "circuit",
            action: "sync",
            outcomes: [],
            config: sh.config,
          })
      ),
      deadline,
    ]);
    // Bounded like every state the breaker reads: a future-dated entry (clock skew,
    // a custom store) shows OPEN no longer than the breaker itself would keep it.
    return s === undefined
      ? undefined
      : boundSharedState(parseSharedState(s), sh.config, clock.wallNow());
  } finally {
    clock.clearTimeout(timer);
  }
}

/**
 * The entries of a group's circuits: `keys` (this isolate's and the app's).
 * With a store, each circuit is refreshed at most once per the store's
 * refresh interval — a breaker this isolate holds refreshes its own view
 * (`flush()`), any other circuit is read from the store — with at most
 * {@linkcode READS_PER_REQUEST} refreshes now (least recently refreshed
 * first; after a failed read, none more). Without a store: the local breakers.
 */
export async function groupEntries(
  group: RouteGroup,
  keys: readonly string[],
  entryOf: (b: CircuitBreaker) => CircuitEntry,
): Promise<{ entries: CircuitEntry[]; unread: number }> {
  const sh = group.shared;
  if (!sh) {
    const entries: CircuitEntry[] = [];
    for (const k of keys) {
      const b = group.breaker(k);
      if (b) entries.push(entryOf(b));
    }
    return { entries, unread: 0 };
  }
  const clock = group.clock;
  let cache = caches.get(group);
  if (!cache) caches.set(group, cache = new Map());
  // Forget keys no longer reported (the cache never outgrows the keys).
  const wanted = new Set(keys);
  for (const k of cache.keys()) if (!wanted.has(k)) cache.delete(k);
  const now = clock.now();
  const stale = keys.filter((k) => {
    const c = cache.get(k);
    return !c || now - c.at > sh.ttl;
  }).sort((a, b) => (cache.get(a)?.at ?? -Infinity) - (cache.get(b)?.at ?? -Infinity))
    .slice(0, READS_PER_REQUEST);
  let down = false;
  let next = 0;
  const worker = async () => {
    while (!down && next < stale.length) {
      const k = stale[next++];
      const mine = group.breaker(k);
      try {
        if (mine) {
          await mine.flush(); // its own view, as its calls see it
          cache.set(k, { at: clock.now(), state: undefined });
        } else cache.set(k, { at: clock.now(), state: await read(group, k, clock) });
      } catch {
        down = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, stale.length) }, worker));
  const wall = clock.wallNow();
  const out: CircuitEntry[] = [];
  let unread = 0;
  for (const k of keys) {
    const mine = group.breaker(k);
    const c = cache.get(k);
    if (mine) out.push(entryOf(mine));
    else if (c) {
      // Nothing stored yet: the circuit is CLOSED everywhere.
      const s = c.state ?? { state: CircuitState.CLOSED, failures: 0, openedAt: 0 } as SharedState;
      out.push(fromShared(`${group.name}:${k}`, s, sh.config, wall));
    } else unread++; // not read yet (budget) or the store failed: said in the summary
  }
  return { entries: out, unread };
}
