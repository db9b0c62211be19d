import { render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { activity } from '../test/helpers.jsx';
import ActivityFeed from './ActivityFeed.jsx';

function renderFeed(props) {
  return render(
    <MemoryRouter>
      <ActivityFeed {...props} />
    </MemoryRouter>,
  );
}

describe('ActivityFeed', () => {
  it('renders one article per activity with author, handle, message and counts', () => {
    const list = [
      activity({ uuid: 'a1', message: 'First crud' }),
      activity({ uuid: 'a2', handle: 'worf', display_name: 'Worf', message: 'Second crud', likes_count: 0, replies_count: 3 }),
    ];
    renderFeed({ activities: list });
    const items = screen.getAllByTestId('activity');
    expect(items).toHaveLength(2);
    expect(within(items[0]).getByText('First crud')).toBeTruthy();
    expect(within(items[0]).getByText('Andrew Brown').getAttribute('href')).toBe('/@andrewbrown');
    expect(within(items[1]).getByText('@worf')).toBeTruthy();
    expect(within(items[1]).getByLabelText('3 replies').getAttribute('href')).toBe('/@worf/status/a2');
    expect(within(items[0]).getByText(/expires in/)).toBeTruthy();
    expect(screen.queryByTestId('feed-empty')).toBeNull();
  });

  it('keeps the order the API sent', () => {
    renderFeed({ activities: ['c', 'a', 'b'].map((m) => activity({ uuid: m, message: m })) });
    expect(screen.getAllByTestId('activity').map((el) => el.dataset.uuid)).toEqual(['c', 'a', 'b']);
  });

  it('shows the empty state for an empty list', () => {
    renderFeed({ activities: [], emptyText: 'No cruds yet.' });
    expect(screen.getByTestId('feed-empty').textContent).toBe('No cruds yet.');
    expect(screen.queryAllByTestId('activity')).toHaveLength(0);
  });

  it('treats a missing list as empty instead of crashing', () => {
    renderFeed({ activities: null });
    expect(screen.getByTestId('feed-empty')).toBeTruthy();
  });

  it('omits the expiry when expires_at is null', () => {
    renderFeed({ activities: [activity({ expires_at: null })] });
    expect(screen.queryByText(/expires in/)).toBeNull();
  });
});
