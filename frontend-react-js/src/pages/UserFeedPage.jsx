import { Link, useParams } from 'react-router';
import ActivityFeed from '../components/ActivityFeed.jsx';
import ErrorAlert from '../components/ErrorAlert.jsx';
import Loading from '../components/Loading.jsx';
import { useAuth } from '../lib/auth.jsx';
import { useResource } from '../lib/hooks.js';
import NotFoundPage from './NotFoundPage.jsx';

export default function UserFeedPage() {
  const { at = '' } = useParams();
  const handle = at.startsWith('@') ? at.slice(1) : null;
  const { user } = useAuth();
  const { data, error, loading, reload } = useResource(
    handle ? `/api/activities/@${encodeURIComponent(handle)}` : null,
    { auth: 'optional' },
  );
  if (!handle) return <NotFoundPage />;
  const profile = data && data.profile;
  return (
    <>
      {loading ? <Loading /> : null}
      <ErrorAlert error={error} onRetry={error && error.status === 404 ? undefined : reload} />
      {profile ? (
        <>
          <section className="profile">
            <h1>{profile.display_name || profile.handle}</h1>
            <p className="handle">@{profile.handle}</p>
            {profile.bio ? <p className="bio">{profile.bio}</p> : null}
            <p className="cruds-count">
              {profile.cruds_count ?? 0} Crud{profile.cruds_count === 1 ? '' : 's'}
            </p>
            {user && user.handle !== profile.handle ? (
              <Link className="button" to={`/messages/new/${encodeURIComponent(profile.handle)}`}>
                Message
              </Link>
            ) : null}
          </section>
          <ActivityFeed activities={data.activities} emptyText={`@${profile.handle} has not crudded yet.`} />
        </>
      ) : null}
      {!loading && !error && !profile ? <h1>@{handle}</h1> : null}
    </>
  );
}
