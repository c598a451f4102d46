// Type-checking stand-in for the `cloudflare:workers` module (mapped in
// deno.json and by build_npm.ts). Never bundled: on Workers the real module
// is used. Only what this package touches is declared.

/** The storage of a Durable Object (the subset used here). */
export interface DurableObjectStorage {
  get<T = unknown>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
}

/** The state handed to a Durable Object's constructor (the subset used here). */
export interface DurableObjectState {
  readonly storage: DurableObjectStorage;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

/** Base class of Durable Objects with RPC methods. */
export class DurableObject<Env = unknown> {
  /** The object's state and storage. */
  protected ctx: DurableObjectState;
  /** The Worker's bindings. */
  protected env: Env;
  /** Called by the runtime. */
  constructor(ctx: DurableObjectState, env: Env) {
    this.ctx = ctx;
    this.env = env;
  }
}
