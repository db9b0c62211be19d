import { Link } from 'react-router';

export default function NotFoundPage() {
  return (
    <>
      <h1>Page not found</h1>
      <p className="empty">
        There is nothing here. <Link to="/">Back to the home feed</Link>.
      </p>
    </>
  );
}
