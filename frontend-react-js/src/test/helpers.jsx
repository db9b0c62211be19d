import { render } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { AuthContext } from '../lib/auth.jsx';
import { readConfig } from '../lib/config.js';
import { ConfigContext } from '../lib/hooks.js';

export const BACKEND = 'http://api.test';

export function activity(overrides = {}) {
  return {
    uuid: overrides.uuid || `uuid-${Math.random().toString(16).slice(2)}`,
    handle: 'andrewbrown',
    display_name: 'Andrew Brown',
    message: 'This was imported as seed data!',
    created_at: new Date(Date.now() - 3600 * 1000).toISOString(),
    expires_at: new Date(Date.now() + 5 * 24 * 3600 * 1000).toISOString(),
    likes_count: 5,
    replies_count: 1,
    reposts_count: 0,
    reply_to_activity_uuid: null,
    ...overrides,
  };
}

export function readOnlyAuth() {
  return { configured: false, status: 'disabled', user: null, getAccessToken: async () => null };
}

export function signedInAuth(token = 'test-access-token') {
  return {
    configured: true,
    status: 'signedIn',
    user: { name: 'Andrew Brown', handle: 'andrewbrown', email: 'andrew@example.com' },
    getAccessToken: async () => token,
    signOut() {},
  };
}

/** JSON Response for a stubbed fetch. */
export function jsonResponse(body, status = 200) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

/**
 * Renders `element` at `route` (matched by `path`) inside the app's contexts.
 * `env` is the REACT_APP_* environment, `auth` an AuthContext value.
 */
export function renderPage(element, { route = '/', path = '*', env = {}, auth = readOnlyAuth() } = {}) {
  const config = readConfig({ REACT_APP_BACKEND_URL: BACKEND, ...env });
  return render(
    <ConfigContext.Provider value={config}>
      <AuthContext.Provider value={auth}>
        <MemoryRouter initialEntries={[route]}>
          <Routes>
            <Route path={path} element={element} />
          </Routes>
        </MemoryRouter>
      </AuthContext.Provider>
    </ConfigContext.Provider>,
  );
}
