import { useId, useState } from 'react';
import { countChars } from '../lib/format.js';
import ErrorAlert from './ErrorAlert.jsx';

/**
 * A textarea with a live character counter. Submit is disabled when the text
 * is empty or longer than `maxLength`; `onSubmit(message)` may return a promise,
 * and the text is cleared when it resolves. `children` go before the button
 * (e.g. the TTL select).
 */
export default function ComposeForm({
  maxLength,
  onSubmit,
  label = 'Message',
  placeholder = "What's happening?",
  submitLabel = 'Crud',
  children,
  className = '',
}) {
  const id = useId();
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const count = countChars(text);
  const over = count > maxLength;
  const empty = text.trim().length === 0;

  async function handleSubmit(e) {
    e.preventDefault();
    if (over || empty || busy) return;
    setBusy(true);
    setError(null);
    try {
      await onSubmit(text.trim());
      setText('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className={`compose ${className}`} onSubmit={handleSubmit}>
      <label htmlFor={id} className="visually-hidden">
        {label}
      </label>
      <textarea
        id={id}
        value={text}
        placeholder={placeholder}
        aria-invalid={over}
        aria-describedby={`${id}-count`}
        onChange={(e) => setText(e.target.value)}
        rows={3}
      />
      <div className="compose-bar">
        <span
          id={`${id}-count`}
          className={`counter${over ? ' over' : ''}`}
          data-testid="char-counter"
          aria-live="polite"
        >
          {count}/{maxLength}
        </span>
        {children}
        <button type="submit" disabled={over || empty || busy}>
          {busy ? 'Sending…' : submitLabel}
        </button>
      </div>
      {over ? (
        <p className="hint over">
          {count - maxLength} character{count - maxLength === 1 ? '' : 's'} over the limit of {maxLength}.
        </p>
      ) : null}
      <ErrorAlert error={error} />
    </form>
  );
}
