#!/usr/bin/env node
// A local Cruddur stack on loopback for the sign-up browser test (e2e/signup.mjs):
//   - moto's server: Cognito (a user pool + app client made here) and DynamoDB;
//   - PostgreSQL (initdb + pg_ctl in a temp dir, as user postgres when root);
//   - backend-flask (flask's server) with the seed data, pointed at both;
//   - this front end, built with REACT_APP_* pointing at them, served by vite preview.
//
//   node e2e/stack.mjs [--keep] -- <command> [args...]   start, run the command with the
//        stack's environment (below), stop everything, exit with the command's code
//   node e2e/stack.mjs [--keep]                          start, print the environment,
//        run until Ctrl-C (SIGINT/SIGTERM), then stop everything
//   node e2e/stack.mjs confirm [--create-cruddur-user] <username>
//        AdminConfirmSignUp on the stack's moto (reads CRUDDUR_MOTO_URL and
//        CRUDDUR_USER_POOL_ID); prints nothing. With --create-cruddur-user it also
//        inserts the user's row into the stack's database (CRUDDUR_CONNECTION_URL)
//        from the Cognito attributes, as the backend will do by itself once its
//        "create the user on the first signed-in request" change is merged.
//
// The command gets: CRUDDUR_URL (the front end), CRUDDUR_API_URL, CRUDDUR_MOTO_URL,
// CRUDDUR_USER_POOL_ID, CRUDDUR_USER_POOL_CLIENT_ID, CRUDDUR_CONNECTION_URL and
// CRUDDUR_CONFIRM_CMD ("node <this file> confirm", unless already set;
// "… confirm --create-cruddur-user" with --create-users).
//
// Needs (paths relative to the repository root; override with the variables):
//   MOTO_SERVER     target/venv-moto/bin/moto_server   (pip install 'moto[server]==5.2.1')
//   BACKEND_PYTHON  target/venv-backend/bin/python     (pip install -r backend-flask/requirements.txt)
//   BACKEND_DIR     backend-flask
//   PG_BIN          the newest /usr/lib/postgresql/*/bin (initdb, pg_ctl)
// and `npm ci` done in frontend-react-js. --keep keeps the temp dir (logs, database).
// Every server listens on 127.0.0.1 only, on free ports, and is stopped at the end.

import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const FRONTEND = resolve(HERE, '..');
const REPO = resolve(FRONTEND, '..');
const REGION = 'us-east-1'; // moto serves unsigned Cognito calls (what the browser makes) in us-east-1
// moto accepts any credentials; these only make boto3 sign its requests.
const FAKE_AWS = { AWS_ACCESS_KEY_ID: 'moto-sandbox', AWS_SECRET_ACCESS_KEY: 'moto-sandbox', AWS_DEFAULT_REGION: REGION };

const log = (line) => console.error(`stack: ${line}`);

function die(message, code = 1) {
  console.error(`stack: ${message}`);
  process.exit(code);
}

