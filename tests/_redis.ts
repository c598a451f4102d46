// A real redis-server per test file: Debian's, installed when missing (the
// test task runs as root, as CI does), started on a unix socket in a fresh
// temporary folder (no port race) with persistence off, stopped afterwards.
// Where it cannot be installed, `redisTest` reports each test as skipped, by
// name, with the reason.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { test as nodeTest } from "node:test";
import { RUNTIME, test } from "./_harness.ts";

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Installs redis-server with apt-get when missing; the reason when it cannot be had. */
function ensureInstalled(): string | undefined {
  if (has("redis-server") && has("redis-cli")) return undefined;
  if (!has("apt-get")) return "redis-server is not installed and there is no apt-get to install it";
  if (process.getuid?.() !== 0) {
    return "redis-server is not installed and installing it needs root (apt-get install redis-server)";
  }
  const apt = (args: string[]) =>
    spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=300", ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 600_000,
    });
  const install = ["install", "-y", "--no-install-recommends", "redis-server"];
  let r = apt(install);
  if (r.status !== 0) {
    apt(["update"]);
    r = apt(install);
  }
  if (r.status !== 0 || !has("redis-server")) {
    return `apt-get install redis-server failed: ${String(r.stderr ?? r.error).trim().slice(-300)}`;
  }
  return undefined;
}

/** Why the Redis tests cannot run here (undefined when they can). */
export const REDIS_UNAVAILABLE: string | undefined = ensureInstalled();

/** A redis-server this process started. */
export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), "er-redis-"));
  readonly socket = join(this.dir, "redis.sock");
  #child: ChildProcess | undefined;
  #pid = 0;
  constructor(readonly extra: string[] = []) {}

  /** Starts the server and waits until it answers. */
  async start(): Promise<void> {
    // Through a shell that stops the server when our end of its stdin closes: when this process
    // ends by any path (a test runner may exit without 'exit' events), the server goes too.
    const child = spawn("sh", [
      "-c",
      'redis-server "$@" & p=$!; read _; kill -CONT $p; kill -TERM $p; wait $p',
      "sh",
      "--port",
      "0",
      "--unixsocket",
      this.socket,
      "--unixsocketperm",
      "700",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      this.dir,
      "--loglevel",
      "warning",
      ...this.extra,
    ], { stdio: ["pipe", "ignore", "ignore"] });
    child.unref();
    (child.stdin as unknown as { unref?(): void })?.unref?.();
    this.#child = child;
    const until = Date.now() + 10_000;
    while (!(await this.#answers())) {
      if (child.exitCode !== null || Date.now() > until) {
        throw new Error(`redis-server did not start (exit code ${child.exitCode})`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#pid = Number(this.cli("INFO", "server").match(/process_id:(\d+)/)?.[1]);
  }
  #answers(): Promise<boolean> {
    if (!existsSync(this.socket)) return Promise.resolve(false);
    return new Promise((resolve) => {
      const s = createConnection(this.socket);
      s.once("error", () => resolve(false));
      s.once("connect", () => s.write("PING\r\n"));
      s.once("data", (d) => {
        s.destroy();
        resolve(String(d).startsWith("+PONG"));
      });
    });
  }
  /** Stops the server and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.stdin?.end(); // the shell then stops the server (SIGCONT first, in case it was paused)
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([exited, new Promise<void>((r) => (t = setTimeout(r, 5000)))]);
    clearTimeout(t);
    if (child.exitCode === null && child.signalCode === null) {
      this.#signalServer("SIGKILL");
      child.kill("SIGKILL");
      await exited;
    }
  }
  #signalServer(sig: NodeJS.Signals): void {
    if (this.#pid > 0) {
      try {
        process.kill(this.#pid, sig);
      } catch { /* gone */ }
    }
  }
  /** Sends a signal to the server process (SIGSTOP / SIGCONT). */
  signal(sig: "SIGSTOP" | "SIGCONT"): void {
    this.#signalServer(sig);
  }
  /** Runs redis-cli against the server; its output, trimmed. */
  cli(...args: string[]): string {
    const r = spawnSync("redis-cli", ["-s", this.socket, ...args], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  }
  /** Stops the server and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
  /** Kills the server synchronously (at process exit). */
  killNow(): void {
    this.#signalServer("SIGCONT");
    this.#signalServer("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a server for this file (none when unavailable); it is killed when
 * the process exits, and `redisDone()` registers the test that stops it.
 */
export async function fileServer(extra: string[] = []): Promise<RedisServer | undefined> {
  if (REDIS_UNAVAILABLE) return undefined;
  const server = new RedisServer(extra);
  await server.start();
  process.on("exit", () => server.killNow());
  return server;
}

/**
 * A second server for this file whose memory is full (`maxmemory` 3 MB, `noeviction`): writes
 * fail with OOM, reads work. None when unavailable; killed when the process exits.
 */
export async function fullServer(): Promise<RedisServer | undefined> {
  const full = await fileServer(["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
  // Fill it: the loop stops with an OOM error once maxmemory is reached.
  try {
    full?.cli(
      "EVAL",
      "for i = 1, 5000 do redis.call('SET', 'junk' .. i, string.rep('x', 1000)) end",
      "0",
    );
  } catch { /* OOM: full */ }
  return full;
}

/** A test needing redis-server: skipped by name, with the reason, where it cannot be had. */
export function redisTest(
  name: string,
  fn: () => unknown,
  options: Parameters<typeof test>[2] = {},
): void {
  if (REDIS_UNAVAILABLE) {
    nodeTest(`${name} [${RUNTIME}: skipped, ${REDIS_UNAVAILABLE}]`, {
      skip: REDIS_UNAVAILABLE,
    }, () => {});
    return;
  }
  test(name, fn, options);
}

/** A connected client of one kind, and how to close it. */
export interface TestClient {
  readonly name: string;
  readonly client: unknown;
  close(): Promise<void>;
}

/**
 * The clients tested on this runtime: node-redis and ioredis, and on Bun its
 * own `RedisClient` (documented for Redis ≥ 7.2; it passes this suite
 * against Debian bookworm's 7.0.15).
 */
export const CLIENT_NAMES: readonly string[] = RUNTIME === "bun"
  ? ["node-redis", "ioredis", "bun"]
  : ["node-redis", "ioredis"];

/** Connects a client of kind `name` to `server` (offline queues off, as the docs advise). */
export async function connect(name: string, server: RedisServer): Promise<TestClient> {
  if (name === "node-redis") {
    const { createClient } = await import("redis");
    const client = createClient({
      socket: { path: server.socket, tls: false },
      disableOfflineQueue: true,
    });
    client.on("error", () => {}); // reconnects are tested; the events are not
    await client.connect();
    return {
      name,
      client,
      close: async () => {
        if (client.isOpen) client.destroy();
      },
    };
  }
  if (name === "ioredis") {
    const { Redis } = await import("ioredis");
    const client = new Redis({ path: server.socket, enableOfflineQueue: false, lazyConnect: true });
    client.on("error", () => {});
    await client.connect();
    return { name, client, close: async () => client.disconnect() };
  }
  if (name === "bun") {
    const Bun = (globalThis as unknown as {
      Bun: {
        RedisClient: new (url: string, options: Record<string, unknown>) => {
          connect(): Promise<void>;
          close(): void;
          connected: boolean;
        };
      };
    }).Bun;
    const client = new Bun.RedisClient(`redis+unix://${server.socket}`, {
      enableOfflineQueue: false,
    });
    await client.connect();
    return { name, client, close: async () => client.close() };
  }
  throw new Error(`unknown client ${name}`);
}
