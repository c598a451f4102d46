// An outage must not become a log storm: calls/s while a breaker is open and
// a fallback answers every call, with the default logger (which prints
// warnings with `console.warn`) against a silent one, measured side by side.
// Run by bench/load.ts on Deno and on Node (against the npm build) with stderr
// going to /dev/null, so the figure is the cost of producing the log lines, not
// of a terminal. Prints JSON.
import { circuitBreaker, compose, fallback, retry } from "../mod.ts";

const silent = { info() {}, warn() {}, error() {} };
const fn = async () => 42;

function openStack(name: string, logger?: typeof silent) {
  const breaker = circuitBreaker({ name, logger: silent, resetTimeout: 3_600_000 });
  breaker.open();
  return {
    "fallback → open breaker": compose(fallback(() => 0, { logger }), breaker)(fn),
    "retry (2 attempts, no delay) → open breaker": (() => {
      const r = retry({ maxAttempts: 2, initialDelay: 0, logger })(breaker(fn));
      return () => r().catch(() => 0);
    })(),
  };
}

const cases: Record<string, { quiet: () => Promise<unknown>; logged: () => Promise<unknown> }> = {};
const quiet = openStack("storm-quiet", silent);
const logged = openStack("storm-logged");
for (const k of Object.keys(quiet) as (keyof typeof quiet)[]) {
  cases[k] = { quiet: quiet[k], logged: logged[k] };
}

const SAMPLE_MS = 50;
const ROUNDS = 15;
/** Calls per second of `run`, over about SAMPLE_MS. */
async function time(run: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < SAMPLE_MS) {
    for (let i = 0; i < 64; i++) await run();
    n += 64;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Row = { quietCallsPerSec: number; loggedCallsPerSec: number; slowdown: number };
const out: Record<string, Row> = {};
for (const [name, c] of Object.entries(cases)) {
  await time(c.quiet); // warm up
  await time(c.logged);
  const q: number[] = [];
  const l: number[] = [];
  const ratio: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Side by side, alternating which goes first.
    const [a, b] = r % 2 ? [await time(c.logged), await time(c.quiet)] : [
      await time(c.quiet),
      await time(c.logged),
    ].reverse();
    l.push(a);
    q.push(b);
    ratio.push(b / a);
  }
  out[name] = {
    quietCallsPerSec: Math.round(median(q)),
    loggedCallsPerSec: Math.round(median(l)),
    slowdown: Math.round(median(ratio) * 100) / 100,
  };
}
console.log(JSON.stringify(out));
