// Drives one headless Chromium page for the page tests (t/test_page_*.py).
//
// Reads one JSON command per line on stdin, answers one JSON line on stdout:
//   {"id": 1, "cmd": "goto", "url": "..."}  ->  {"id": 1, "ok": true, "result": ...}
// Failures answer {"ok": false, "error": "..."}; the driver itself never
// waits unboundedly (every command has a timeout) and exits when stdin
// closes, taking the browser with it.
//
// Usage: node driver.js USER_DATA_DIR
'use strict';

const readline = require('readline');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

let context = null;
let page = null;
const consoleErrors = [];
const frames = [];          // WebSocket frames: {dir, data, t, url}
const sockets = [];         // WebSocket opens/closes seen by the browser

function watch(p) {
  p.on('console', (m) => {
    if (m.type() === 'error') {
      consoleErrors.push(m.text());
    }
  });
  p.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
  p.on('websocket', (ws) => {
    const rec = { url: ws.url(), opened: Date.now(), closed: null };
    sockets.push(rec);
    ws.on('framesent', (f) => frames.push({ dir: 'out', data: String(f.payload), t: Date.now() }));
    ws.on('framereceived', (f) => frames.push({ dir: 'in', data: String(f.payload), t: Date.now() }));
    ws.on('close', () => { rec.closed = Date.now(); });
  });
}

const commands = {
  async launch(c) {
    context = await chromium.launchPersistentContext(c.userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: c.viewport || { width: 1100, height: 760 },
      timeout: 30000,
    });
    page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(c.timeout || 10000);
    watch(page);
    return true;
  },
  async goto(c) {
    const r = await page.goto(c.url, { waitUntil: 'load' });
    return r ? r.status() : null;
  },
  async reload() {
    const r = await page.reload({ waitUntil: 'load' });
    return r ? r.status() : null;
  },
  async viewport(c) {
    await page.setViewportSize({ width: c.width, height: c.height });
    return true;
  },
  async media(c) {
    await page.emulateMedia({ colorScheme: c.colorScheme || null, reducedMotion: c.reducedMotion || null });
    return true;
  },
  async waitFor(c) {
    await page.waitForSelector(c.selector, { state: c.state || 'visible', timeout: c.timeout });
    return true;
  },
  // c.expr: an expression, or the source of a function (called each poll)
  async waitForFunction(c) {
    const h = await page.waitForFunction((src) => {
      const v = (0, eval)('(' + src + ')');
      return typeof v === 'function' ? v() : v;
    }, c.expr, { timeout: c.timeout, polling: 50 });
    return await h.jsonValue();
  },
  async text(c) {
    return await page.locator(c.selector).first().textContent({ timeout: c.timeout });
  },
  async texts(c) {
    return await page.locator(c.selector).allTextContents();
  },
  async attr(c) {
    return await page.locator(c.selector).first().getAttribute(c.name, { timeout: c.timeout });
  },
  async count(c) {
    return await page.locator(c.selector).count();
  },
  async fill(c) {
    await page.locator(c.selector).first().fill(c.text);
    return true;
  },
  async press(c) {
    await page.locator(c.selector).first().press(c.key);
    return true;
  },
  async click(c) {
    await page.locator(c.selector).first().click({ timeout: c.timeout });
    return true;
  },
  async eval(c) {
    return await page.evaluate(c.expr);
  },
  async screenshot(c) {
    await page.screenshot({ path: c.path, fullPage: !!c.fullPage });
    return c.path;
  },
  async consoleErrors() {
    return consoleErrors.slice();
  },
  async frames() {
    return frames.slice();
  },
  async sockets() {
    return sockets.slice();
  },
  async close() {
    if (context) {
      await context.close();
      context = null;
    }
    return true;
  },
};

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function run(line) {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    reply({ id: null, ok: false, error: 'bad command: ' + e.message });
    return;
  }
  const fn = commands[c.cmd];
  if (!fn) {
    reply({ id: c.id, ok: false, error: 'unknown command ' + c.cmd });
    return;
  }
  try {
    reply({ id: c.id, ok: true, result: await fn(c) });
  } catch (e) {
    reply({ id: c.id, ok: false, error: String(e && e.message || e) });
  }
}

// commands run one at a time, in order
let chain = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => { chain = chain.then(() => run(line)); });
rl.on('close', () => {
  chain.then(() => commands.close()).catch(() => {}).then(() => process.exit(0));
});
