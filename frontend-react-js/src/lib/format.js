// Characters as the API counts them: code points, so an emoji counts once.
export function countChars(text) {
  return Array.from(text || '').length;
}

function parse(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

function span(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

/** "5m", "3h", "2d" since `iso`; a full date when older than a week. */
export function timeAgo(iso, now = Date.now()) {
  const t = parse(iso);
  if (t === null) return '';
  const diff = now - t;
  if (diff < 0) return 'just now';
  if (diff > 7 * 24 * 3600 * 1000) return new Date(t).toLocaleDateString();
  return span(diff);
}

/** "expires in 3h", or "" when there is no expiry. */
export function expiresIn(iso, now = Date.now()) {
  const t = parse(iso);
  if (t === null) return '';
  if (t <= now) return 'expired';
  return `expires in ${span(t - now)}`;
}

export const TTL_OPTIONS = [
  ['30-days', '30 days'],
  ['7-days', '7 days'],
  ['3-days', '3 days'],
  ['1-day', '1 day'],
  ['12-hours', '12 hours'],
  ['3-hours', '3 hours'],
  ['1-hour', '1 hour'],
];

export const ACTIVITY_MAX = 280;
export const MESSAGE_MAX = 1024;
