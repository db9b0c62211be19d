import { act, fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { activity, jsonResponse, renderPage, signedInAuth } from '../test/helpers.jsx';
import FeedPage from './FeedPage.jsx';

const home = <FeedPage title="Home" path="/api/activities/home" compose emptyText="No cruds yet." />;

describe('FeedPage (home feed)', () => {
  it('loads and renders the activities', async () => {
    const fetch = vi.fn(async () => jsonResponse([activity({ uuid: 'x1' })]));
    vi.stubGlobal('fetch', fetch);
    renderPage(home);
    expect(await screen.findByText('This was imported as seed data!')).toBeTruthy();
    expect(fetch.mock.calls[0][0]).toBe('http://api.test/api/activities/home');
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.queryByText(/Loading/)).toBeNull();
  });

  it('shows the empty state', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse([])));
    renderPage(home);
    expect((await screen.findByTestId('feed-empty')).textContent).toBe('No cruds yet.');
  });

  it('shows a network failure as "Could not reach the Cruddur API", not a spinner', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    renderPage(home);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Could not reach the Cruddur API (http://api.test: Failed to fetch)');
    expect(screen.queryByText(/Loading/)).toBeNull();
  });

  it("shows the server's error text for a 5xx", async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse({ error: 'database is unavailable' }, 503)));
    renderPage(home);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('database is unavailable');
    expect(alert.textContent).not.toContain('Could not reach');
  });

  it('retries after an error', async () => {
    const fetch = vi
      .fn()
      .mockImplementationOnce(async () => jsonResponse({ error: 'try later' }, 500))
      .mockImplementationOnce(async () => jsonResponse([activity({ message: 'back again' })]));
    vi.stubGlobal('fetch', fetch);
    renderPage(home);
    fireEvent.click(await screen.findByRole('button', { name: 'Retry' }));
    expect(await screen.findByText('back again')).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('hides the compose form when not signed in', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse([])));
    renderPage(home);
    await screen.findByTestId('feed-empty');
    expect(screen.queryByRole('textbox')).toBeNull();
  });

  it('posts a crud with the bearer token and puts it on top of the feed', async () => {
    const fetch = vi.fn(async (url, init) => {
      if (init.method === 'POST') {
        return jsonResponse(activity({ uuid: 'new', message: JSON.parse(init.body).message }), 201);
      }
      return jsonResponse([activity({ uuid: 'old', message: 'older crud' })]);
    });
    vi.stubGlobal('fetch', fetch);
    renderPage(home, { auth: signedInAuth('jwt-123') });
    await screen.findByText('older crud');
    fireEvent.change(screen.getByRole('textbox'), { target: { value: 'brand new crud' } });
    fireEvent.change(screen.getByLabelText('Expires after'), { target: { value: '1-hour' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Crud' }));
    });
    const post = fetch.mock.calls.find(([, init]) => init.method === 'POST');
    expect(post[0]).toBe('http://api.test/api/activities');
    expect(post[1].headers.Authorization).toBe('Bearer jwt-123');
    expect(JSON.parse(post[1].body)).toEqual({ message: 'brand new crud', ttl: '1-hour' });
    await waitFor(() =>
      expect(screen.getAllByTestId('activity').map((el) => el.dataset.uuid)).toEqual(['new', 'old']),
    );
  });
});
