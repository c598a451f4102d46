/**
 * The live policies, held weakly: every policy records itself when made, and
 * {@linkcode policies} lists those not yet garbage collected, by kind —
 * exporters and status pages find bulkheads and limiters without a registry.
 *
 * @module
 */

import { emit, flags } from "./telemetry.ts";
import type { PolicyKind } from "./telemetry_events.ts";

/** A live policy, as {@linkcode policies} returns it. */
export interface PolicyEntry {
  /** Its kind. */
  readonly kind: PolicyKind;
  /** Its name (a breaker's current one: an unnamed breaker takes its first function's). */
  readonly name: string;
  /** The policy object (a breaker, a bulkhead, a rate limiter…). */
  readonly policy: object;
}

interface Held {
  readonly kind: PolicyKind;
  readonly name: string;
  readonly ref: WeakRef<object>;
  /** Made and dropped by another policy (a route middleware's breaker): found through it. */
  owned: boolean;
}
const held = new Set<Held>();
/** Each held policy's entry, to forget or mark it without a scan. */
const index = new WeakMap<object, Held>();
let pruneAt = 64;

function prune(): void {
  for (const h of held) if (h.ref.deref() === undefined) held.delete(h);
  pruneAt = Math.max(64, held.size * 2);
}

/** @internal Records a new policy (weakly) and tells subscribers. Call once per policy. */
export function created(kind: PolicyKind, name: string, policy: object): void {
  if (typeof WeakRef !== "function") return;
  const ref = new WeakRef(policy);
  const h: Held = { kind, name, ref, owned: false };
  held.add(h);
  index.set(policy, h);
  if (held.size >= pruneAt) prune();
  if (flags.on) emit({ type: "policy.created", kind, name, policy: ref });
}

/**
 * @internal Drops `policy` from {@linkcode policies} (a policy made only to
 * validate options, never used).
 */
export function forget<P extends object>(policy: P): P {
  const h = index.get(policy);
  if (h !== undefined) {
    held.delete(h);
    index.delete(policy);
  }
  return policy;
}

/**
 * @internal Marks `policy` as owned by another (a route middleware's breaker,
 * made and dropped by its middleware): {@linkcode policies} still lists it
 * while it is held, {@linkcode standalone} does not. The owner calls
 * {@linkcode forget} when it drops it.
 */
export function own<P extends object>(policy: P): P {
  const h = index.get(policy);
  if (h !== undefined) h.owned = true;
  return policy;
}

/** @internal Whether another policy owns `policy` (see {@linkcode own}). */
export function owned(policy: object): boolean {
  return index.get(policy)?.owned === true;
}

/** @internal The live policies of `kind` that no other policy owns (see {@linkcode own}). */
export function standalone(kind: PolicyKind): object[] {
  prune();
  const out: object[] = [];
  for (const h of held) {
    const p = h.owned || h.kind !== kind ? undefined : h.ref.deref();
    if (p !== undefined) out.push(p);
  }
  return out;
}

/**
 * The live policies (not yet garbage collected), oldest first; with `kind`,
 * only those of that kind. Nothing keeps a policy alive for this list:
 * exporters and status pages find bulkheads and limiters without a registry.
 *
 * @example Every bulkhead's load
 * ```ts
 * import { bulkhead, type BulkheadPolicy, policies } from "edge-resilience";
 *
 * const search = bulkhead({ name: "search", maxConcurrent: 10 });
 * for (const { policy } of policies("bulkhead")) {
 *   console.log((policy as BulkheadPolicy).getStats());
 * }
 * ```
 */
export function policies(kind?: PolicyKind): PolicyEntry[] {
  prune();
  const out: PolicyEntry[] = [];
  for (const h of held) {
    if (kind !== undefined && h.kind !== kind) continue;
    const policy = h.ref.deref();
    if (policy === undefined) continue;
    // A breaker made unnamed takes the name of the first function it wraps: read it now.
    const name = h.kind === "circuitBreaker" ? (policy as { name: string }).name : h.name;
    out.push({ kind: h.kind, name, policy });
  }
  return out;
}
