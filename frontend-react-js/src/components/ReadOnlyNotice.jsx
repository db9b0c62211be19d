export default function ReadOnlyNotice() {
  return (
    <div role="status" className="notice" data-testid="read-only-notice">
      <strong>Read-only mode.</strong> Sign-in is not configured for this deployment
      (REACT_APP_AWS_USER_POOLS_ID and REACT_APP_CLIENT_ID are not set): you can read cruds,
      but not sign in, post or send messages.
    </div>
  );
}
