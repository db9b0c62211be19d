import { Link } from 'react-router';
import ErrorAlert from '../components/ErrorAlert.jsx';
import Loading from '../components/Loading.jsx';
import RequireSignIn from '../components/RequireSignIn.jsx';
import { timeAgo } from '../lib/format.js';
import { useResource } from '../lib/hooks.js';

export function MessageGroups() {
  const { data, error, loading, reload } = useResource('/api/message_groups', { auth: true });
  if (loading) return <Loading />;
  if (error) return <ErrorAlert error={error} onRetry={reload} />;
  const groups = Array.isArray(data) ? data : [];
  if (groups.length === 0) {
    return <p className="empty">No conversations yet. Open someone's profile to message them.</p>;
  }
  return (
    <ul className="message-groups">
      {groups.map((g) => (
        <li key={g.uuid}>
          <Link to={`/messages/${encodeURIComponent(g.uuid)}`} className="message-group" data-testid="message-group">
            <span className="display-name">{g.display_name || g.handle}</span>
            <span className="handle">@{g.handle}</span>
            <span className="time">{timeAgo(g.created_at)}</span>
            <span className="preview">{g.message}</span>
          </Link>
        </li>
      ))}
    </ul>
  );
}

export default function MessageGroupsPage() {
  return (
    <>
      <h1>Messages</h1>
      <RequireSignIn what="your messages">
        <MessageGroups />
      </RequireSignIn>
    </>
  );
}
