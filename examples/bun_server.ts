/**
 * Bun server for the example app.
 *
 *   UPSTREAM_URL=http://127.0.0.1:8081 PORT=8080 bun examples/bun_server.ts
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready (PORT=0: any port).
 */
import process from "node:process";
import { createApp } from "./app.ts";

declare const Bun: {
  serve(
    o: { fetch: (r: Request) => Response | Promise<Response>; hostname: string; port: number },
  ): {
    port: number;
  };
};

const app = createApp({ upstreamUrl: process.env.UPSTREAM_URL ?? "http://127.0.0.1:8081" });
const server = Bun.serve({
  fetch: app.fetch,
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 8080),
});
console.log(`listening on http://127.0.0.1:${server.port}`);
