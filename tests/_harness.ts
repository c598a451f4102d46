// Test harness shared by every test file: wraps node:test's `test` so that
// each test fails if it leaves a real timer pending or lets a rejection go
// unhandled. Works on Deno, Node and Bun.
import { test as nodeTest } from "node:test";
import process from "node:process";
import type { Logger } from "../mod.ts";
import { stopIdleScheduler } from "../src/scheduler.ts";

type Handle = unknown;
const live = new Set<Handle>();
/** Timers created by third-party code (node_modules), e.g. miniflare's own. */
const foreign = new WeakSet<object>();
const foreignIds = new Set<number>();

/**
 * True when the first caller frame outside this file is a dependency's
 * (node_modules) or the runtime's own (node:internal, e.g. undici's
 * keep-alive timers behind Node's fetch).
 */
function fromDependency(): boolean {
  // Frames: this function, track(), the patched setTimeout, then the caller.
  const caller = (new Error().stack ?? "").split("\n").filter((f) => /^\s*at /.test(f))[3];
  return caller !== undefined && /\/node_modules\/|[( ]node:/.test(caller);
}
/** Where each live timer was created (reported when one leaks). */
const origin = new Map<Handle, string>();
function track(h: Handle): void {
  live.add(h);
  origin.set(h, (new Error().stack ?? "").split("\n").slice(3, 7).join(" | "));
  if (typeof h === "object" && h !== null && fromDependency()) foreign.add(h);
  else if (typeof h === "number" && fromDependency()) foreignIds.add(h);
}
const isForeign = (h: Handle) =>
  typeof h === "object" && h !== null ? foreign.has(h) : foreignIds.has(h as number);
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;

globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const h: Handle = realSetTimeout(() => {
    live.delete(h);
    origin.delete(h);
    fn(...args);
  }, ms);
  track(h);
  return h;
}) as unknown as typeof setTimeout;
globalThis.clearTimeout = ((h: Handle) => {
  live.delete(h);
  origin.delete(h);
  realClearTimeout(h as number);
}) as typeof clearTimeout;
globalThis.setInterval = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const h: Handle = realSetInterval(fn, ms, ...args);
  track(h);
  return h;
}) as unknown as typeof setInterval;
globalThis.clearInterval = ((h: Handle) => {
  live.delete(h);
  realClearInterval(h as number);
}) as typeof clearInterval;

/** Rejected promises without a handler, with their reasons (a late handler removes them). */
const unhandled = new Map<Promise<unknown> | object, unknown>();
const g = globalThis as {
  addEventListener?: (type: string, l: (e: PromiseRejectionEvent) => void) => void;
};
if (typeof g.addEventListener === "function") {
  // Deno (and Bun): the web event, which the runner would otherwise fail on.
  g.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    unhandled.set(e.promise ?? e, e.reason);
  });
  g.addEventListener("rejectionhandled", (e) => {
    unhandled.delete(e.promise);
  });
}
// Node and Bun (workerd has only the web event above).
if (typeof process.on === "function") {
  process.on("unhandledRejection", (reason: unknown, promise: Promise<unknown>) => {
    unhandled.set(promise ?? {}, reason);
  });
  process.on("rejectionHandled", (promise: Promise<unknown>) => {
    unhandled.delete(promise);
  });
}

/** Waits one real macrotask turn, untracked. */
export function macrotask(): Promise<void> {
  return new Promise((r) => realSetTimeout(r, 0));
}

/**
 * Runs `fn` and returns the problems found: timers created by our code (src,
 * tests, examples — not node_modules) that it left pending (cleared here so
 * they cannot leak into the next test), and unhandled rejections.
 */
