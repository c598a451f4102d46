// The status page's HTML: a static shell, the first snapshot embedded as JSON
// (inert: a non-script type), one nonce'd style and one nonce'd script.
import { SCRIPT, STYLE } from "./client.ts";
import type { StatusSnapshot } from "./snapshot.ts";

const ESC: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
const attr = (s: string) => s.replace(/[&<>"']/g, (ch) => ESC[ch]);

/** A fresh nonce: 16 random bytes, base64. */
export function nonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

/** The page's Content-Security-Policy: nothing but its own script and style, and `connect-src 'self'`. */
export function csp(n: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${n}'`,
    `style-src 'nonce-${n}'`,
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export function pageHtml(
  p: {
    nonce: string;
    base: string;
    live: "sse" | "poll";
    interval: number;
    initial: StatusSnapshot;
  },
): string {
  const n = attr(p.nonce);
  const table = (id: string, title: string) =>
    `<section><h2>${title}</h2><table id="${id}"></table></section>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Resilience status</title>
<style nonce="${n}">${STYLE}</style></head>
<body data-base="${attr(p.base)}" data-live="${p.live}" data-interval="${p.interval}">
<header><h1>Resilience status</h1>
<p class="meta">Answered by instance <b id="instance"></b> (<span id="runtime"></span>) · updated <span id="updated"></span> · <span id="live">loading</span></p>
<p class="meta">Each instance shows its own counters; shared circuits are read from the store. Data as JSON: <a href="${
    attr(p.base)
  }/json">${attr(p.base)}/json</a>.</p>
<noscript><p>Live updates need JavaScript; the JSON above works without it.</p></noscript>
<p id="msg" role="status"></p></header>
<main>
<section><h2>Circuit breakers</h2><p id="summary"></p>
<table><thead><tr><th>Circuit</th><th>State</th><th>Failures</th><th>Retry</th><th>Probes in flight</th><th>State from</th><th>Last transition</th>${
    p.initial.actions ? "<th>Actions</th>" : ""
  }</tr></thead><tbody id="breakers"></tbody></table><p id="no-breakers" class="none">none</p></section>
${table("bulkheads", "Bulkheads")}
${table("limiters", "Rate limiters")}
${table("adaptive", "Adaptive concurrency")}
<section><h2>Health checks</h2><p id="health-status"></p><table id="health"></table></section>
</main>
<script id="initial" type="application/json">${
    JSON.stringify(p.initial).replace(/</g, "\\u003c")
  }</script>
<script nonce="${n}">${SCRIPT}</script>
</body></html>
`;
}
