import { useState } from 'react';
import { useSearchParams } from 'react-router';
import ActivityFeed from '../components/ActivityFeed.jsx';
import ErrorAlert from '../components/ErrorAlert.jsx';
import Loading from '../components/Loading.jsx';
import { useResource } from '../lib/hooks.js';

export default function SearchPage() {
  const [params, setParams] = useSearchParams();
  const term = (params.get('term') || '').trim();
  const [input, setInput] = useState(term);
  const { data, error, loading, reload } = useResource(
    term ? `/api/activities/search?term=${encodeURIComponent(term)}` : null,
    { auth: 'optional' },
  );
  function submit(e) {
    e.preventDefault();
    const t = input.trim();
    setParams(t ? { term: t } : {});
  }
  return (
    <>
      <h1>Search</h1>
      <form className="search" role="search" onSubmit={submit}>
        <input
          type="search"
          aria-label="Search cruds"
          placeholder="Search cruds"
          value={input}
          onChange={(e) => setInput(e.target.value)}
        />
        <button type="submit">Search</button>
      </form>
      {loading ? <Loading what="Searching" /> : null}
      <ErrorAlert error={error} onRetry={reload} />
      {term && !loading && !error ? (
        <ActivityFeed activities={data} emptyText={`No cruds match “${term}”.`} label="Search results" />
      ) : null}
    </>
  );
}
