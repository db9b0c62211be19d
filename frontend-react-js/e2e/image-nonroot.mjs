#!/usr/bin/env node
// Checks a built production image of the front end (Dockerfile.prod) in a real
// container: nginx must run as a non-root user (issue 23), the image's own
// HEALTHCHECK must pass, and it must serve the app.
//
//   node e2e/image-nonroot.mjs <image> [--timeout <seconds>] [--docker <path>]
//
// What it does, all through the docker CLI (so it also works against a remote
// daemon, and with --bridge=none daemons: nothing is published):
//   1. docker run -d --network none --read-only --tmpfs /tmp <image>, as ECS's
//      readonlyRootFilesystem with a volume on /tmp would run it, with an API
//      address in its environment and the health-check interval shortened to
//      1 s (the image's command is kept; Docker 20.10 has no --start-interval,
//      and the image's 30 s interval would make this slow);
//   2. waits for the health status "healthy";
//   3. inside the container, with bash's /dev/tcp (the image has no curl):
//      GET / must be 200 with the app's HTML and a Content-Security-Policy,
//      the first /assets/*.js it names must be 200, and /config.js must hold
//      the API address the container was started with (read at run time);
//   4. reads /proc/<pid>/status of every process in the container: there must be
//      an nginx master and at least one worker, and every uid (real, effective,
//      saved, filesystem) of each must be non-zero; the image's User must be
//      set and not root;
//   5. nginx's log must hold no [emerg]/[alert]/[crit] line (e.g. a pid file or
//      temp directory it could not write).
// The container is always removed. Exit 0 pass, 1 fail, 2 bad usage.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