export async function checked(fn: () => unknown): Promise<string[]> {
  const before = new Set(live);
  unhandled.clear();
  let failed = false;
  let failure: unknown;
  try {
    await fn();
  } catch (e) {
    // A flag, not `failure !== undefined`: a test that throws `undefined` has failed too.
    failed = true;
    failure = e;
  }
  await macrotask();
  await macrotask();
  const problems: string[] = [];
  // The shared deadline timer may stay armed with nothing due: stop it. A
  // deadline still pending is a leak, reported below with its timer.
  const pendingDeadlines = stopIdleScheduler();
  if (pendingDeadlines) problems.push(`${pendingDeadlines} timeout deadline(s) left pending`);
  // Our timers only: a dependency's internal timers (node_modules) are its own business.
  const leaked = [...live].filter((h) => !before.has(h) && !isForeign(h));
  if (leaked.length) {
    for (const h of leaked) {
      realClearTimeout(h as number);
      realClearInterval(h as number);
      live.delete(h);
    }
    problems.push(`${leaked.length} timer(s) left pending`);
    if (process.env?.HARNESS_DEBUG) { for (const h of leaked) console.error(origin.get(h)); }
  }
  if (unhandled.size) {
    problems.push(`unhandled rejection(s): ${[...unhandled.values()].map(String).join(", ")}`);
    unhandled.clear();
  }
  if (failed) throw failure;
  return problems;
}

const denoTest = (globalThis as {
  Deno?: { test(name: string, fn: () => Promise<void>): void };
}).Deno?.test;

/** The runtimes the suite runs on. */
export type Runtime = "deno" | "node" | "bun" | "workerd";

/** The runtime running this test file. */
export const RUNTIME: Runtime = denoTest
  ? "deno"
  : (process as { versions?: { bun?: string } }).versions?.bun
  ? "bun"
  : (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ===
      "Cloudflare-Workers"
  ? "workerd"
  : "node";

/**
 * Registers a test with the leak checks of {@linkcode checked}: `node:test`
 * on Node and Bun; on Deno, `Deno.test` directly, because Deno's `node:test`
 * layer fails a test on an unhandled rejection before a listener can see it,
 * which would make the harness's own detection untestable there.
 *
 * `options.runtimes` lists where a test can run; elsewhere it is reported as
 * skipped, by name, with the reason.
 */
export function test(
  name: string,
  fn: () => unknown,
  options: { runtimes?: Runtime[]; why?: string } = {},
): void {
  const body = async () => {
    const problems = await checked(fn);
    if (problems.length) throw new Error(`${name}: ${problems.join("; ")}`);
  };
  if (options.runtimes && !options.runtimes.includes(RUNTIME)) {
    const skip = `needs ${options.runtimes.join(" or ")}${options.why ? `: ${options.why}` : ""}`;
    nodeTest(`${name} [${RUNTIME}: skipped, ${skip}]`, { skip }, () => {});
    return;
  }
  if (denoTest) denoTest(name, body);
  else nodeTest(name, body);
}

/** A logger that records messages by level. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => void lines.push(`INFO ${m}`),
    warn: (m) => void lines.push(`WARN ${m}`),
    error: (m) => void lines.push(`ERROR ${m}`),
  };
}

/** A logger that drops everything. */
export const silent: Logger = { info() {}, warn() {}, error() {} };

/** A promise and its resolvers. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

/** Number of fast-check runs: 1,000 in CI, more with FC_RUNS. */
export const FC_RUNS = Number(process.env?.FC_RUNS ?? 1000);

// Policies created without a logger stay quiet in tests.
import { setDefaultLogger } from "../mod.ts";
const previousLogger = setDefaultLogger(silent);
// The library's own default is kept for its tests: the first harness loaded in a process captures
// it (Bun runs every test file in one process, each with its own copy of this file).
const BUILTIN = Symbol.for("edge-resilience.tests.builtinLogger");
const kept = globalThis as unknown as Record<symbol, Logger | undefined>;
kept[BUILTIN] ??= previousLogger;
/** The library's built-in default logger (console), as it was before the suite silenced it. */
export const builtinLogger: Logger = kept[BUILTIN]!;
