// Where the app's settings come from: /config.js (written by the production
// container's entrypoint) when it set them, else Vite's build-time env.
import { describe, expect, it, vi } from 'vitest';
import { readConfig, runtimeEnv, RUNTIME_CONFIG_GLOBAL, settingsSource } from './config.js';

const RUNTIME = {
  REACT_APP_BACKEND_URL: 'https://api.staging.example.com/',
  REACT_APP_AWS_PROJECT_REGION: 'eu-west-1',
  REACT_APP_AWS_COGNITO_REGION: 'eu-west-1',
  REACT_APP_AWS_USER_POOLS_ID: 'eu-west-1_Stage1',
  REACT_APP_CLIENT_ID: 'stageclient',
  REACT_APP_AWS_COGNITO_ENDPOINT: '',
};

describe('runtimeEnv', () => {
  it('is null where /config.js set nothing', () => {
    expect(runtimeEnv({})).toBeNull();
    expect(runtimeEnv(undefined)).toBeNull();
  });

  it('ignores a global that is not an object of settings', () => {
    for (const value of [null, 'https://api.example.com', 42, ['a'], true]) {
      expect(runtimeEnv({ [RUNTIME_CONFIG_GLOBAL]: value })).toBeNull();
    }
  });

  it('returns what /config.js set', () => {
    expect(runtimeEnv({ [RUNTIME_CONFIG_GLOBAL]: RUNTIME })).toBe(RUNTIME);
  });
});

describe('settingsSource', () => {
  const build = { REACT_APP_BACKEND_URL: 'http://localhost:4567', REACT_APP_AWS_USER_POOLS_ID: 'us-east-1_Dev' };

  it("prefers the container's settings to the build's", () => {
    expect(settingsSource({ [RUNTIME_CONFIG_GLOBAL]: RUNTIME }, build)).toBe(RUNTIME);
  });

  it("falls back to the build's env without them (dev server, tests)", () => {
    expect(settingsSource({}, build)).toBe(build);
    expect(settingsSource({}, null)).toEqual({});
  });

  it("takes the container's settings whole: a value they leave out is not the build's", () => {
    const runtime = { REACT_APP_BACKEND_URL: 'https://api.example.com' };
    const config = readConfig(settingsSource({ [RUNTIME_CONFIG_GLOBAL]: runtime }, build));
    expect(config.userPoolId).toBe('');
    expect(config.authConfigured).toBe(false);
  });
});

describe('readConfig without arguments (what the app calls)', () => {
  it('reads window.__CRUDDUR_CONFIG__ as /config.js sets it', () => {
    vi.stubGlobal(RUNTIME_CONFIG_GLOBAL, RUNTIME);
    expect(readConfig()).toEqual({
      backendUrl: 'https://api.staging.example.com',
      projectRegion: 'eu-west-1',
      cognitoRegion: 'eu-west-1',
      userPoolId: 'eu-west-1_Stage1',
      clientId: 'stageclient',
      cognitoEndpoint: '',
      authConfigured: true,
    });
  });

  it("reads Vite's REACT_APP_* variables when /config.js set nothing", () => {
    vi.stubEnv('REACT_APP_BACKEND_URL', 'http://127.0.0.1:4999');
    vi.stubEnv('REACT_APP_CLIENT_ID', 'devclient');
    const config = readConfig();
    expect(config.backendUrl).toBe('http://127.0.0.1:4999');
    expect(config.clientId).toBe('devclient');
    vi.unstubAllEnvs();
  });
});