function usage(message) {
  console.error(`image-nonroot: ${message}`);
  console.error('usage: node e2e/image-nonroot.mjs <image> [--timeout <seconds>] [--docker <path>]');
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      timeout: { type: 'string', default: '60' },
      docker: { type: 'string', default: process.env.DOCKER || 'docker' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (err) {
  usage(err.message);
}
const { values: opts, positionals } = parsed;
if (opts.help) usage('help');
if (positionals.length !== 1) usage('exactly one image name is required');
const image = positionals[0];
const timeoutMs = Math.round(Number(opts.timeout) * 1000);
if (!(timeoutMs > 0)) usage(`--timeout must be a positive number of seconds: ${opts.timeout}`);

const log = (line) => console.log(`image-nonroot: ${line}`);

function docker(args, { check = true, input } = {}) {
  const r = spawnSync(opts.docker, args, { encoding: 'utf8', input, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw new Error(`cannot run ${opts.docker}: ${r.error.message}`);
  if (check && r.status !== 0) {
    throw new Error(`docker ${args[0]} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  }
  return r;
}

// An HTTP/1.0 GET from inside the container with bash's /dev/tcp; prints the raw
// response. The path is passed as an argument, never spliced into the script.
const HTTP_GET = 'exec 3<>/dev/tcp/127.0.0.1/3000 && printf "GET %s HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n" "$1" >&3 && cat <&3';

function httpGet(name, path) {
  const r = docker(['exec', name, 'bash', '-c', HTTP_GET, 'get', path], { check: false });
  if (r.status !== 0) throw new Error(`GET ${path} inside the container failed: ${r.stderr.trim()}`);
  const raw = r.stdout;
  const split = raw.indexOf('\r\n\r\n');
  const head = split >= 0 ? raw.slice(0, split) : raw;
  const body = split >= 0 ? raw.slice(split + 4) : '';
  const status = Number((head.match(/^HTTP\/1\.[01] (\d{3})/) || [])[1]);
  return { status, head, body };
}

// pid, comm, cmdline and the four uids of every process in the container, one
// tab-separated line each (the Uid line's own tabs become spaces).
const PROCESSES =
  'for d in /proc/[0-9]*; do ' +
  '[ -r "$d/status" ] || continue; ' +
  'printf "%s\\t%s\\t%s\\t%s\\n" "${d#/proc/}" "$(cat "$d/comm" 2>/dev/null)" ' +
  '"$(tr "\\0" " " < "$d/cmdline" 2>/dev/null)" "$(sed -n "s/^Uid:[[:space:]]*//p" "$d/status" 2>/dev/null | tr "\\t" " ")"; ' +
  'done';

function nginxProcesses(name) {
  const r = docker(['exec', name, 'sh', '-c', PROCESSES]);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, comm, cmdline, uids] = line.split('\t');
      return { pid: Number(pid), comm, cmdline: cmdline.trim(), uids: uids.trim().split(/\s+/).map(Number) };
    })
    .filter((p) => p.comm === 'nginx');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const name = `cruddur-nonroot-${randomBytes(4).toString('hex')}`;
// Nothing listens there: only /config.js and the CSP must carry it.
const API_URL = 'https://api.image-nonroot.invalid';
let started = false;
let code = 0;
try {
  const user = docker(['image', 'inspect', '-f', '{{.Config.User}}', image]).stdout.trim();
  const uid = user.split(':')[0];
  if (!user || uid === '0' || uid === 'root') {
    throw new Error(`the image's User is ${user ? `"${user}"` : 'not set'}: it would run as root`);
  }
  log(`image ${image}, User "${user}"`);

  docker([
    'run', '-d', '--name', name, '--network', 'none', '--read-only', '--tmpfs', '/tmp',
    '--env', `REACT_APP_BACKEND_URL=${API_URL}`,
    '--health-interval', '1s', '--health-start-period', '1s', '--health-timeout', '5s', '--health-retries', '3',
    image,
  ]);
  started = true;

  // 2. The image's own health check.
  const deadline = Date.now() + timeoutMs;
  let health = '';
  for (;;) {
    const state = JSON.parse(docker(['inspect', '-f', '{{json .State}}', name]).stdout);
    health = state.Health ? state.Health.Status : 'none';
    if (!state.Running) throw new Error(`the container stopped (exit ${state.ExitCode})`);
    if (health === 'none') throw new Error('the image has no HEALTHCHECK');
    if (health === 'healthy') break;
    if (health === 'unhealthy' || Date.now() > deadline) {
      const last = (state.Health.Log || []).at(-1);
      throw new Error(`health status "${health}" after ${opts.timeout} s${last ? ` (last check: exit ${last.ExitCode} ${last.Output.trim()})` : ''}`);
    }
    await sleep(500);
  }
  log('PASS: the image\'s HEALTHCHECK reports "healthy"');

  // 3. The app.
  const index = httpGet(name, '/');
  if (index.status !== 200) throw new Error(`GET / answered ${index.status || index.head.split('\r\n')[0]}`);
  if (!index.body.includes('id="root"')) throw new Error('GET / is not the app\'s index.html (no id="root")');
  const policy = (index.head.match(/^content-security-policy: (.*)$/im) || [])[1] || '';
  if (!policy.includes(API_URL)) throw new Error(`GET / has no Content-Security-Policy naming ${API_URL}: "${policy}"`);
  const script = (index.body.match(/src="(\/assets\/[^"]+\.js)"/) || [])[1];
  if (!script) throw new Error('index.html names no /assets/*.js script');
  const asset = httpGet(name, script);
  if (asset.status !== 200) throw new Error(`GET ${script} answered ${asset.status}`);
  const route = httpGet(name, '/messages/new/bayko');
  if (route.status !== 200 || !route.body.includes('id="root"')) throw new Error('a client-side route does not get index.html');
  const config = httpGet(name, '/config.js');
  if (config.status !== 200 || !config.body.includes(`"REACT_APP_BACKEND_URL": "${API_URL}"`)) {
    throw new Error(`/config.js does not hold the container's API address (${config.status}): ${config.body.slice(0, 300)}`);
  }
  log(`PASS: / serves the app (index.html, ${script}, SPA fallback) on a read-only root filesystem`);
  log(`PASS: /config.js and the CSP name the API address the container was started with`);

  // 4. Who runs nginx.
  const procs = nginxProcesses(name);
  const master = procs.filter((p) => /master process/.test(p.cmdline));
  const workers = procs.filter((p) => /worker process/.test(p.cmdline));
  for (const p of procs) log(`  pid ${p.pid} uids ${p.uids.join(' ')}  ${p.cmdline}`);
  if (master.length !== 1) throw new Error(`expected one nginx master process, found ${master.length}`);
  if (workers.length < 1) throw new Error('found no nginx worker process');
  const root = procs.filter((p) => p.uids.length !== 4 || p.uids.some((u) => !(u > 0)));
  if (root.length) {
    throw new Error(`nginx runs as root: ${root.map((p) => `pid ${p.pid} (${p.cmdline}) uids ${p.uids.join(' ')}`).join('; ')}`);
  }
  log(`PASS: nginx master and ${workers.length} worker(s) run as uid ${master[0].uids[0]}, none as root`);

  // 5. Nothing nginx could not do as that user.
  const logs = docker(['logs', name]);
  const bad = `${logs.stdout}\n${logs.stderr}`.split('\n').filter((l) => /\[(emerg|alert|crit)\]/.test(l));
  if (bad.length) throw new Error(`nginx logged: ${bad.slice(0, 3).join(' | ')}`);
  log('PASS: no [emerg]/[alert]/[crit] in the log');
} catch (err) {
  code = 1;
  console.error(`image-nonroot: FAIL: ${err.message}`);
  if (started) {
    const logs = docker(['logs', '--tail', '20', name], { check: false });
    const text = `${logs.stdout}${logs.stderr}`.trim();
    if (text) console.error(`image-nonroot: container log (last lines):\n${text}`);
  }
} finally {
  if (started) docker(['rm', '-f', name], { check: false });
}
process.exit(code);
