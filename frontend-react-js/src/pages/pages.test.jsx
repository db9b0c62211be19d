import { act, fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import App from '../App.jsx';
import Layout from '../components/Layout.jsx';
import { activity, jsonResponse, renderPage, signedInAuth } from '../test/helpers.jsx';
import ActivityPage from './ActivityPage.jsx';
import { SignInPage } from './AuthPages.jsx';
import MessageGroupsPage from './MessageGroupsPage.jsx';
import UserFeedPage from './UserFeedPage.jsx';

describe('read-only mode', () => {
  it('shows the notice when Cognito is not configured, and still the feed', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse([activity()])));
    window.history.pushState({}, '', '/');
    render(<App env={{ REACT_APP_BACKEND_URL: 'http://api.test' }} />);
    const notice = screen.getByTestId('read-only-notice');
    expect(notice.getAttribute('role')).toBe('status');
    expect(notice.textContent).toContain('Read-only mode');
    expect(await screen.findByText('This was imported as seed data!')).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'Messages' })).toBeNull();
  });

  it('does not show the notice when Cognito is configured', () => {
    renderPage(<Layout><p>content</p></Layout>, { auth: { ...signedInAuth(), status: 'signedOut', user: null } });
    expect(screen.queryByTestId('read-only-notice')).toBeNull();
    expect(screen.getByRole('link', { name: 'Sign in' })).toBeTruthy();
  });

  it('says sign-in is not configured on the sign-in page', () => {
    renderPage(<SignInPage />);
    expect(screen.getByText(/Sign-in is not configured/)).toBeTruthy();
    expect(screen.queryByLabelText('Password')).toBeNull();
  });

  it('explains why messages are unavailable instead of calling the API', () => {
    const fetch = vi.fn();
    vi.stubGlobal('fetch', fetch);
    renderPage(<MessageGroupsPage />);
    expect(screen.getByText(/not available in read-only mode/)).toBeTruthy();
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe('profile and activity pages', () => {
  it('renders a profile with its activities', async () => {
    const fetch = vi.fn(async () =>
      jsonResponse({
        profile: { uuid: 'u', handle: 'andrewbrown', display_name: 'Andrew Brown', bio: 'Teaches cloud', cruds_count: 2 },
        activities: [activity({ uuid: 'p1' }), activity({ uuid: 'p2', message: 'another' })],
      }),
    );
    vi.stubGlobal('fetch', fetch);
    renderPage(<UserFeedPage />, { route: '/@andrewbrown', path: '/:at' });
    expect(await screen.findByRole('heading', { name: 'Andrew Brown' })).toBeTruthy();
    expect(screen.getByText('Teaches cloud')).toBeTruthy();
    expect(screen.getByText('2 Cruds')).toBeTruthy();
    expect(screen.getAllByTestId('activity')).toHaveLength(2);
    expect(fetch.mock.calls[0][0]).toBe('http://api.test/api/activities/@andrewbrown');
  });

  it("shows the server's 404 text for an unknown handle", async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse({ error: 'no user @nobody' }, 404)));
    renderPage(<UserFeedPage />, { route: '/@nobody', path: '/:at' });
    expect((await screen.findByRole('alert')).textContent).toBe('no user @nobody');
  });

  it('treats a path without "@" as not found, without calling the API', () => {
    const fetch = vi.fn();
    vi.stubGlobal('fetch', fetch);
    renderPage(<UserFeedPage />, { route: '/whatever', path: '/:at' });
    expect(screen.getByRole('heading', { name: 'Page not found' })).toBeTruthy();
    expect(fetch).not.toHaveBeenCalled();
  });

  it('shows an activity with its replies and posts a reply', async () => {
    const fetch = vi.fn(async (url, init) => {
      if (init.method === 'POST') return jsonResponse(activity({ uuid: 'r2', message: 'my reply', reply_to_activity_uuid: 'a1' }), 201);
      return jsonResponse({
        activity: activity({ uuid: 'a1', message: 'the crud', replies_count: 1 }),
        replies: [activity({ uuid: 'r1', message: 'first reply', reply_to_activity_uuid: 'a1' })],
      });
    });
    vi.stubGlobal('fetch', fetch);
    renderPage(<ActivityPage />, { route: '/@andrewbrown/status/a1', path: '/:at/status/:uuid', auth: signedInAuth('tok') });
    expect(await screen.findByText('the crud')).toBeTruthy();
    expect(screen.getByText('first reply')).toBeTruthy();
    fireEvent.change(screen.getByRole('textbox'), { target: { value: 'my reply' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Reply' }));
    });
    const post = fetch.mock.calls.find(([, init]) => init.method === 'POST');
    expect(post[0]).toBe('http://api.test/api/activities/a1/reply');
    expect(post[1].headers.Authorization).toBe('Bearer tok');
    expect(JSON.parse(post[1].body)).toEqual({ message: 'my reply' });
    expect(await screen.findByText('my reply')).toBeTruthy();
    expect(screen.getByLabelText('2 replies')).toBeTruthy();
  });
});

describe('unexpected failures', () => {
  it('shows an alert instead of a blank page when a page crashes', () => {
    function Broken() {
      throw new Error('kaboom');
    }
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    renderPage(<Layout><Broken /></Layout>);
    expect(screen.getByRole('alert').textContent).toContain('Something went wrong showing this page (kaboom)');
    expect(screen.getByText('Cruddur')).toBeTruthy();
    spy.mockRestore();
  });
});
