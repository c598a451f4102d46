// The status page in a real headless Chromium (Debian's `chromium`, installed
// here when missing), driven by puppeteer-core 24.x (Node >= 18: the same pin
// runs on Deno, Node 20 and Bun; no browser download). The page is served by a
// Hono app on loopback; the test trips the app's route breaker and watches the
// page follow it, then acts on it through the page's own buttons.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import puppeteer from "puppeteer-core";
import { circuitBreaker, clearCircuitBreakers, HealthCheck } from "../mod.ts";
import { routeCircuitBreaker, statusPage } from "../src/hono/mod.ts";
import { ROOT } from "./_root.ts";
import { silent, test } from "./_harness.ts";

const CHROMIUM = "/usr/bin/chromium";

/** Debian's chromium, installed when missing (the suite runs as root, in CI too). */
function chromium(): string {
  if (!existsSync(CHROMIUM)) {
    const apt = (...args: string[]) =>
      execFileSync("apt-get", args, {
        stdio: "ignore",
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      });
    try {
      apt("install", "-y", "--no-install-recommends", "chromium");
    } catch {
      apt("update"); // a fresh container has no package lists yet
      apt("install", "-y", "--no-install-recommends", "chromium");
    }
  }
  assert.ok(existsSync(CHROMIUM), "chromium could not be installed");
  return CHROMIUM;
}

