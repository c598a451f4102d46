/**
 * Node server for the example app, with @hono/node-server. Node runs
 * JavaScript, so bundle it first (the test suite does this with esbuild):
 *
 *   esbuild examples/node_server.ts --bundle --platform=node --format=esm --outfile=server.mjs
 *   UPSTREAM_URL=http://127.0.0.1:8081 PORT=8080 node server.mjs
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready (PORT=0: any port).
 */
import { serve } from "@hono/node-server";
import process from "node:process";
import { createApp } from "./app.ts";

const app = createApp({ upstreamUrl: process.env.UPSTREAM_URL ?? "http://127.0.0.1:8081" });
serve(
  { fetch: app.fetch, hostname: "127.0.0.1", port: Number(process.env.PORT ?? 8080) },
  (info) => console.log(`listening on http://127.0.0.1:${info.port}`),
);
