// Sign-up -> confirm -> sign-in -> first post, through the real App and
// AuthProvider, with the Cognito module (src/lib/cognito.js, which wraps
// amazon-cognito-identity-js) replaced at its boundary by an in-memory pool.
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import App from '../App.jsx';
import { jsonResponse, renderPage, signedInAuth } from '../test/helpers.jsx';
import { normalizeHandle, SignUpPage } from './AuthPages.jsx';

const pool = vi.hoisted(() => ({ users: new Map(), current: null, configs: [], calls: [] }));

vi.mock('../lib/cognito.js', () => {
  function fail(code, message) {
    const e = new Error(message);
    e.code = code;
    return e;
  }
  const client = {
    async currentUser() {
      return pool.current ? pool.current.profile : null;
    },
    async accessToken() {
      return pool.current ? `access-token-of-${pool.current.profile.handle}` : null;
    },
    async signUp(fields) {
      pool.calls.push(['signUp', fields]);
      if (pool.users.has(fields.email)) throw fail('UsernameExistsException', 'An account with this email already exists.');
      pool.users.set(fields.email, { ...fields, confirmed: false });
      return { confirmed: false };
    },
    async confirmSignUp(email, code) {
      pool.calls.push(['confirmSignUp', email, code]);
      const u = pool.users.get(email);
      if (!u) throw fail('UserNotFoundException', 'There is no account with this email.');
      if (code !== '246810') throw fail('CodeMismatchException', 'That confirmation code is wrong.');
      u.confirmed = true;
    },
    async signIn(email, password) {
      pool.calls.push(['signIn', email]);
      const u = pool.users.get(email);
      if (!u || u.password !== password) throw fail('NotAuthorizedException', 'Incorrect username or password.');
      if (!u.confirmed) throw fail('UserNotConfirmedException', 'User is not confirmed.');
      const profile = { sub: `sub-${u.handle}`, email: u.email, name: u.name, handle: u.handle };
      pool.current = { profile };
      return profile;
    },
    async resendCode() {},
    signOut() {
      pool.current = null;
    },
  };
  return {
    createCognito: async (config) => {
      pool.configs.push(config);
      return client;
    },
  };
});

const ENV = {
  REACT_APP_BACKEND_URL: 'http://api.test',
  REACT_APP_AWS_USER_POOLS_ID: 'us-east-1_pool',
  REACT_APP_CLIENT_ID: 'client1',
  REACT_APP_AWS_COGNITO_ENDPOINT: 'http://127.0.0.1:5000/',
};

beforeEach(() => {
  pool.users.clear();
  pool.current = null;
  pool.configs.length = 0;
  pool.calls.length = 0;
});

function type(label, value) {
  fireEvent.change(screen.getByLabelText(label), { target: { value } });
}

async function submit(name) {
  await act(async () => {
    fireEvent.click(screen.getByRole('button', { name }));
  });
}

/** fetch stand-in for the API: records requests, answers with `reply(method, path, init)`. */
function stubApi(reply) {
  const requests = [];
  const fetch = vi.fn(async (url, init = {}) => {
    const method = init.method || 'GET';
    const path = url.replace('http://api.test', '');
    requests.push({ method, path, auth: init.headers?.Authorization || null, body: init.body ? JSON.parse(init.body) : null });
    return reply(method, path, init);
  });
  vi.stubGlobal('fetch', fetch);
  return requests;
}

async function signUpConfirmAndSignIn() {
  window.history.pushState({}, '', '/signup');
  render(<App env={ENV} />);
  await screen.findByRole('heading', { name: 'Sign up for Cruddur' });
  type('Name', 'Ann Lee');
  type('Email', 'ann@example.com');
  type('Username', '@Ann_Lee');
  type('Password', 'Secret-12345');
  await submit('Sign up');

  // The confirm page, with the email carried over.
  await screen.findByRole('heading', { name: 'Confirm your email' });
  expect(window.location.pathname).toBe('/confirm');
  expect(screen.getByLabelText('Email').value).toBe('ann@example.com');
  type('Confirmation code', '000000');
  await submit('Confirm');
  expect((await screen.findByRole('alert')).textContent).toContain('That confirmation code is wrong.');
  type('Confirmation code', '246810');
  await submit('Confirm');

  // The sign-in page says so and has the email filled in.
  await screen.findByRole('heading', { name: 'Sign in to Cruddur' });
  expect(screen.getByText('Your account is confirmed: sign in.')).toBeTruthy();
  expect(screen.getByLabelText('Email').value).toBe('ann@example.com');
  type('Password', 'Secret-12345');
  await submit('Sign in');
  await screen.findByRole('heading', { name: 'Home' });
}

