import ActivityItem from './ActivityItem.jsx';

export default function ActivityFeed({ activities, emptyText = 'Nothing to see here yet.', label = 'Cruds', now }) {
  const list = Array.isArray(activities) ? activities : [];
  if (list.length === 0) {
    return (
      <p className="empty" data-testid="feed-empty">
        {emptyText}
      </p>
    );
  }
  return (
    <section className="feed" aria-label={label}>
      {list.map((a) => (
        <ActivityItem key={a.uuid} activity={a} now={now} />
      ))}
    </section>
  );
}
