/**
 * Deno server for the example app.
 *
 *   UPSTREAM_URL=http://127.0.0.1:8081 PORT=8080 deno run -A --unstable-no-legacy-abort examples/deno_server.ts
 *
 * `--unstable-no-legacy-abort` makes `request.signal` abort only when the
 * client goes away (not after every successful response), which is what the
 * route timeout follows.
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready (PORT=0: any port).
 */
import { createApp } from "./app.ts";

const app = createApp({ upstreamUrl: Deno.env.get("UPSTREAM_URL") ?? "http://127.0.0.1:8081" });
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8080),
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
}, app.fetch);
