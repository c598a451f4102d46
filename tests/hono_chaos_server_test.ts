// routeChaos behind a real HTTP server (@hono/node-server, on node:http: Deno, Node and Bun):
// what a client sees of a cut connection and of an injected fault. Not in workerd's
// conformance run: it needs a server.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { routeChaos } from "../src/hono/mod.ts";
import { test } from "./_harness.ts";

async function served(app: Hono): Promise<{ url: string; close(): Promise<void> }> {
  let server!: ReturnType<typeof serve>;
  await new Promise<void>((ready) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => ready());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        (server as unknown as { closeAllConnections?(): void }).closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

test(
  "routeChaos on a real server: abort cuts the connection, so the client's body read rejects",
  async () => {
    let handled = 0;
    const app = new Hono();
    const chaos = routeChaos({ enabled: true, injectionRate: 1, abort: true, name: "cut" });
    app.get("/x", chaos, (c) => {
      handled++;
      return c.text("ok");
    });
    // The server logs the failed body: keep the test output clean.
    const original = console.error;
    console.error = () => {};
    const s = await served(app);
    try {
      const res = await fetch(`${s.url}/x`);
      assert.equal(res.headers.get("x-resilience-chaos"), "abort");
      const e = await res.text().catch((e) => e);
      assert.ok(e instanceof Error, `the body was read: ${String(e)}`);
      assert.equal(handled, 0);
      assert.equal(chaos.chaos.getStats().aborts, 1);
    } finally {
      await s.close();
      console.error = original;
    }
  },
  { runtimes: ["deno", "node", "bun"], why: "needs a server (node:http)" },
);

test(
  "routeChaos on a real server: an injected fault reaches the client as problem+json",
  async () => {
    const app = new Hono();
    app.get("/x", routeChaos({ enabled: true, injectionRate: 1, fault: 503 }), (c) => c.text("ok"));
    const s = await served(app);
    try {
      const res = await fetch(`${s.url}/x`);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal((await res.json()).chaos, "route");
    } finally {
      await s.close();
    }
  },
  { runtimes: ["deno", "node", "bun"], why: "needs a server (node:http)" },
);
