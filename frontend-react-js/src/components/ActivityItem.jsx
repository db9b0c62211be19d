import { Link } from 'react-router';
import { expiresIn, timeAgo } from '../lib/format.js';

export default function ActivityItem({ activity, now }) {
  const a = activity;
  const statusUrl = `/@${encodeURIComponent(a.handle)}/status/${encodeURIComponent(a.uuid)}`;
  const expiry = expiresIn(a.expires_at, now);
  return (
    <article className="activity" data-testid="activity" data-uuid={a.uuid}>
      <header className="activity-head">
        <Link className="display-name" to={`/@${encodeURIComponent(a.handle)}`}>
          {a.display_name || a.handle}
        </Link>
        <span className="handle">@{a.handle}</span>
        <Link className="time" to={statusUrl} title={a.created_at}>
          {timeAgo(a.created_at, now)}
        </Link>
      </header>
      <p className="message">{a.message}</p>
      <footer className="activity-foot">
        <Link to={statusUrl} aria-label={`${a.replies_count || 0} replies`}>
          ↩ {a.replies_count || 0}
        </Link>
        <span aria-label={`${a.reposts_count || 0} reposts`}>⇄ {a.reposts_count || 0}</span>
        <span aria-label={`${a.likes_count || 0} likes`}>♥ {a.likes_count || 0}</span>
        {expiry ? <span className="expires">{expiry}</span> : null}
      </footer>
    </article>
  );
}
