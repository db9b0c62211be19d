import { errorMessage } from '../lib/api.js';

export default function ErrorAlert({ error, onRetry }) {
  if (!error) return null;
  return (
    <div role="alert" className="alert">
      <span className="alert-text">{errorMessage(error)}</span>
      {onRetry ? (
        <button type="button" className="link-button" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}