describe('sign-up to first post', () => {
  it('creates the Cognito user with name, email and handle, confirms, signs in and posts with the access token', async () => {
    const requests = stubApi((method, path) => {
      if (method === 'POST' && path === '/api/activities') {
        return jsonResponse(
          { uuid: 'a1', handle: 'ann_lee', display_name: 'Ann Lee', message: 'my first crud', created_at: new Date().toISOString(), expires_at: null, likes_count: 0, replies_count: 0, reposts_count: 0, reply_to_activity_uuid: null },
          201,
        );
      }
      return jsonResponse([]);
    });
    await signUpConfirmAndSignIn();

    // The Cognito module got the configured endpoint.
    expect(pool.configs[0]).toMatchObject({ userPoolId: 'us-east-1_pool', clientId: 'client1', cognitoEndpoint: 'http://127.0.0.1:5000/' });
    // What the backend will read back from GetUser.
    expect(pool.calls[0]).toEqual(['signUp', { name: 'Ann Lee', email: 'ann@example.com', handle: 'ann_lee', password: 'Secret-12345' }]);
    expect(screen.getByText('@ann_lee')).toBeTruthy();

    fireEvent.change(screen.getByLabelText('New crud'), { target: { value: 'my first crud' } });
    await submit('Crud');
    expect(await screen.findByText('my first crud')).toBeTruthy();

    const post = requests.find((r) => r.method === 'POST');
    expect(post).toEqual({ method: 'POST', path: '/api/activities', auth: 'Bearer access-token-of-ann_lee', body: { message: 'my first crud', ttl: '7-days' } });
    // Signed in, the feed is asked for with the token too (the API's first signed-in request).
    const feed = requests.filter((r) => r.path === '/api/activities/home').at(-1);
    expect(feed.auth).toBe('Bearer access-token-of-ann_lee');
  });

  it("shows the API's 409 (handle taken) readably where the user acts", async () => {
    stubApi((method) =>
      method === 'POST' ? jsonResponse({ error: 'the handle @ann_lee is already taken' }, 409) : jsonResponse([]),
    );
    await signUpConfirmAndSignIn();
    fireEvent.change(screen.getByLabelText('New crud'), { target: { value: 'hello' } });
    await submit('Crud');
    expect((await screen.findByRole('alert')).textContent).toBe('the handle @ann_lee is already taken');
    // The text stays for another try.
    expect(screen.getByLabelText('New crud').value).toBe('hello');
  });

  it('sends an unconfirmed user who signs in to the confirm page', async () => {
    pool.users.set('bob@example.com', { name: 'Bob', email: 'bob@example.com', handle: 'bob', password: 'pw-123456', confirmed: false });
    stubApi(() => jsonResponse([]));
    window.history.pushState({}, '', '/signin');
    render(<App env={ENV} />);
    await screen.findByRole('heading', { name: 'Sign in to Cruddur' });
    type('Email', 'bob@example.com');
    type('Password', 'pw-123456');
    await submit('Sign in');
    await screen.findByRole('heading', { name: 'Confirm your email' });
    expect(window.location.search).toBe('?email=bob%40example.com');
  });
});

describe('the sign-up form', () => {
  function authWith(signUp) {
    return { ...signedInAuth(), status: 'signedOut', user: null, signUp };
  }

  it('has the original Cruddur fields: name, email, username, password', () => {
    renderPage(<SignUpPage />, { auth: authWith(vi.fn()) });
    for (const label of ['Name', 'Email', 'Username', 'Password']) {
      expect(screen.getByLabelText(label).required).toBe(true);
    }
    expect(screen.getByLabelText('Email').type).toBe('email');
    expect(screen.getByLabelText('Password').type).toBe('password');
  });

  it('refuses a handle the backend could not store, without calling Cognito', async () => {
    const signUp = vi.fn();
    renderPage(<SignUpPage />, { auth: authWith(signUp) });
    type('Name', 'A');
    type('Email', 'a@example.com');
    type('Username', 'no spaces');
    type('Password', 'Secret-12345');
    // jsdom does not block the submit on `pattern`, so this is the page's own check.
    await act(async () => {
      fireEvent.submit(screen.getByRole('button', { name: 'Sign up' }).closest('form'));
    });
    expect(screen.getByRole('alert').textContent).toMatch(/only letters, digits and _/);
    expect(signUp).not.toHaveBeenCalled();
  });

  it("shows Cognito's error and stays on the form", async () => {
    const err = Object.assign(new Error('An account with this email already exists: sign in instead.'), {
      code: 'UsernameExistsException',
    });
    const signUp = vi.fn(async () => {
      throw err;
    });
    renderPage(<SignUpPage />, { auth: authWith(signUp) });
    type('Name', 'A');
    type('Email', 'a@example.com');
    type('Username', 'a');
    type('Password', 'Secret-12345');
    await submit('Sign up');
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('already exists'));
    expect(screen.getByRole('heading', { name: 'Sign up for Cruddur' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Sign up' }).disabled).toBe(false);
  });

  it('normalises the handle as the backend stores it', () => {
    expect(normalizeHandle(' @Ann_Lee ')).toBe('ann_lee');
    expect(normalizeHandle('bayko')).toBe('bayko');
  });
});
