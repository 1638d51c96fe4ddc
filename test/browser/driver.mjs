// driver.mjs -- headless Chromium for logtap's Python tests, over stdio.
//
// test/e2e/browser.py starts `node driver.mjs` and speaks JSON lines: one
// request a line on stdin, {"id", "op", ...}, one answer a line on stdout,
// {"id", "ok": true, "value"} or {"id", "ok": false, "error"}. Requests are
// handled one at a time, in order. The first line written is
// {"ready": true, "version"} once the browser runs, or {"ready": false,
// "error"} if it cannot start (the test then skips, saying why).
//
// The browser is Debian's /usr/bin/chromium (LOGTAP_CHROMIUM overrides),
// driven by playwright-core, which never downloads a browser of its own.
// Flags: what a root user needs on a machine with no outside network (no
// sandbox, no GPU, nothing that phones home); Playwright gives every launch
// a fresh temporary --user-data-dir.
//
// Every page records the dialogs it raised (and dismisses them), console
// errors and warnings (CSP violations land there) and uncaught page errors;
// the `events` op returns them.

import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const executablePath = process.env.LOGTAP_CHROMIUM || '/usr/bin/chromium';
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--disable-dev-shm-usage'];

const contexts = new Map();
const pages = new Map();
let nextId = 1;

function write(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function page(id) {
  const p = pages.get(id);
  if (!p) throw new Error(`no page ${id}`);
  return p;
}

async function handle(browser, msg) {
  switch (msg.op) {
    case 'new_context': {
      const ctx = await browser.newContext({
        timezoneId: msg.timezone || undefined,
        viewport: msg.viewport || { width: 1400, height: 900 },
        colorScheme: msg.color_scheme || 'light',
        serviceWorkers: 'block',
      });
      const id = nextId++;
      contexts.set(id, ctx);
      return id;
    }
    case 'new_page': {
      const ctx = contexts.get(msg.context);
      if (!ctx) throw new Error(`no context ${msg.context}`);
      const p = await ctx.newPage();
      const events = { dialogs: [], console: [], errors: [] };
      p.on('dialog', (d) => {
        events.dialogs.push({ type: d.type(), message: d.message() });
        d.dismiss().catch(() => {});
      });
      p.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') events.console.push(`${m.type()}: ${m.text()}`);
      });
      p.on('pageerror', (e) => events.errors.push(String(e && e.stack || e)));
      const id = nextId++;
      pages.set(id, { page: p, events });
      return id;
    }
    case 'goto': {
      const r = await page(msg.page).page.goto(msg.url, { timeout: msg.timeout_ms || 30000 });
      return r ? { status: r.status(), url: r.url(), headers: r.headers() } : null;
    }
    case 'eval':
      return page(msg.page).page.evaluate(msg.expr);
    case 'wait': {
      // A function, not a string: Playwright would eval() a string inside
      // the page, which the dashboard's CSP (rightly) forbids.
      const predicate = new Function(`return (${msg.expr});`);
      const handle = await page(msg.page).page.waitForFunction(predicate, undefined,
        { timeout: msg.timeout_ms || 10000, polling: msg.polling || 'raf' });
      return handle.jsonValue();
    }
    case 'fill':
      await page(msg.page).page.fill(msg.selector, msg.value, { timeout: msg.timeout_ms || 10000 });
      return null;
    case 'select':
      await page(msg.page).page.selectOption(msg.selector, msg.value, { timeout: msg.timeout_ms || 10000 });
      return null;
    case 'click':
      await page(msg.page).page.click(msg.selector, { timeout: msg.timeout_ms || 10000 });
      return null;
    case 'press':
      await page(msg.page).page.press(msg.selector, msg.key, { timeout: msg.timeout_ms || 10000 });
      return null;
    case 'screenshot':
      await page(msg.page).page.screenshot({ path: msg.path, fullPage: false });
      return msg.path;
    case 'events': {
      const { events } = page(msg.page);
      return { dialogs: events.dialogs, console: events.console, errors: events.errors };
    }
    case 'close_context': {
      const ctx = contexts.get(msg.context);
      if (ctx) await ctx.close();
      contexts.delete(msg.context);
      for (const [id, p] of pages) if (p.page.context() === ctx) pages.delete(id);
      return null;
    }
    default:
      throw new Error(`unknown op ${msg.op}`);
  }
}

async function main() {
  let browser;
  try {
    browser = await chromium.launch({ executablePath, headless: true, args, timeout: 60000 });
  } catch (err) {
    write({ ready: false, error: String(err && err.message || err).split('\n')[0] });
    process.exit(0);
  }
  write({ ready: true, version: browser.version() });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      write({ id: null, ok: false, error: 'bad request line: ' + err.message });
      continue;
    }
    if (msg.op === 'quit') break;
    try {
      const value = await handle(browser, msg);
      write({ id: msg.id, ok: true, value: value === undefined ? null : value });
    } catch (err) {
      write({ id: msg.id, ok: false, error: String(err && err.message || err) });
    }
  }
  await browser.close();
}

main().catch((err) => {
  write({ id: null, ok: false, error: 'driver failed: ' + (err && err.stack || err) });
  process.exit(1);
});
