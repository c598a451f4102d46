/**
 * A simulated flaky upstream on loopback, runnable on Deno, Node and Bun
 * (node:http). Its mode is switched over HTTP or in-process:
 *
 * - `ok`: 200 with a JSON quote
 * - `error`: 503
 * - `hang`: never answers (until the client goes away)
 * - `flaky`: alternates error and hang
 *
 *   POST /__mode/<mode>   switch mode
 *   GET  /quote           the upstream API
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** The upstream's behaviours. */
export type Mode = "ok" | "error" | "hang" | "flaky";

/** A running flaky upstream. */
export interface FlakyUpstream {
  /** Base URL, e.g. `http://127.0.0.1:43210`. */
  url: string;
  /** Current mode. */
  mode: Mode;
  /** Requests to `/quote` so far. */
  calls: number;
  /** `/quote` requests whose client went away before the answer (aborted fetches). */
  aborted: number;
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

/** Starts the upstream on `127.0.0.1:port` (0: any free port). */
export async function startFlakyUpstream(port = 0, mode: Mode = "ok"): Promise<FlakyUpstream> {
  const sockets = new Set<import("node:net").Socket>();
  const up: FlakyUpstream = { url: "", mode, calls: 0, aborted: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://upstream");
    const switchTo = url.pathname.match(/^\/__mode\/(ok|error|hang|flaky)$/);
    if (switchTo) {
      up.mode = switchTo[1] as Mode;
      res.end(up.mode);
      return;
    }
    if (url.pathname !== "/quote") {
      res.statusCode = 404;
      res.end();
      return;
    }
    up.calls++;
    res.on("close", () => {
      if (!res.writableEnded) up.aborted++;
    });
    const mode = up.mode === "flaky" ? (up.calls % 2 ? "error" : "hang") : up.mode;
    if (mode === "hang") return;
    if (mode === "error") {
      res.statusCode = 503;
      res.end("upstream unavailable");
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ text: "Simple is better than complex.", n: up.calls }));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  up.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  up.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return up;
}
