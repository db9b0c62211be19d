import { Link } from 'react-router';
import { useAuth } from '../lib/auth.jsx';
import Loading from './Loading.jsx';

/** Renders children only for a signed-in user; otherwise says why not. */
export default function RequireSignIn({ what = 'this page', children }) {
  const { status } = useAuth();
  if (status === 'signedIn') return children;
  if (status === 'loading') return <Loading what="Checking sign-in" />;
  if (status === 'disabled') {
    return <p className="empty">Sign-in is not configured, so {what} is not available in read-only mode.</p>;
  }
  return (
    <p className="empty">
      <Link to="/signin">Sign in</Link> to see {what}.
    </p>
  );
}
