import { Link, useNavigate, useParams } from 'react-router';
import ComposeForm from '../components/ComposeForm.jsx';
import ErrorAlert from '../components/ErrorAlert.jsx';
import Loading from '../components/Loading.jsx';
import MessageList from '../components/MessageList.jsx';
import RequireSignIn from '../components/RequireSignIn.jsx';
import { MESSAGE_MAX } from '../lib/format.js';
import { useApi, useResource } from '../lib/hooks.js';

function Conversation({ groupUuid }) {
  const api = useApi();
  const { data, error, loading, setData, reload } = useResource(
    `/api/messages/${encodeURIComponent(groupUuid)}`,
    { auth: true },
  );
  async function send(message) {
    const created = await api('/api/messages', {
      method: 'POST',
      body: { message, message_group_uuid: groupUuid },
      auth: true,
    });
    setData((list) => [...(Array.isArray(list) ? list : []), created]);
  }
  return (
    <>
      {loading ? <Loading /> : null}
      <ErrorAlert error={error} onRetry={reload} />
      {!loading && !error ? <MessageList messages={data} /> : null}
      {!error ? (
        <ComposeForm maxLength={MESSAGE_MAX} onSubmit={send} label="Message" placeholder="Send a message" submitLabel="Send" />
      ) : null}
    </>
  );
}

function NewConversation({ handle }) {
  const api = useApi();
  const navigate = useNavigate();
  const { data, error, loading } = useResource(`/api/users/@${encodeURIComponent(handle)}/short`, {
    auth: true,
  });
  async function send(message) {
    const created = await api('/api/messages', { method: 'POST', body: { message, handle }, auth: true });
    const group = created && created.message_group_uuid;
    navigate(group ? `/messages/${encodeURIComponent(group)}` : '/messages');
  }
  if (loading) return <Loading />;
  if (error) return <ErrorAlert error={error} />;
  return (
    <>
      <p>
        New conversation with <strong>{data.display_name || data.handle}</strong>{' '}
        <span className="handle">@{data.handle}</span>
      </p>
      <ComposeForm maxLength={MESSAGE_MAX} onSubmit={send} label="Message" placeholder="Send a message" submitLabel="Send" />
    </>
  );
}

export default function MessageGroupPage() {
  const { groupUuid, handle } = useParams();
  return (
    <>
      <h1>
        <Link to="/messages">Messages</Link> {handle ? `› @${handle}` : ''}
      </h1>
      <RequireSignIn what="your messages">
        {handle ? <NewConversation handle={handle} /> : <Conversation groupUuid={groupUuid} />}
      </RequireSignIn>
    </>
  );
}
