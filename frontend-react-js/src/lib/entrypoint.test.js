// The production image's entrypoint (docker-entrypoint.sh), run by bash as the
// container runs it: the config.js it writes is what the app reads, the CSP it
// writes names the API's and Cognito's origins, and a value that could break
// out of JavaScript or an HTTP header stops it before anything is written.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readConfig, runtimeEnv } from './config.js';

const SCRIPT = resolve(__dirname, '../../docker-entrypoint.sh');
const dirs = [];

afterEach(() => {
  while (dirs.length) rmSync(dirs.pop(), { recursive: true, force: true });
});

function entrypoint(env, command = ['echo', 'nginx', 'started']) {
  const dir = mkdtempSync(join(tmpdir(), 'cruddur-entrypoint-'));
  dirs.push(dir);
  const out = join(dir, 'runtime');
  const r = spawnSync('bash', [SCRIPT, ...command], {
    encoding: 'utf8',
    // Only what is given: the machine's own REACT_APP_* must not leak in.
    env: { PATH: process.env.PATH, CRUDDUR_RUNTIME_DIR: out, ...env },
  });
  const read = (name) => (existsSync(join(out, name)) ? readFileSync(join(out, name), 'utf8') : null);
  return { ...r, out, configJs: read('config.js'), cspConf: read('csp.conf') };
}

// What the browser does with /config.js: run it with `window` as its global.
function loadConfigJs(text) {
  const win = {};
  new Function('window', text)(win);
  return win;
}

function csp(cspConf) {
  const m = cspConf.match(/^add_header Content-Security-Policy "([^"]*)" always;\n$/);
  expect(m, cspConf).not.toBeNull();
  return Object.fromEntries(
    m[1].split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name, values];
    }),
  );
}

describe('docker-entrypoint.sh', () => {
  it("writes this environment's settings for the app, then runs the command", () => {
    const r = entrypoint({
      REACT_APP_BACKEND_URL: 'https://api.staging.example.com/',
      REACT_APP_AWS_PROJECT_REGION: 'eu-west-1',
      REACT_APP_AWS_COGNITO_REGION: 'eu-west-1',
      REACT_APP_AWS_USER_POOLS_ID: 'eu-west-1_Stage1',
      REACT_APP_CLIENT_ID: 'stageclient',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('nginx started');
    const config = readConfig(runtimeEnv(loadConfigJs(r.configJs)));
    expect(config).toMatchObject({
      backendUrl: 'https://api.staging.example.com',
      userPoolId: 'eu-west-1_Stage1',
      clientId: 'stageclient',
      cognitoRegion: 'eu-west-1',
      authConfigured: true,
    });
    const policy = csp(r.cspConf);
    expect(policy['connect-src']).toEqual([
      "'self'",
      'https://api.staging.example.com',
      'https://cognito-idp.eu-west-1.amazonaws.com',
    ]);
    expect(policy['script-src']).toEqual(["'self'"]);
    expect(policy['frame-ancestors']).toEqual(["'none'"]);
    expect(policy['object-src']).toEqual(["'none'"]);
    expect(r.cspConf).not.toContain('unsafe');
  });

  it('names a Cognito endpoint of its own (the sandbox) in connect-src', () => {
    const r = entrypoint({
      REACT_APP_BACKEND_URL: 'http://127.0.0.1:4703',
      REACT_APP_AWS_USER_POOLS_ID: 'us-east-1_abc',
      REACT_APP_CLIENT_ID: 'client1',
      REACT_APP_AWS_COGNITO_ENDPOINT: 'http://127.0.0.1:4700/',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(csp(r.cspConf)['connect-src']).toEqual(["'self'", 'http://127.0.0.1:4703', 'http://127.0.0.1:4700']);
    expect(readConfig(runtimeEnv(loadConfigJs(r.configJs))).cognitoEndpoint).toBe('http://127.0.0.1:4700/');
  });

  it("without settings: the app's default API, sign-in off, no Cognito origin", () => {
    const r = entrypoint({});
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('sign-in off');
    const config = readConfig(runtimeEnv(loadConfigJs(r.configJs)));
    expect(config.backendUrl).toBe('http://localhost:4567');
    expect(config.authConfigured).toBe(false);
    expect(csp(r.cspConf)['connect-src']).toEqual(["'self'", 'http://localhost:4567']);
  });

  it.each([
    ['REACT_APP_BACKEND_URL', 'https://x.example.com/"; alert(1); "'],
    ['REACT_APP_BACKEND_URL', "https://x.example.com; script-src 'unsafe-inline'"],
    ['REACT_APP_BACKEND_URL', 'https://x.example.com/\nadd_header X-Evil 1;'],
    ['REACT_APP_BACKEND_URL', 'javascript:alert(1)'],
    ['REACT_APP_BACKEND_URL', 'https://x.example.com/?q=$host'],
    ['REACT_APP_AWS_COGNITO_ENDPOINT', 'http://127.0.0.1:4700 https://evil.example'],
    ['REACT_APP_AWS_USER_POOLS_ID', 'us-east-1_abc"});alert(1);({"'],
    ['REACT_APP_CLIENT_ID', 'abc def'],
    ['REACT_APP_AWS_COGNITO_REGION', 'us-east-1;'],
  ])('refuses %s=%j and writes nothing', (name, value) => {
    const r = entrypoint({ [name]: value });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cruddur-entrypoint: ${name} must be`);
    expect(r.stdout).not.toContain('nginx started');
    expect(r.configJs).toBeNull();
    expect(r.cspConf).toBeNull();
  });

  it('says where it needs to write when it cannot', () => {
    const r = spawnSync('bash', [SCRIPT, 'true'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, CRUDDUR_RUNTIME_DIR: '/proc/cruddur-not-writable' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot write /proc/cruddur-not-writable');
  });
});
