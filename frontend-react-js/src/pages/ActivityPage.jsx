import { useParams } from 'react-router';
import ActivityFeed from '../components/ActivityFeed.jsx';
import ActivityItem from '../components/ActivityItem.jsx';
import ComposeForm from '../components/ComposeForm.jsx';
import ErrorAlert from '../components/ErrorAlert.jsx';
import Loading from '../components/Loading.jsx';
import { useAuth } from '../lib/auth.jsx';
import { ACTIVITY_MAX } from '../lib/format.js';
import { useApi, useResource } from '../lib/hooks.js';
import NotFoundPage from './NotFoundPage.jsx';

export default function ActivityPage() {
  const { at = '', uuid = '' } = useParams();
  const valid = at.startsWith('@') && uuid;
  const { status } = useAuth();
  const api = useApi();
  const { data, error, loading, setData, reload } = useResource(
    valid ? `/api/activities/${encodeURIComponent(uuid)}` : null,
    { auth: 'optional' },
  );
  if (!valid) return <NotFoundPage />;

  async function reply(message) {
    const created = await api(`/api/activities/${encodeURIComponent(uuid)}/reply`, {
      method: 'POST',
      body: { message },
      auth: true,
    });
    setData((d) => ({
      activity: { ...d.activity, replies_count: (d.activity.replies_count || 0) + 1 },
      replies: [...(d.replies || []), created],
    }));
  }

  return (
    <>
      <h1>Crud</h1>
      {loading ? <Loading /> : null}
      <ErrorAlert error={error} onRetry={error && error.status === 404 ? undefined : reload} />
      {data && data.activity ? (
        <>
          <ActivityItem activity={data.activity} />
          {status === 'signedIn' ? (
            <ComposeForm
              maxLength={ACTIVITY_MAX}
              onSubmit={reply}
              label="Reply"
              placeholder="Crud your reply"
              submitLabel="Reply"
            />
          ) : null}
          <h2>Replies</h2>
          <ActivityFeed activities={data.replies} emptyText="No replies yet." label="Replies" />
        </>
      ) : null}
    </>
  );
}
