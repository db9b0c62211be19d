#!/usr/bin/env node
// The production front end's browser-side protections, in headless Chromium
// (playwright-core driving Debian's chromium), against a running prod
// container (issue 32: security headers; issue 33: settings read at run time):
//
//   node e2e/security.mjs --url http://172.18.0.5:3000 --api http://127.0.0.1:9 \
//     [--cognito http://127.0.0.1:8] [--timeout 20] [--chromium /usr/bin/chromium]
//
// 1. Headers, as Chromium receives them, on /, /index.html, the /assets/*.js
//    the page loads, /config.js and a client-side route, and (plain HTTP) on a
//    missing asset's 404: Content-Security-Policy (script-src without
//    'unsafe-inline', frame-ancestors 'none', connect-src naming --api and
//    --cognito), X-Frame-Options DENY, X-Content-Type-Options nosniff,
//    Referrer-Policy strict-origin-when-cross-origin or stricter; no
//    Strict-Transport-Security over HTTP, and one when the request says
//    `X-Forwarded-Proto: https` (what the load balancer sends).
// 2. The app runs under that policy with the container's settings: it loads
//    /config.js, calls the API at --api, and Chromium reports no violation.
// 3. An inline script and an inline event handler injected into the page are
//    blocked: Chromium fires `securitypolicyviolation` and neither runs.
// 4. A page of another origin that frames the app is refused: Chromium
//    reports the frame blocked by frame-ancestors, and the app does not render
//    inside it.
// Exit 0 pass, 1 fail (the first failed check, with the browser's console),
// 2 bad usage.

import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { gotoRetrying } from './network-changed.mjs';

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
const STRICT_REFERRER = [
  'no-referrer',
  'same-origin',
  'strict-origin',
  'strict-origin-when-cross-origin',
];
const CLIENT_ROUTE = '/messages/new/bayko';

function usage(message) {
  console.error(`security: ${message}`);
  console.error(
    'usage: node e2e/security.mjs --url <front end> --api <API URL> [--cognito <Cognito URL>] [--timeout <s>] [--chromium <path>]',
  );
  process.exit(2);
}

function origin(value, flag) {
  try {
    return new URL(value).origin;
  } catch {
    return usage(`${flag} is not a URL: ${value}`);
  }
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      url: { type: 'string' },
      api: { type: 'string' },
      cognito: { type: 'string' },
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
if (!opts.url || !opts.api) usage('--url and --api are required');
const appOrigin = origin(opts.url, '--url');
const apiUrl = opts.api.replace(/\/+$/, '');
const connectOrigins = [origin(opts.api, '--api'), ...(opts.cognito ? [origin(opts.cognito, '--cognito')] : [])];
const timeoutMs = Math.round(Number(opts.timeout) * 1000);
if (!(timeoutMs > 0)) usage(`--timeout must be a positive number of seconds: ${opts.timeout}`);

const log = (line) => console.log(`security: ${line}`);

/** The directives of a Content-Security-Policy: name -> list of sources. */
function directives(policy) {
  const out = {};
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) out[name.toLowerCase()] = sources;
  }
  return out;
}

/** Problems with the security headers of one response ({name: value}, lower-case names). */
function headerProblems(headers, { https = false } = {}) {
  const problems = [];
  const policy = headers['content-security-policy'];
  if (!policy) {
    problems.push('no Content-Security-Policy');
  } else {
    const d = directives(policy);
    const scripts = d['script-src'] || d['default-src'] || [];
    if (!scripts.length) problems.push('the CSP has no script-src or default-src');
    if (scripts.some((s) => /unsafe-inline|unsafe-eval|\*/.test(s))) problems.push(`script-src allows "${scripts.join(' ')}"`);
    if ((d['frame-ancestors'] || []).join(' ') !== "'none'") problems.push("the CSP has no frame-ancestors 'none'");
    for (const o of connectOrigins) {
      if (!(d['connect-src'] || []).includes(o)) problems.push(`connect-src does not name ${o}`);
    }
  }
  if ((headers['x-frame-options'] || '').toUpperCase() !== 'DENY') problems.push(`X-Frame-Options is "${headers['x-frame-options'] || ''}"`);
  if ((headers['x-content-type-options'] || '').toLowerCase() !== 'nosniff') problems.push('no X-Content-Type-Options: nosniff');
  if (!STRICT_REFERRER.includes((headers['referrer-policy'] || '').toLowerCase())) {
    problems.push(`Referrer-Policy is "${headers['referrer-policy'] || ''}"`);
  }
  const hsts = headers['strict-transport-security'];
  if (https && !/max-age=[1-9]/.test(hsts || '')) problems.push('no Strict-Transport-Security behind HTTPS');
  if (!https && hsts) problems.push(`Strict-Transport-Security over plain HTTP: "${hsts}"`);
  return problems;
}

