import { timeAgo } from '../lib/format.js';

export default function MessageList({ messages, emptyText = 'No messages yet.' }) {
  const list = Array.isArray(messages) ? messages : [];
  if (list.length === 0) return <p className="empty">{emptyText}</p>;
  return (
    <ol className="messages">
      {list.map((m) => (
        <li key={m.uuid} className="message-item" data-testid="message">
          <div className="activity-head">
            <span className="display-name">{m.display_name || m.handle}</span>
            <span className="handle">@{m.handle}</span>
            <span className="time" title={m.created_at}>
              {timeAgo(m.created_at)}
            </span>
          </div>
          <p className="message">{m.message}</p>
        </li>
      ))}
    </ol>
  );
}
