// The status page's one inline script (plain ES2020, no build step). It renders
// each snapshot with textContent only (never HTML from data), keeps the
// failure-rate history of each circuit (the server keeps none) and counts down
// to each OPEN circuit's retry. Served under a CSP nonce. No comments inside the
// string (they would be served): action buttons are rebuilt only when the offered
// actions change, so a button under the pointer stays put; a kind of policy with
// nothing to show hides its section.
export const SCRIPT = `(() => {
"use strict";
const body = document.body;
const base = body.dataset.base;
const interval = Number(body.dataset.interval);
const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}
const SVG = "http://www.w3.org/2000/svg";
const STATE = { open: ["\u2715", "OPEN"], half_open: ["\u25D0", "HALF-OPEN"], closed: ["\u2713", "CLOSED"] };
const SCOPE = { instance: "acts on this instance only", fleet: "acts on every instance (the shared circuit)" };
const LABEL = { open: "Open", reset: "Reset", isolate: "Isolate", isolate_fleet: "Isolate", release: "Release" };
const POINTS = 60;
const hist = new Map();
const rows = new Map();
let snap = null;
let seenAt = 0;

const pct = (x) => x === null || x === undefined ? "\u2014" : (x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0) + "%";
function dur(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h";
}
const serverNow = () => snap.at + (performance.now() - seenAt);

function point(b) {
  let h = hist.get(b.id);
  if (!h) hist.set(b.id, h = { pts: [], calls: b.totalCalls, failures: b.totalFailures });
  let v = b.failureRate;
  if (v === null && b.totalCalls !== null && h.calls !== null) {
    const dc = b.totalCalls - h.calls;
    v = dc > 0 ? Math.min(1, Math.max(0, (b.totalFailures - h.failures) / dc)) : null;
  }
  h.calls = b.totalCalls;
  h.failures = b.totalFailures;
  h.pts.push(v);
  if (h.pts.length > POINTS) h.pts.shift();
  return h.pts;
}

function chart(svg, pts) {
  let d = "";
  let pen = false;
  const off = POINTS - pts.length;
  pts.forEach((v, i) => {
    if (v === null) return void (pen = false);
    const x = ((off + i) * 118 / (POINTS - 1) + 1).toFixed(1);
    const y = (29 - v * 27).toFixed(1);
    d += (pen ? "L" : "M") + x + " " + y + (pen ? "" : "h.5");
    pen = true;
  });
  svg.firstChild.setAttribute("d", d);
  const known = pts.filter((v) => v !== null);
  svg.lastChild.textContent = known.length
    ? "failure rate, last " + pts.length + " updates: " + pct(known[known.length - 1]) + " now, " + pct(Math.max(...known)) + " at most"
    : "no calls measured yet";
}

function newRow(b) {
  const tr = el("tr");
  tr.dataset.breaker = b.id;
  const c = {};
  for (const k of ["name", "state", "rate", "retry", "probes", "store", "last"]) tr.append(c[k] = el("td", "c-" + k));
  c.stateText = el("span", "state");
  c.state.append(c.stateText);
  c.rateText = el("span", "num");
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 120 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.append(document.createElementNS(SVG, "path"), document.createElementNS(SVG, "title"));
  c.rate.append(c.rateText, svg);
  c.svg = svg;
  if (snap.actions) tr.append(c.actions = el("td", "c-actions"));
  return { tr, c, deadline: 0 };
}

function storeText(b) {
  if (b.source === "store") return "read from the store (no breaker on this instance yet)";
  if (!b.shared) return "this instance (no store)";
  return b.storeAvailable ? "this instance, following the store (available)" : "this instance alone: store UNAVAILABLE";
}

function act(b, a) {
  const msg = $("msg");
  msg.textContent = LABEL[a.action] + " " + b.id + "\u2026";
  fetch(base + "/action", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ breaker: b.id, action: a.action }),
  }).then((r) => r.json().then((j) => {
    msg.textContent = r.ok ? j.message : "refused: " + (j.detail || j.title || r.status);
    if (r.ok) refresh();
  })).catch(() => (msg.textContent = "the action could not be sent"));
}

function updateRow(r, b) {
  const c = r.c;
  c.name.textContent = b.id;
  const [icon, word] = STATE[b.state];
  c.stateText.className = "state s-" + b.state;
  c.stateText.textContent = icon + " " + word + (b.isolated ? " (isolated)" : "");
  const pts = point(b);
  c.rateText.textContent = b.window
    ? pct(b.failureRate) + " of " + b.window.calls + " calls in the window"
    : b.failureThreshold !== null
    ? b.failureCount + " of " + b.failureThreshold + " failures in a row"
    : b.failureCount + " failures";
  chart(c.svg, pts);
  r.deadline = b.timeUntilReset === null ? null : performance.now() + b.timeUntilReset;
  r.b = b;
  c.probes.textContent = b.halfOpenInFlight === null ? "\u2014" : b.halfOpenInFlight + " / " + b.halfOpenMaxCalls;
  c.store.textContent = storeText(b);
  c.store.className = "c-store" + (b.storeAvailable === false ? " warn" : "");
  const key = (b.actions || []).map((a) => a.action + ":" + a.scope).join();
  if (c.actions && key !== r.key) {
    r.key = key;
    c.actions.replaceChildren(...(b.actions || []).map((a) => {
      const btn = el("button", "act", LABEL[a.action] + (a.scope === "fleet" ? " (fleet)" : " (here)"));
      btn.type = "button";
      btn.title = SCOPE[a.scope];
      btn.dataset.action = a.action;
      btn.addEventListener("click", () => act(r.b, a));
      return btn;
    }));
  }
}

function tick() {
  if (!snap) return;
  for (const r of rows.values()) {
    const b = r.b;
    r.c.retry.textContent = b.isolated
      ? "held (isolated)"
      : b.state !== "open"
      ? "\u2014"
      : Math.max(0, r.deadline - performance.now()) > 0
      ? "in " + ((r.deadline - performance.now()) / 1000).toFixed(1) + " s"
      : "due: the next call is a trial";
    const t = b.lastTransition;
    r.c.last.textContent = t ? "to " + STATE[t.to][1] + " (" + t.reason.replace(/_/g, " ") + "), " + dur(serverNow() - t.at) + " ago" : "none yet";
  }
  const stale = performance.now() - seenAt > 3 * interval + 2000;
  body.classList.toggle("stale", stale);
  if (stale) $("live").textContent = "STALE: no update for " + dur(performance.now() - seenAt);
}

function table(id, heads, list, cells, omitted) {
  const t = $(id);
  const head = el("tr");
  for (const h of heads) head.append(el("th", "", h));
  const out = [head];
  for (const x of list) {
    const tr = el("tr");
    for (const v of cells(x)) tr.append(el("td", "", v));
    out.push(tr);
  }
  if (!list.length) {
    const tr = el("tr");
    const td = el("td", "none", "none");
    td.colSpan = heads.length;
    tr.append(td);
    out.push(tr);
  }
  if (omitted) {
    const tr = el("tr");
    const td = el("td", "none", omitted + " more not listed (the page lists the first 50 it finds: pass your own list to choose)");
    td.colSpan = heads.length;
    tr.append(td);
    out.push(tr);
  }
  t.replaceChildren(...out);
  if (id !== "health") t.parentElement.hidden = !list.length;
}

function render(s) {
  snap = s;
  seenAt = performance.now();
  $("instance").textContent = s.instance;
  $("runtime").textContent = s.runtime;
  $("updated").textContent = new Date(s.at).toISOString().slice(11, 19) + " UTC";
  const k = s.circuits;
  $("summary").textContent = k.total + (k.total === 1 ? " circuit: " : " circuits: ") + k.open + " open, " + k.half_open + " half-open, " + k.closed + " closed" +
    (k.omitted ? "; " + k.omitted + " not listed (maxBreakers)" : "") + (k.unread ? "; " + k.unread + " not read from the store yet" : "");
  const tbody = $("breakers");
  const seen = new Set();
  for (const b of s.breakers) {
    seen.add(b.id);
    let r = rows.get(b.id);
    if (!r) rows.set(b.id, r = newRow(b));
    updateRow(r, b);
    tbody.append(r.tr);
  }
  for (const [n, r] of rows) if (!seen.has(n)) { r.tr.remove(); rows.delete(n); hist.delete(n); }
  $("no-breakers").hidden = s.breakers.length > 0;
  table("bulkheads", ["Bulkhead", "Running", "Queued", "Rejected", "Executed"], s.bulkheads, (b) => [b.name, b.running, b.queued, b.rejected, b.executed], s.omitted && s.omitted.bulkheads);
  table("limiters", ["Rate limiter", "Admitted", "Limited", "Waiting", "Keys held", "Keys evicted"], s.rateLimiters, (l) => [l.name, l.admitted, l.limited, l.waiting, l.keys, l.evicted], s.omitted && s.omitted.rateLimiters);
  table("adaptive", ["Adaptive limiter", "Limit", "In flight", "Queued", "Refused", "Latency"], s.adaptiveLimiters, (l) => [l.name + " (" + l.algorithm + ")", l.limit, l.inFlight, l.queued, l.refused, l.latency === null ? "\u2014" : l.latency.toFixed(0) + " ms"], s.omitted && s.omitted.adaptiveLimiters);
  const h = s.health;
  $("health-status").textContent = h ? "overall: " + h.status.toUpperCase() : "no health checks configured";
  table("health", ["Check", "Status", "Critical", "Latency", "Message"], h ? h.checks : [], (c) => [c.name, c.status.toUpperCase(), c.critical ? "yes" : "no", c.latencyMs.toFixed(0) + " ms", c.message === null ? "" : c.message]);
  tick();
}

function setLive(t) { $("live").textContent = t; }
let timer = 0;
function refresh() {
  return fetch(base + "/json", { cache: "no-store", credentials: "same-origin" })
    .then((r) => r.ok ? r.json() : Promise.reject(new Error(String(r.status))))
    .then(render);
}
function poll() {
  clearTimeout(timer);
  refresh().then(() => setLive("live (polling every " + interval / 1000 + " s)"), () => setLive("unreachable, retrying"))
    .finally(() => (timer = setTimeout(poll, interval)));
}
function stream() {
  const es = new EventSource(base + "/events");
  es.addEventListener("status", (e) => { render(JSON.parse(e.data)); setLive("live (events)"); });
  es.onerror = () => {
    if (es.readyState === 2) { es.close(); setLive("events unavailable: polling"); poll(); }
    else setLive("reconnecting\u2026");
  };
}
render(JSON.parse($("initial").textContent));
setInterval(tick, 250);
if (body.dataset.live === "sse" && "EventSource" in window) stream(); else poll();
})();`;

export const STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#c62828;--mid:#9a6700;--line:#8884;font:15px/1.4 system-ui,sans-serif}
body{margin:0 auto;max-width:72rem;padding:1rem}h1{font-size:1.4rem;margin:0}h2{font-size:1.1rem;margin:1.5rem 0 .4rem}
.meta{margin:.2rem 0;color:GrayText}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:middle}
.state{font-weight:700;padding:.05rem .4rem;border-radius:.3rem;white-space:nowrap;border:2px solid}
.s-closed{color:var(--ok)}.s-open{color:#fff;background:var(--bad);border-color:var(--bad)}
.s-half_open{color:var(--mid);border-style:dashed}.warn{color:var(--bad);font-weight:700}
svg{width:160px;height:34px;display:block;border:1px solid var(--line)}
path{fill:none;stroke:var(--bad);stroke-width:2;stroke-linecap:round;vector-effect:non-scaling-stroke}.num{font-size:.85rem}
button{margin:.1rem;font:inherit;font-size:.85rem}.stale main{opacity:.5}#msg{margin:0;min-height:1.4em}
.none{color:GrayText}.c-retry{white-space:nowrap}
`;