function expectHeaders(what, headers, options) {
  const problems = headerProblems(headers, options);
  if (problems.length) throw new Error(`${what}: ${problems.join('; ')}`);
}

/** The violations Chromium reported to the page (collected by an init script). */
const violations = (page) => page.evaluate(() => window.__cspViolations || []);

// 1 and 2: the app's own pages, loaded as a user would.
async function checkPages(page, requests) {
  const responses = new Map();
  page.on('response', async (r) => {
    const path = new URL(r.url()).pathname;
    if (new URL(r.url()).origin === appOrigin && !responses.has(path)) responses.set(path, r);
  });
  const home = await gotoRetrying(page, `${appOrigin}/`, { waitUntil: 'domcontentloaded', timeout: timeoutMs }, log);
  expectHeaders('GET /', await home.allHeaders());
  await page.locator('#root > *').first().waitFor({ timeout: timeoutMs });
  const deadline = Date.now() + timeoutMs;
  while (!requests.some((u) => u.startsWith(`${apiUrl}/api/`)) && Date.now() < deadline) await page.waitForTimeout(100);
  const called = requests.find((u) => u.startsWith(`${apiUrl}/api/`));
  if (!called) throw new Error(`the app never called the API at ${apiUrl} (requests: ${requests.slice(0, 8).join(', ')})`);
  const config = await page.evaluate(() => window.__CRUDDUR_CONFIG__ || null);
  if (!config || config.REACT_APP_BACKEND_URL.replace(/\/+$/, '') !== apiUrl) {
    throw new Error(`/config.js did not set this container's API address: ${JSON.stringify(config)}`);
  }
  const seen = await violations(page);
  if (seen.length) throw new Error(`the app itself breaks its CSP: ${JSON.stringify(seen)}`);
  log(`PASS: the app runs under its CSP with /config.js's settings (it called ${called}); no violation`);

  const asset = [...responses.keys()].find((p) => p.startsWith('/assets/') && p.endsWith('.js'));
  if (!asset) throw new Error('the page loaded no /assets/*.js');
  for (const path of [asset, '/config.js']) {
    const r = responses.get(path);
    if (!r || r.status() !== 200) throw new Error(`GET ${path} answered ${r ? r.status() : 'nothing'}`);
    expectHeaders(`GET ${path}`, await r.allHeaders());
  }
  for (const path of ['/index.html', CLIENT_ROUTE]) {
    const r = await gotoRetrying(page, `${appOrigin}${path}`, { waitUntil: 'domcontentloaded', timeout: timeoutMs }, log);
    if (r.status() !== 200) throw new Error(`GET ${path} answered ${r.status()}`);
    expectHeaders(`GET ${path}`, await r.allHeaders());
  }
  log(`PASS: the four headers and the CSP on /, /index.html, ${asset}, /config.js and ${CLIENT_ROUTE}; no HSTS over HTTP`);
}

// The same headers on an error, and HSTS only when the load balancer says HTTPS.
async function checkPlainRequests() {
  const missing = await fetch(`${appOrigin}/assets/no-such-file.js`);
  if (missing.status !== 404) throw new Error(`a missing asset answered ${missing.status}, not 404`);
  expectHeaders('a missing asset (404)', Object.fromEntries(missing.headers));
  const https = await fetch(`${appOrigin}/`, { headers: { 'X-Forwarded-Proto': 'https' } });
  expectHeaders('GET / with X-Forwarded-Proto: https', Object.fromEntries(https.headers), { https: true });
  const http = await fetch(`${appOrigin}/`, { headers: { 'X-Forwarded-Proto': 'http' } });
  expectHeaders('GET / with X-Forwarded-Proto: http', Object.fromEntries(http.headers));
  log(`PASS: a 404 has them too; Strict-Transport-Security ("${https.headers.get('strict-transport-security')}") only with X-Forwarded-Proto: https`);
}

