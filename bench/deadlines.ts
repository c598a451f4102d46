// A burst of deadlines fires on time: N calls with a 100 ms timeout, launched
// together, whose work never ends. Each call's lateness is when its rejection
// reaches the caller minus (its start + 100 ms). Measured side by side, in the
// same run (each round starting with a different way): `timeout()` with its
// shared deadline timer, the same policy with one timer per call, and the
// plain way, one `setTimeout` per call rejecting its promise; the default
// logger on (bench/load.ts sends stderr to /dev/null). Prints JSON: p50/p99/max
// lateness in ms, each the median over the rounds.
import { systemClock, timeout } from "../mod.ts";

const N = Number(
  (globalThis as { process?: { env?: Record<string, string> } }).process?.env
    ?.DEADLINE_CALLS ?? 10_000,
);
const MS = 100;
const ROUNDS = 7;
const never = () => new Promise<never>(() => {});

type Stats = { p50: number; p99: number; max: number };
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function burst(launch: () => Promise<unknown>): Promise<Stats> {
  const late: number[] = [];
  const calls: Promise<void>[] = new Array(N);
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    calls[i] = launch().then(
      () => void late.push(performance.now() - t0 - MS),
      () => void late.push(performance.now() - t0 - MS),
    );
  }
  await Promise.all(calls);
  late.sort((a, b) => a - b);
  return { p50: pct(late, 0.5), p99: pct(late, 0.99), max: late[late.length - 1] };
}

const shared = timeout(MS)(function work() {
  return never();
});
// Any clock other than `systemClock` gets one timer per deadline: the same policy, the old way.
const perCall = timeout(MS, { clock: { ...systemClock } })(function work() {
  return never();
});
const ways: Record<string, () => Promise<unknown>> = {
  "timeout() (shared deadline timer)": () => shared(),
  "timeout() with one timer per call": () => perCall(),
  "one setTimeout per call": () =>
    new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), MS)),
};

const rounds: Record<string, Stats[]> = {};
const names = Object.keys(ways);
for (const name of names) await burst(ways[name]); // warm up
for (let r = 0; r < ROUNDS; r++) {
  // Each round starts with a different way.
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + r) % names.length];
    (rounds[name] ??= []).push(await burst(ways[name]));
  }
}
const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round1 = (x: number) => Math.round(x * 10) / 10;
const out: Record<string, Stats> = {};
for (const [name, s] of Object.entries(rounds)) {
  out[name] = {
    p50: round1(med(s.map((x) => x.p50))),
    p99: round1(med(s.map((x) => x.p99))),
    max: round1(med(s.map((x) => x.max))),
  };
}
console.log(JSON.stringify({ calls: N, timeoutMs: MS, ...out }));
