// Redis clients accepted as they are, recognised by shape: no dependency on
// any client package.

/** node-redis (`redis` 4–6) `createClient()`: `sendCommand(args)`. */
export interface NodeRedisClientLike {
  /** Sends a raw command. */
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * node-redis `createCluster()`: `sendCommand(firstKey, isReadonly, args)`,
 * routed by the key given (recognised by its `masters` and `slots`).
 */
export interface NodeRedisClusterLike {
  /** Sends a raw command to the node serving `firstKey`. */
  sendCommand(firstKey: string, isReadonly: boolean, args: string[]): Promise<unknown>;
  /** The primaries (only its presence is looked at). */
  readonly masters: unknown;
  /** The slot table (only its presence is looked at). */
  readonly slots: unknown;
}

/** ioredis `Redis` or `Cluster`: `call(command, ...args)`. */
export interface IoRedisLike {
  /** Sends a raw command. */
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** Bun's built-in `RedisClient`: `send(command, args)`. */
export interface BunRedisLike {
  /** Sends a raw command. */
  send(command: string, args: string[]): Promise<unknown>;
  /** Present on Bun's client (how it is told from {@linkcode RedisSender}). */
  evalsha(...args: never[]): unknown;
}

/**
 * Anything else: sends `args` (command first, all strings) to the node that
 * serves `key`, and resolves to the reply.
 */
export interface RedisSender {
  /** Sends one command. */
  send(args: string[], key: string): Promise<unknown>;
}

/** The clients {@linkcode redisStore} accepts. */
export type RedisClientLike =
  | NodeRedisClientLike
  | NodeRedisClusterLike
  | IoRedisLike
  | BunRedisLike
  | RedisSender;

/** One command to the node serving `key`. */
export type Send = (args: string[], key: string) => Promise<unknown>;

/** Which kind of client was recognised. */
export type ClientKind = "node-redis" | "node-redis-cluster" | "ioredis" | "bun" | "sender";

type Loose = Record<string, unknown> & {
  sendCommand?: (...a: unknown[]) => Promise<unknown>;
  call?: (...a: unknown[]) => Promise<unknown>;
  send?: (...a: unknown[]) => Promise<unknown>;
};

/** Recognises a client by shape (undefined when it is none of them). */
export function clientKind(client: unknown): ClientKind | undefined {
  if (typeof client !== "object" && typeof client !== "function" || client === null) {
    return undefined;
  }
  const c = client as Loose;
  // ioredis first: it has a `sendCommand` too (taking its own Command objects).
  if (typeof c.call === "function") return "ioredis";
  if (typeof c.sendCommand === "function") {
    return "masters" in c && "slots" in c ? "node-redis-cluster" : "node-redis";
  }
  if (typeof c.send === "function") {
    return typeof c.evalsha === "function" ? "bun" : "sender";
  }
  return undefined;
}

/** A function sending one command (all arguments strings) through `client`. */
export function sender(client: RedisClientLike, kind: ClientKind): Send {
  const c = client as Loose;
  switch (kind) {
    case "node-redis":
      return (args) => c.sendCommand!(args);
    case "node-redis-cluster":
      // Routed by our key explicitly: never by the script's SHA (node-redis #2811).
      return (args, key) => c.sendCommand!(key, false, args);
    case "ioredis":
      return (args) => c.call!(...args);
    case "bun":
      return (args) => c.send!(args[0], args.slice(1));
    case "sender":
      return (args, key) => c.send!(args, key);
  }
}
