// Decorated classes compiled by tests/decorators_test.ts with tsc twice — legacy decorators
// (experimentalDecorators: true, as NestJS and Angular use) and TC39 ones — and run on Node.
// `deno check` checks it as TC39 code too.
import { circuitBreaker, compose, Fallback, fallback, retry, timeout } from "../mod.ts";

const silent = { info() {}, warn() {}, error() {} };
const chain = new Fallback<string>({ logger: silent });

class Service {
  static label = "static";
  calls = 0;

  @retry({ maxAttempts: 3, initialDelay: 0, logger: silent })
  async flaky(x: number): Promise<number> {
    if (++this.calls < 3) throw new Error("flaky");
    return x * 10;
  }

  @fallback({ fallbackValue: -1, logger: silent })
  async down(): Promise<number> {
    throw new Error(`down after ${this.calls} calls`);
  }

  @compose(
    fallback({ fallbackValue: "fb", logger: silent }),
    timeout(1000, { logger: silent }),
    retry({ maxAttempts: 2, initialDelay: 0, logger: silent }),
  )
  async composed(): Promise<string> {
    this.calls++;
    throw new Error("composed down");
  }

  @circuitBreaker({ failureThreshold: 1, logger: silent })
  async guarded(): Promise<string> {
    return `guarded after ${this.calls} calls`;
  }

  @timeout(1000)
  static async stat(): Promise<string> {
    return this.label;
  }

  @chain.add
  static primary(): string {
    throw new Error("primary down");
  }

  @chain.add
  static backup(): string {
    return `backup from ${this.label}`;
  }
}

/** Calls every decorated method; the test compares the result. */
export async function run(): Promise<Record<string, unknown>> {
  const s = new Service();
  return {
    flaky: await s.flaky(4),
    callsAfterFlaky: s.calls,
    down: await s.down(),
    composed: await s.composed(),
    callsAfterComposed: s.calls,
    guarded: await s.guarded(),
    stat: await Service.stat(),
    chain: await chain.execute(),
  };
}

/** What {@linkcode run} returns when every decorator works. */
export const EXPECTED = {
  flaky: 40,
  callsAfterFlaky: 3,
  down: -1,
  composed: "fb",
  callsAfterComposed: 5,
  guarded: "guarded after 5 calls",
  stat: "static",
  chain: "backup from static",
};
