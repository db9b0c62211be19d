import ActivityFeed from '../components/ActivityFeed.jsx';
import ActivityForm from '../components/ActivityForm.jsx';
import ErrorAlert from '../components/ErrorAlert.jsx';
import Loading from '../components/Loading.jsx';
import { useAuth } from '../lib/auth.jsx';
import { useResource } from '../lib/hooks.js';

/** A page that shows one list of activities: the home feed or notifications. */
export default function FeedPage({ title, path, emptyText, compose = false }) {
  const { status } = useAuth();
  const { data, error, loading, setData, reload } = useResource(path, { auth: 'optional' });
  return (
    <>
      <h1>{title}</h1>
      {compose && status === 'signedIn' ? (
        <ActivityForm onCreated={(a) => setData((list) => [a, ...(Array.isArray(list) ? list : [])])} />
      ) : null}
      {loading ? <Loading /> : null}
      <ErrorAlert error={error} onRetry={reload} />
      {!loading && !error ? <ActivityFeed activities={data} emptyText={emptyText} label={title} /> : null}
    </>
  );
}