// ---------------------------------------------------------------- Cognito calls
// Plain JSON-1.1 calls without a signature: moto routes them by X-Amz-Target and
// does not check signatures, so no AWS SDK is needed here.
async function cognito(motoUrl, action, body) {
  const res = await fetch(motoUrl, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`Cognito ${action} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : {};
}

// The backend change that creates the Cruddur user on a new Cognito user's first
// signed-in request (from GetUser) is not merged yet. Until it is, --create-users
// stands in for it: confirming also inserts the users row the backend would make
// (handle = preferred_username, display name = name, email, cognito_user_id = sub).
function createCruddurUser(attrs) {
  const pgBin = process.env.PG_BIN || newestPgBin();
  const url = process.env.CRUDDUR_CONNECTION_URL;
  if (!pgBin || !url) throw new Error('--create-cruddur-user needs CRUDDUR_CONNECTION_URL (set by the stack) and PostgreSQL binaries');
  const sql =
    "INSERT INTO users (display_name, handle, email, cognito_user_id) VALUES (:'name', lower(:'handle'), :'email', :'sub');\n";
  // Values go in as psql variables (quoted by psql), never spliced into the SQL.
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url];
  for (const k of ['name', 'handle', 'email', 'sub']) args.push('-v', `${k}=${attrs[k] || ''}`);
  const r = spawnSync(join(pgBin, 'psql'), args, { input: sql, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`psql: ${(r.stderr || (r.error && r.error.message) || '').trim()}`);
}

if (process.argv[2] === 'confirm') {
  const rest = process.argv.slice(3);
  const create = rest[0] === '--create-cruddur-user';
  const username = create ? rest[1] : rest[0];
  const motoUrl = process.env.CRUDDUR_MOTO_URL;
  const poolId = process.env.CRUDDUR_USER_POOL_ID;
  if (!username || rest.length !== (create ? 2 : 1)) die('usage: node e2e/stack.mjs confirm [--create-cruddur-user] <username>', 2);
  if (!motoUrl || !poolId) die('confirm needs CRUDDUR_MOTO_URL and CRUDDUR_USER_POOL_ID (set by the stack)', 2);
  try {
    await cognito(motoUrl, 'AdminConfirmSignUp', { UserPoolId: poolId, Username: username });
    if (create) {
      const user = await cognito(motoUrl, 'AdminGetUser', { UserPoolId: poolId, Username: username });
      const attrs = Object.fromEntries((user.UserAttributes || []).map((a) => [a.Name, a.Value]));
      createCruddurUser({ name: attrs.name, handle: attrs.preferred_username, email: attrs.email, sub: attrs.sub });
    }
  } catch (err) {
    die(`confirm ${username}: ${err.message}`);
  }
  process.exit(0);
}

// ---------------------------------------------------------------- arguments
const argv = process.argv.slice(2);
const dashes = argv.indexOf('--');
const own = dashes >= 0 ? argv.slice(0, dashes) : argv;
const command = dashes >= 0 ? argv.slice(dashes + 1) : [];
const keep = own.includes('--keep');
const createUsers = own.includes('--create-users');
for (const a of own) {
  if (a !== '--keep' && a !== '--create-users') die(`unknown argument ${a}; usage: node e2e/stack.mjs [--keep] [--create-users] [-- command...]`, 2);
}
if (dashes >= 0 && command.length === 0) die('nothing after --', 2);

function newestPgBin() {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(a) - Number(b));
  return versions.length ? join(base, versions.at(-1), 'bin') : null;
}

const MOTO_SERVER = process.env.MOTO_SERVER || join(REPO, 'target/venv-moto/bin/moto_server');
const BACKEND_PYTHON = process.env.BACKEND_PYTHON || join(REPO, 'target/venv-backend/bin/python');
const BACKEND_DIR = process.env.BACKEND_DIR || join(REPO, 'backend-flask');
const PG_BIN = process.env.PG_BIN || newestPgBin();
const VITE = join(FRONTEND, 'node_modules/vite/bin/vite.js');

const missing = [];
if (!existsSync(MOTO_SERVER)) missing.push(`moto's server (${MOTO_SERVER}): python3 -m venv target/venv-moto && target/venv-moto/bin/pip install 'moto[server]==5.2.1', or set MOTO_SERVER`);
if (!existsSync(BACKEND_PYTHON)) missing.push(`the backend's Python (${BACKEND_PYTHON}): python3 -m venv target/venv-backend && target/venv-backend/bin/pip install -r backend-flask/requirements.txt, or set BACKEND_PYTHON`);
if (!existsSync(join(BACKEND_DIR, 'bin/db-setup'))) missing.push(`backend-flask (${BACKEND_DIR}): set BACKEND_DIR`);
if (!PG_BIN || !existsSync(join(PG_BIN, 'initdb'))) missing.push('PostgreSQL server binaries: apt-get install postgresql, or set PG_BIN');
if (!existsSync(VITE)) missing.push('vite: run "npm ci" in frontend-react-js');
if (missing.length) die(`missing:\n  ${missing.join('\n  ')}`, 2);

// ---------------------------------------------------------------- processes
const work = mkdtempSync(join(tmpdir(), 'cruddur-e2e-stack-'));
const children = []; // {name, child}
let pg = null; // {data, runAs}
let stopping = false;

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function logFile(name) {
  return join(work, `${name}.log`);
}

function tail(name, lines = 15) {
  try {
    return readFileSync(logFile(name), 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Starts a long-running server; its output goes to <work>/<name>.log. */
function start(name, cmd, args, options = {}) {
  const fd = openSync(logFile(name), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], ...options });
  child.on('exit', (code, signal) => {
    if (!stopping) log(`${name} exited (${signal || code}) early; its log:\n${tail(name)}`);
  });
  children.push({ name, child });
  return child;
}

/** Runs a command to completion; throws with its output on failure. */
function run(name, cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300000, ...options });
  if (r.error || r.status !== 0) {
    const out = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${name} failed (${r.error ? r.error.message : `exit ${r.status}`}):\n${out}`);
  }
  return r.stdout;
}

async function waitFor(name, url, { ok = (res) => res.ok, timeoutMs = 60000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const entry = children.find((c) => c.name === name);
    if (entry && entry.child.exitCode !== null) throw new Error(`${name} exited; its log:\n${tail(name)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (await ok(res)) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause ? err.cause.code || err.cause.message : err.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not answer at ${url} within ${timeoutMs / 1000} s (${last}); its log:\n${tail(name)}`);
}

async function stop(failed = false) {
  if (stopping) return;
  stopping = true;
  for (const { child } of [...children].reverse()) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise((ok) => {
          if (child.exitCode !== null || child.signalCode !== null) return ok();
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            ok();
          }, 5000);
          child.once('exit', () => {
            clearTimeout(timer);
            ok();
          });
        }),
    ),
  );
  if (pg) {
    spawnSync(join(PG_BIN, 'pg_ctl'), ['-D', pg.data, '-m', 'fast', '-w', 'stop'], { stdio: 'ignore', ...pg.runAs });
  }
  // On a failure the logs are what explains it: keep them.
  if (keep || failed) log(`kept ${work} (logs, database files); remove it when done`);
  else rmSync(work, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: stopping`);
    stop().then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- the stack
async function up() {
  const [motoPort, pgPort, apiPort, fePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const motoUrl = `http://127.0.0.1:${motoPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const feUrl = `http://127.0.0.1:${fePort}`;

  // moto: Cognito and DynamoDB.
  start('moto', MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(motoPort)]);
  await waitFor('moto', `${motoUrl}/moto-api/`);
  // As the original Cruddur's pool: email is the user name; name and
  // preferred_username travel as attributes (and come back in the ID token).
  const { UserPool } = await cognito(motoUrl, 'CreateUserPool', {
    PoolName: 'cruddur-user-pool',
    UsernameAttributes: ['email'],
    AutoVerifiedAttributes: ['email'],
    Schema: [
      { Name: 'name', AttributeDataType: 'String', Required: true, Mutable: true },
      { Name: 'preferred_username', AttributeDataType: 'String', Required: false, Mutable: true },
    ],
  });
  const { UserPoolClient } = await cognito(motoUrl, 'CreateUserPoolClient', {
    UserPoolId: UserPool.Id,
    ClientName: 'cruddur-frontend',
    GenerateSecret: false,
    ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    ReadAttributes: ['name', 'email', 'email_verified', 'preferred_username'],
  });
  log(`moto ${motoUrl}: user pool ${UserPool.Id}, app client ${UserPoolClient.ClientId}`);

  // PostgreSQL. initdb refuses to run as root: as user postgres then.
  let runAs = {};
  if (process.getuid && process.getuid() === 0) {
    const id = (flag) => Number(run('id', 'id', [flag, 'postgres']).trim());
    runAs = { uid: id('-u'), gid: id('-g') };
    chownSync(work, runAs.uid, runAs.gid);
  }
  const data = join(work, 'pgdata');
  run('initdb', join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { cwd: work, ...runAs });
  pg = { data, runAs }; // from here on, stop() runs pg_ctl stop (harmless if it never started)
  run(
    'pg_ctl start',
    join(PG_BIN, 'pg_ctl'),
    ['-D', data, '-l', logFile('postgres'), '-w', '-t', '60', '-o', `-p ${pgPort} -k ${work} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'],
    { cwd: work, ...runAs },
  );
  run('createdb', join(PG_BIN, 'createdb'), ['-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', 'cruddur'], { ...runAs });
  const connectionUrl = `postgresql://postgres@127.0.0.1:${pgPort}/cruddur`;
  log(`postgres 127.0.0.1:${pgPort}`);

  // The backend: schema + seed users (andrewbrown, bayko, londo), the messages table.
  const backendEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME || work,
    LANG: 'C.UTF-8',
    ...FAKE_AWS,
    CONNECTION_URL: connectionUrl,
    AWS_ENDPOINT_URL: motoUrl,
    AWS_COGNITO_USER_POOL_ID: UserPool.Id,
    AWS_COGNITO_USER_POOL_CLIENT_ID: UserPoolClient.ClientId,
    AWS_COGNITO_JWKS_URL: `${motoUrl}/${UserPool.Id}/.well-known/jwks.json`,
    FRONTEND_URL: feUrl,
    BACKEND_URL: apiUrl,
  };
  run('db-setup', BACKEND_PYTHON, ['bin/db-setup'], { cwd: BACKEND_DIR, env: backendEnv });
  run('ddb-setup', BACKEND_PYTHON, ['bin/ddb-setup', '--seed'], { cwd: BACKEND_DIR, env: backendEnv });
  start('backend', BACKEND_PYTHON, ['-m', 'flask', '--app', 'cruddur.wsgi:app', 'run', '--host', '127.0.0.1', '--port', String(apiPort)], {
    cwd: BACKEND_DIR,
    env: backendEnv,
  });
  await waitFor('backend', `${apiUrl}/api/health-check`);
  log(`backend ${apiUrl}`);

  // The front end, built for this stack.
  const dist = join(work, 'dist');
  log('building the front end (vite build)…');
  run('vite build', process.execPath, [VITE, 'build', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: FRONTEND,
    env: {
      ...process.env,
      REACT_APP_BACKEND_URL: apiUrl,
      REACT_APP_AWS_PROJECT_REGION: REGION,
      REACT_APP_AWS_COGNITO_REGION: REGION,
      REACT_APP_AWS_USER_POOLS_ID: UserPool.Id,
      REACT_APP_CLIENT_ID: UserPoolClient.ClientId,
      REACT_APP_AWS_COGNITO_ENDPOINT: `${motoUrl}/`,
    },
  });
  start('frontend', process.execPath, [VITE, 'preview', '--outDir', dist, '--host', '127.0.0.1', '--port', String(fePort), '--strictPort'], {
    cwd: FRONTEND,
  });
  await waitFor('frontend', `${feUrl}/`);
  log(`front end ${feUrl}`);

  return {
    CRUDDUR_URL: feUrl,
    CRUDDUR_API_URL: apiUrl,
    CRUDDUR_MOTO_URL: motoUrl,
    CRUDDUR_USER_POOL_ID: UserPool.Id,
    CRUDDUR_USER_POOL_CLIENT_ID: UserPoolClient.ClientId,
    CRUDDUR_CONNECTION_URL: connectionUrl,
    CRUDDUR_CONFIRM_CMD:
      process.env.CRUDDUR_CONFIRM_CMD ||
      `${JSON.stringify(process.execPath)} ${JSON.stringify(fileURLToPath(import.meta.url))} confirm${createUsers ? ' --create-cruddur-user' : ''}`,
  };
}

let exitCode = 0;
try {
  const env = await up();
  if (command.length) {
    log(`running: ${command.join(' ')}`);
    const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } });
    exitCode = await new Promise((ok) => {
      child.on('error', (err) => {
        log(`cannot run ${command[0]}: ${err.message}`);
        ok(127);
      });
      child.on('exit', (code, signal) => ok(code === null ? 128 + (signal === 'SIGINT' ? 2 : 15) : code));
    });
  } else {
    for (const [k, v] of Object.entries(env)) console.log(`export ${k}='${v.replace(/'/g, "'\\''")}'`);
    log('up; Ctrl-C stops it');
    await new Promise(() => {}); // until a signal
  }
} catch (err) {
  log(`FAIL: ${err.message}`);
  exitCode = 1;
}
await stop(exitCode !== 0);
process.exit(exitCode);
