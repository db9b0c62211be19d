export default function Loading({ what = 'Loading' }) {
  return (
    <p className="loading" aria-busy="true" aria-live="polite">
      {what}…
    </p>
  );
}
