import { describe, expect, it, vi } from 'vitest';
import { ApiError, apiRequest } from './api.js';
import { readConfig } from './config.js';

const BASE = 'http://api.test';

describe('apiRequest', () => {
  it('returns the parsed JSON body', async () => {
    const fetchImpl = vi.fn(async () => new Response('[{"uuid":"1"}]', { status: 200 }));
    await expect(apiRequest(BASE, '/api/activities/home', { fetchImpl })).resolves.toEqual([{ uuid: '1' }]);
    expect(fetchImpl.mock.calls[0][0]).toBe('http://api.test/api/activities/home');
  });

  it('turns a network failure into "Could not reach the Cruddur API (…)"', async () => {
    const fetchImpl = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const err = await apiRequest(BASE, '/api/activities/home', { fetchImpl }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.kind).toBe('network');
    expect(err.message).toBe('Could not reach the Cruddur API (http://api.test: Failed to fetch)');
  });

  it("uses the server's error text for 4xx/5xx", async () => {
    const fetchImpl = vi.fn(async () => new Response('{"error":"user not found"}', { status: 404 }));
    const err = await apiRequest(BASE, '/api/activities/@nobody', { fetchImpl }).catch((e) => e);
    expect(err.kind).toBe('http');
    expect(err.status).toBe(404);
    expect(err.message).toBe('user not found');
  });

  it('describes an error reply without JSON by its status', async () => {
    const fetchImpl = vi.fn(
      async () => new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
    );
    const err = await apiRequest(BASE, '/api/activities/home', { fetchImpl }).catch((e) => e);
    expect(err.message).toBe('The Cruddur API answered 502 Bad Gateway');
  });

  it('rejects a success reply that is not JSON', async () => {
    const fetchImpl = vi.fn(async () => new Response('<!doctype html>', { status: 200 }));
    const err = await apiRequest(BASE, '/api/activities/home', { fetchImpl }).catch((e) => e);
    expect(err.kind).toBe('invalid');
  });

  it('gives up after the timeout instead of spinning forever', async () => {
    const fetchImpl = (url, { signal }) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    const err = await apiRequest(BASE, '/api/activities/home', { fetchImpl, timeoutMs: 20 }).catch((e) => e);
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/^Could not reach the Cruddur API \(no answer/);
  });

  it('sends JSON and the bearer token', async () => {
    const fetchImpl = vi.fn(async () => new Response('{"uuid":"n"}', { status: 201 }));
    await apiRequest(BASE, '/api/activities', { method: 'POST', body: { message: 'hi', ttl: '1-day' }, token: 'tok', fetchImpl });
    const [, init] = fetchImpl.mock.calls[0];
    expect(init.method).toBe('POST');
    expect(init.headers.Authorization).toBe('Bearer tok');
    expect(init.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body)).toEqual({ message: 'hi', ttl: '1-day' });
  });
});

describe('readConfig', () => {
  it('is read-only without both Cognito ids', () => {
    expect(readConfig({}).authConfigured).toBe(false);
    expect(readConfig({ REACT_APP_AWS_USER_POOLS_ID: 'us-east-1_abc' }).authConfigured).toBe(false);
    expect(readConfig({ REACT_APP_AWS_USER_POOLS_ID: ' ', REACT_APP_CLIENT_ID: 'x' }).authConfigured).toBe(false);
  });

  it('enables sign-in with both ids and trims the backend URL', () => {
    const c = readConfig({
      REACT_APP_AWS_USER_POOLS_ID: 'us-east-1_abc',
      REACT_APP_CLIENT_ID: 'client',
      REACT_APP_BACKEND_URL: 'https://4567-x.gitpod.io/',
    });
    expect(c.authConfigured).toBe(true);
    expect(c.backendUrl).toBe('https://4567-x.gitpod.io');
  });

  it("reads the Cognito endpoint; empty means AWS's own", () => {
    expect(readConfig({}).cognitoEndpoint).toBe('');
    expect(readConfig({ REACT_APP_AWS_COGNITO_ENDPOINT: ' http://127.0.0.1:5000 ' }).cognitoEndpoint).toBe(
      'http://127.0.0.1:5000',
    );
  });

  it('defaults the backend to localhost:4567', () => {
    expect(readConfig({}).backendUrl).toBe('http://localhost:4567');
  });
});