test(
  "statusPage in headless Chromium: a tripped breaker shows OPEN within 2 s and CLOSED after recovery (events, polling, polling when the stream is refused); actions work; no console error, no CSP violation",
  async () => {
    let down = false;
    const app = new Hono();
    app.get(
      "/api",
      routeCircuitBreaker({
        failureThreshold: 2,
        resetTimeout: 600,
        halfOpenMaxCalls: 1,
        logger: silent,
      }),
      (c) => (down ? c.text("down", 500) : c.text("ok")),
    );
    // A registered breaker with a hostile name: shown as text, never as markup.
    clearCircuitBreakers();
    const hostile = circuitBreaker({ name: '<img src=x onerror="alert(1)">', logger: silent });
    hostile.open();
    const health = new HealthCheck({ version: "1.0.0" });
    health.register("self", () => true);
    app.route(
      "/status",
      // Every circuit listed: on Bun every test file runs in this process, and more than the
      // default 50 of their breakers (OPEN ones first) are alive.
      statusPage({
        app,
        health,
        interval: 200,
        instance: "browser-test",
        authorize: () => true,
        maxBreakers: 1_000_000,
      }),
    );
    // The same page polling, and one whose event stream is refused (it falls back to polling).
    app.route("/polled", statusPage({ app, live: "poll", interval: 200, maxBreakers: 1_000_000 }));
    app.get("/fallback/events", (c) => c.text("no streams here", 503));
    app.route("/fallback", statusPage({ app, interval: 200, maxBreakers: 1_000_000 }));
    let server!: ReturnType<typeof serve>;
    await new Promise<void>((ready) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => ready());
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const profile = mkdtempSync(join(tmpdir(), "status-page-chromium-"));
    const browser = await puppeteer.launch({
      executablePath: chromium(),
      headless: false, // the flag below, exactly: the new headless mode
      userDataDir: profile,
      args: [
        "--no-sandbox",
        "--headless=new",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1100, height: 640 });
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warn") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${String(e)}`));
      await page.evaluateOnNewDocument(() => {
        document.addEventListener("securitypolicyviolation", (e) => {
          (globalThis as unknown as { violations: string[] }).violations ??= [];
          (globalThis as unknown as { violations: string[] }).violations.push(
            `${e.violatedDirective} ${e.blockedURI}`,
          );
        });
      });
      assert.equal((await fetch(`${base}/api`)).status, 200); // the route's breaker now exists
      const res = await page.goto(`${base}/status`, { waitUntil: "load" });
      assert.equal(res?.status(), 200);
      const row = 'tr[data-breaker="route:GET /api"]';
      const stateText = () => page.$eval(`${row} .state`, (e) => e.textContent ?? "");
      const waitState = async (word: string, ms: number) => {
        const start = performance.now();
        await page.waitForFunction(
          (sel: string, w: string) =>
            (document.querySelector(sel)?.textContent ?? "").split(" ")[1] === w,
          { timeout: ms, polling: 50 },
          `${row} .state`,
          word,
        );
        return performance.now() - start;
      };
      // The first paint (a browser starting on a loaded machine): generous. The transitions
      // below are the promise (shown within 2 s).
      await waitState("CLOSED", 10_000);
      assert.match(await page.$eval("#live", (e) => e.textContent ?? ""), /live \(events\)/);
      assert.equal(await page.$$eval("img", (x) => x.length), 0);
      assert.equal(
        await page.$eval("tr[data-breaker^='<img'] .c-name", (e) => e.textContent),
        hostile.name,
      );
      assert.equal(await page.$eval("#instance", (e) => e.textContent), "browser-test");

      // Trip it in the app: the page shows OPEN (as text) within 2 s.
      down = true;
      for (let i = 0; i < 2; i++) await (await fetch(`${base}/api`)).text();
      const tookOpen = await waitState("OPEN", 2000);
      assert.ok(tookOpen < 2000, `OPEN shown after ${tookOpen} ms`);
      assert.match(await stateText(), /^✕ OPEN$/);
      await page.waitForFunction(
        (sel: string) => /^in \d+\.\d s$/.test(document.querySelector(sel)?.textContent ?? ""),
        { timeout: 2000, polling: 50 },
        `${row} .c-retry`,
      );
      assert.match(
        await page.$eval(`${row} .c-last`, (e) => e.textContent ?? ""),
        /to OPEN \(failure threshold\)/,
      );
      mkdirSync(join(ROOT, ".ci/out"), { recursive: true });
      await page.screenshot({ path: join(ROOT, ".ci/out/status_page.png") as `${string}.png` });

      // Recovery: past the reset timeout a trial call succeeds, and the page shows CLOSED.
      down = false;
      await waitState("HALF-OPEN", 2000);
      assert.equal((await fetch(`${base}/api`)).status, 200);
      const tookClosed = await waitState("CLOSED", 2000);
      assert.ok(tookClosed < 2000);

      // The page's own buttons: each says its scope; open, then reset, through POST.
      const buttons = await page.$$eval(
        `${row} button`,
        (bs) => bs.map((b) => `${b.textContent}|${b.getAttribute("title")}`),
      );
      assert.ok(buttons.includes("Open (here)|acts on this instance only"), String(buttons));
      await page.click(`${row} button[data-action="open"]`);
      await waitState("OPEN", 2000);
      assert.match(await page.$eval("#msg", (e) => e.textContent ?? ""), /opened here/);
      await page.click(`${row} button[data-action="reset"]`);
      await waitState("CLOSED", 2000);

      const violations = () =>
        page.evaluate(() => (globalThis as unknown as { violations?: string[] }).violations ?? []);
      assert.deepEqual(await violations(), [], "CSP violations");
      assert.deepEqual(problems, [], "console errors");

      // Polling, by choice and as the fallback when the stream is refused: the same story.
      const cycle = async () => {
        down = true;
        for (let i = 0; i < 2; i++) await (await fetch(`${base}/api`)).text();
        assert.ok((await waitState("OPEN", 2000)) < 2000);
        down = false;
        await waitState("HALF-OPEN", 2000);
        assert.equal((await fetch(`${base}/api`)).status, 200);
        assert.ok((await waitState("CLOSED", 2000)) < 2000);
      };
      await page.goto(`${base}/polled`, { waitUntil: "load" });
      await waitState("CLOSED", 10_000);
      await page.waitForFunction(
        () => /^live \(polling every 0\.2 s\)$/.test(document.getElementById("live")!.textContent!),
        { timeout: 2000, polling: 50 },
      );
      await cycle();
      assert.deepEqual(await violations(), [], "CSP violations (polling)");
      assert.deepEqual(problems, [], "console errors (polling)");
      await page.goto(`${base}/fallback`, { waitUntil: "load" });
      await page.waitForFunction(
        () => /polling/.test(document.getElementById("live")!.textContent!),
        { timeout: 2000, polling: 50 },
      );
      await cycle();
      assert.deepEqual(await violations(), [], "CSP violations (fallback)");
      // The refused stream is the only thing the browser complains about.
      assert.ok(
        problems.length > 0 && problems.every((p) => /event-stream|503|EventSource/i.test(p)),
        String(problems),
      );
      await page.goto("about:blank"); // ends the event stream before the server closes
    } finally {
      await browser.close();
      await new Promise<void>((r) => {
        (server as unknown as { closeAllConnections?(): void }).closeAllConnections?.();
        server.close(() => r());
      });
      rmSync(profile, { recursive: true, force: true });
    }
  },
  { runtimes: ["deno", "node", "bun"], why: "needs a browser and a server (node:http)" },
);
