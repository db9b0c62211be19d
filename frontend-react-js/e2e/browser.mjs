#!/usr/bin/env node
// Browser test of the Cruddur front end in headless Chromium (playwright-core,
// no downloaded browser). Run against a running front end (e.g. the prod
// container) and its backend:
//
//   node e2e/browser.mjs --url http://127.0.0.1:3000 --expect feed [--text "..."] [--screenshot out.png]
//   node e2e/browser.mjs --url http://127.0.0.1:3000 --expect outage [--screenshot out.png]
//
// --expect feed    the home page shows an activity containing --text
//                  (default "This was imported as seed data!")
// --expect outage  the home page shows the API error alert (role="alert")
// Other options: --timeout <seconds> (default 20), --chromium <path>
// (default $CHROMIUM_PATH or /usr/bin/chromium).
// Exit 0 on success; 1 with the reason on failure; 2 on bad usage.

import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { gotoRetrying } from './network-changed.mjs';

const DEFAULT_TEXT = 'This was imported as seed data!';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function usage(message) {
  console.error(`e2e: ${message}`);
  console.error(
    'usage: node e2e/browser.mjs --url <frontend url> --expect feed|outage [--text <text>] [--screenshot <png>] [--timeout <s>] [--chromium <path>]',
  );
  process.exit(2);
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      url: { type: 'string' },
      expect: { type: 'string' },
      text: { type: 'string', default: DEFAULT_TEXT },
      screenshot: { type: 'string' },
      timeout: { type: 'string', default: '20' },
      chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
if (opts.help) usage('help');
if (!opts.url) usage('--url is required');
if (opts.expect !== 'feed' && opts.expect !== 'outage') usage('--expect must be "feed" or "outage"');
let pageUrl;
try {
  pageUrl = new URL(opts.url).toString();
} catch {
  usage(`--url is not a URL: ${opts.url}`);
}
const timeoutMs = Math.round(Number(opts.timeout) * 1000);
if (!(timeoutMs > 0)) usage(`--timeout must be a positive number of seconds: ${opts.timeout}`);

const log = (line) => console.log(`e2e: ${line}`);

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  console.error(`e2e: FAIL: cannot load playwright-core (${err.message}); run "npm ci" in frontend-react-js first`);
  process.exit(1);
}

const profile = mkdtempSync(join(tmpdir(), 'cruddur-e2e-'));
const consoleErrors = [];
const failedRequests = [];
let context;
let page;

async function screenshot() {
  if (!opts.screenshot || !page) return;
  const file = resolve(opts.screenshot);
  try {
    mkdirSync(dirname(file), { recursive: true });
    await page.screenshot({ path: file, fullPage: true, timeout: 10000 });
    log(`screenshot saved to ${file}`);
  } catch (err) {
    console.error(`e2e: could not save the screenshot to ${file}: ${err.message}`);
  }
}

// The alert's message, without the text of its Retry button.
async function alertText(alert) {
  const inner = alert.locator('.alert-text');
  const text = (await inner.count()) > 0 ? await inner.first().textContent() : await alert.textContent();
  return (text || '').trim();
}

async function visibleAlert() {
  const alert = page.getByRole('alert').first();
  if ((await alert.count()) > 0 && (await alert.isVisible())) return alertText(alert);
  return null;
}

async function bodyText() {
  try {
    return ((await page.locator('body').innerText({ timeout: 2000 })) || '').replace(/\s+/g, ' ').trim();
  } catch {
    return '';
  }
}

// Wait until the feed shows an activity containing opts.text. The page does
// not retry on its own, so an error alert (e.g. the backend still starting)
// leads to a reload, until the deadline.
async function expectFeed(deadline) {
  const wanted = page.getByTestId('activity').filter({ hasText: opts.text });
  let lastAlert = null;
  let reloads = 0;
  let alertSince = null;
  while (Date.now() < deadline) {
    if ((await wanted.count()) > 0 && (await wanted.first().isVisible())) {
      const n = await page.getByTestId('activity').count();
      return `feed shows an activity containing "${opts.text}" (${n} activit${n === 1 ? 'y' : 'ies'} on the page${reloads ? `, after ${reloads} reload(s)` : ''})`;
    }
    const alert = await visibleAlert();
    if (alert) {
      lastAlert = alert;
      alertSince = alertSince || Date.now();
      if (Date.now() - alertSince > 2000 && deadline - Date.now() > 3000) {
        reloads += 1;
        alertSince = null;
        await page.reload({ waitUntil: 'domcontentloaded', timeout: Math.max(1000, deadline - Date.now()) }).catch(() => {});
        continue;
      }
    } else {
      alertSince = null;
    }
    await page.waitForTimeout(250);
  }
  const n = await page.getByTestId('activity').count();
  let reason = `no activity containing "${opts.text}" appeared within ${opts.timeout} s`;
  reason += n ? ` (the feed shows ${n} other activit${n === 1 ? 'y' : 'ies'})` : '';
  const alert = (await visibleAlert()) || lastAlert;
  if (alert) reason += `; the page shows the error: "${alert}"`;
  else if (!n) reason += `; page text: "${(await bodyText()).slice(0, 300)}"`;
  throw new Error(reason);
}

async function expectOutage(deadline) {
  const alert = page.getByRole('alert').first();
  try {
    await alert.waitFor({ state: 'visible', timeout: Math.max(1, deadline - Date.now()) });
  } catch {
    const n = await page.getByTestId('activity').count();
    let reason = `no error alert (role="alert") appeared within ${opts.timeout} s`;
    if (n) reason += `; the feed loaded ${n} activit${n === 1 ? 'y' : 'ies'} instead, so the API is reachable`;
    else reason += `; page text: "${(await bodyText()).slice(0, 300)}"`;
    throw new Error(reason);
  }
  return `the page shows the error alert: "${await alertText(alert)}"`;
}

let code = 0;
try {
  log(`${opts.expect}: ${pageUrl} with ${opts.chromium}`);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 800 },
    timeout: 30000,
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (r) => failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));

  const deadline = Date.now() + timeoutMs;
  const response = await gotoRetrying(page, pageUrl, { waitUntil: 'domcontentloaded', timeout: timeoutMs }, log);
  if (!response) throw new Error(`no response for ${pageUrl}`);
  if (!response.ok()) throw new Error(`the front end answered ${response.status()} for ${pageUrl}`);
  const result = opts.expect === 'feed' ? await expectFeed(deadline) : await expectOutage(deadline);
  log(`PASS: ${result}`);
} catch (err) {
  code = 1;
  const message = String(err && err.message ? err.message : err).split('\n')[0];
  console.error(`e2e: FAIL (${opts.expect}): ${message}`);
  for (const e of consoleErrors.slice(0, 5)) console.error(`e2e:   browser console: ${e}`);
  for (const r of failedRequests.slice(0, 5)) console.error(`e2e:   failed request: ${r}`);
} finally {
  await screenshot();
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
