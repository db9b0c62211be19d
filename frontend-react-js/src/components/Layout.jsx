import { Link, NavLink, Outlet, useLocation } from 'react-router';
import { useAuth } from '../lib/auth.jsx';
import ErrorBoundary from './ErrorBoundary.jsx';
import ReadOnlyNotice from './ReadOnlyNotice.jsx';

function Account() {
  const { status, user, signOut } = useAuth();
  if (status === 'disabled') return null;
  if (status === 'loading') return <p className="account">…</p>;
  if (status === 'signedIn' && user) {
    return (
      <div className="account">
        <span className="display-name">{user.name}</span>
        {user.handle ? <span className="handle">@{user.handle}</span> : null}
        <button type="button" className="link-button" onClick={signOut}>
          Sign out
        </button>
      </div>
    );
  }
  return (
    <div className="account">
      <Link className="button" to="/signin">
        Sign in
      </Link>
      <Link to="/signup">Sign up</Link>
    </div>
  );
}

export default function Layout({ children }) {
  const { configured, status, user } = useAuth();
  const location = useLocation();
  return (
    <div className="layout">
      <nav className="sidebar" aria-label="Main">
        <Link to="/" className="logo">
          Cruddur
        </Link>
        <NavLink to="/" end>
          Home
        </NavLink>
        <NavLink to="/notifications">Notifications</NavLink>
        <NavLink to="/search">Search</NavLink>
        {configured ? <NavLink to="/messages">Messages</NavLink> : null}
        {status === 'signedIn' && user && user.handle ? (
          <NavLink to={`/@${encodeURIComponent(user.handle)}`}>Profile</NavLink>
        ) : null}
        <Account />
      </nav>
      <main className="content">
        {configured ? null : <ReadOnlyNotice />}
        <ErrorBoundary resetKey={location.pathname}>{children ?? <Outlet />}</ErrorBoundary>
      </main>
    </div>
  );
}
