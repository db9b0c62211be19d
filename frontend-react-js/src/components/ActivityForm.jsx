import { useState } from 'react';
import { ACTIVITY_MAX, TTL_OPTIONS } from '../lib/format.js';
import { useApi } from '../lib/hooks.js';
import ComposeForm from './ComposeForm.jsx';

export default function ActivityForm({ onCreated }) {
  const api = useApi();
  const [ttl, setTtl] = useState('7-days');
  async function submit(message) {
    const activity = await api('/api/activities', { method: 'POST', body: { message, ttl }, auth: true });
    if (onCreated) onCreated(activity);
  }
  return (
    <ComposeForm maxLength={ACTIVITY_MAX} onSubmit={submit} label="New crud" submitLabel="Crud">
      <label className="ttl">
        <span className="visually-hidden">Expires after</span>
        <select value={ttl} onChange={(e) => setTtl(e.target.value)} aria-label="Expires after">
          {TTL_OPTIONS.map(([value, text]) => (
            <option key={value} value={value}>
              {text}
            </option>
          ))}
        </select>
      </label>
    </ComposeForm>
  );
}