// 3: what an XSS would inject.
async function checkInlineScripts(page, consoleLines) {
  await gotoRetrying(page, `${appOrigin}/`, { waitUntil: 'load', timeout: timeoutMs }, log);
  await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.__injectedScriptRan = true;';
    document.body.appendChild(script);
    const holder = document.createElement('div');
    holder.innerHTML = '<img src="/assets/no-such-image.png" onerror="window.__injectedHandlerRan = true">';
    document.body.appendChild(holder);
  });
  const deadline = Date.now() + timeoutMs;
  let inline = [];
  while (Date.now() < deadline) {
    inline = (await violations(page)).filter((v) => v.blockedURI === 'inline');
    if (inline.some((v) => v.directive.startsWith('script-src-elem')) && inline.some((v) => v.directive.startsWith('script-src-attr'))) break;
    await page.waitForTimeout(100);
  }
  const ran = await page.evaluate(() => ({ script: !!window.__injectedScriptRan, handler: !!window.__injectedHandlerRan }));
  if (ran.script || ran.handler) throw new Error(`an injected inline ${ran.script ? 'script' : 'event handler'} ran`);
  const directivesSeen = inline.map((v) => v.directive);
  for (const wanted of ['script-src-elem', 'script-src-attr']) {
    if (!directivesSeen.some((d) => d.startsWith(wanted))) {
      throw new Error(`Chromium reported no ${wanted} violation for the injected code (saw: ${JSON.stringify(inline)})`);
    }
  }
  // Chromium's wording moves between versions ("Refused to execute inline
  // script…", "Executing inline script violates…"): match what stays.
  const refused = consoleLines.filter((l) => /inline (script|event handler)/i.test(l) && /Content Security Policy/.test(l));
  if (refused.length < 2) throw new Error(`Chromium's console does not report both refusals: ${JSON.stringify(refused)}`);
  log(`PASS: an injected inline script and event handler were blocked (${directivesSeen.join(', ')}): "${refused[0].slice(0, 120)}…"`);
}

/** A page of another origin (127.0.0.1, another port) that frames the app. */
async function framer() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><title>framer</title><iframe id="app" src="${appOrigin}/" width="800" height="600"></iframe>`);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

// 4: clickjacking.
async function checkFraming(page, consoleLines) {
  const { server, url } = await framer();
  try {
    const before = consoleLines.length;
    await gotoRetrying(page, url, { waitUntil: 'load', timeout: timeoutMs }, log);
    const deadline = Date.now() + timeoutMs;
    let reported = [];
    while (Date.now() < deadline) {
      reported = consoleLines.slice(before).filter((l) => /frame-ancestors|X-Frame-Options/.test(l) && l.includes(appOrigin));
      if (reported.length) break;
      await page.waitForTimeout(100);
    }
    if (!reported.length) throw new Error(`Chromium did not report the framed app as blocked (console: ${JSON.stringify(consoleLines.slice(before))})`);
    for (const frame of page.frames().filter((f) => f !== page.mainFrame())) {
      const rendered = await frame.evaluate(() => !!document.querySelector('#root > *')).catch(() => false);
      if (rendered) throw new Error(`the app rendered inside a frame of ${url} (${frame.url()})`);
    }
    log(`PASS: a page of another origin cannot frame the app: "${reported[0].slice(0, 160)}…"`);
  } finally {
    server.close();
  }
}

const profile = mkdtempSync(join(tmpdir(), 'cruddur-security-'));
let context;
let code = 0;
const consoleLines = [];
try {
  const { chromium } = await import('playwright-core');
  log(`${appOrigin} (API ${apiUrl}${opts.cognito ? `, Cognito ${opts.cognito}` : ''}) with ${opts.chromium}`);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
  // Every violation Chromium reports to a page, as the page sees it.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push({ directive: e.violatedDirective, blockedURI: e.blockedURI });
    });
  });
  const page = context.pages()[0] || (await context.newPage());
  const requests = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  page.on('request', (r) => requests.push(r.url()));
  await checkPages(page, requests);
  await checkPlainRequests();
  await checkInlineScripts(page, consoleLines);
  await checkFraming(page, consoleLines);
} catch (err) {
  code = 1;
  console.error(`security: FAIL: ${String(err && err.message ? err.message : err).split('\n')[0]}`);
  for (const line of consoleLines.slice(-5)) console.error(`security:   browser console: ${line}`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
