// A real HTTP upstream on loopback for tests (node:http runs on Deno, Node
// and Bun): scripted answers, and a record of requests and disconnects.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Script = (
  req: IncomingMessage,
  res: ServerResponse,
  n: number,
) => void | Promise<void>;

export interface Upstream {
  url: string;
  requests: { method: string; path: string; body: string }[];
  /** Requests whose client went away before the response ended. */
  disconnects: number;
  close(): Promise<void>;
}

export async function startUpstream(script: Script): Promise<Upstream> {
  const up: Upstream = { url: "", requests: [], disconnects: 0, close: async () => {} };
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    up.requests.push({ method: req.method ?? "", path: req.url ?? "", body });
    res.on("close", () => {
      if (!res.writableEnded) up.disconnects++;
    });
    await script(req, res, up.requests.length);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  up.url = `http://127.0.0.1:${port}`;
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  up.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return up;
}

/** Resolves when `cond()` holds, polling every few ms (bounded). */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
