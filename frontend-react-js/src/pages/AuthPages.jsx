import { useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import ErrorAlert from '../components/ErrorAlert.jsx';
import { useAuth } from '../lib/auth.jsx';

function NotConfigured({ title }) {
  return (
    <>
      <h1>{title}</h1>
      <p className="empty">
        Sign-in is not configured for this deployment, so the app runs read-only.{' '}
        <Link to="/">Read the home feed</Link>.
      </p>
    </>
  );
}

function Field({ label, ...props }) {
  return (
    <label className="field">
      <span>{label}</span>
      <input required {...props} />
    </label>
  );
}

/** Runs `action` while showing busy state and a readable error. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function run(action) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}

export function SignInPage() {
  const auth = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState(params.get('email') || '');
  const [password, setPassword] = useState('');
  const { busy, error, run } = useAction();
  if (!auth.configured) return <NotConfigured title="Sign in" />;

  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      try {
        await auth.signIn(email, password);
        navigate('/');
      } catch (err) {
        if (err.code === 'UserNotConfirmedException') {
          navigate(`/confirm?email=${encodeURIComponent(email)}`);
          return;
        }
        throw err;
      }
    });
  };
  return (
    <>
      <h1>Sign in to Cruddur</h1>
      {params.get('confirmed') ? <p className="success">Your account is confirmed: sign in.</p> : null}
      {params.get('reset') ? <p className="success">Your password was changed: sign in.</p> : null}
      <form className="auth-form" onSubmit={submit}>
        <Field label="Email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <ErrorAlert error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p>
        <Link to="/forgot">Forgot password?</Link> · New to Cruddur? <Link to="/signup">Sign up</Link>
      </p>
    </>
  );
}

/** The handle as the backend stores it: no leading "@", lower case. */
export function normalizeHandle(handle) {
  return handle.trim().replace(/^@+/, '').toLowerCase();
}

// Same fields as the original Cruddur's sign-up page. Cognito keeps them as the
// user's attributes (name, email, preferred_username); the API creates the
// Cruddur user from them on the first signed-in request.
export function SignUpPage() {
  const auth = useAuth();
  const navigate = useNavigate();
  const [fields, setFields] = useState({ name: '', email: '', handle: '', password: '' });
  const { busy, error, run } = useAction();
  if (!auth.configured) return <NotConfigured title="Sign up" />;
  const set = (k) => (e) => setFields((f) => ({ ...f, [k]: e.target.value }));
  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      const handle = normalizeHandle(fields.handle);
      if (!/^[a-z0-9_]{1,32}$/.test(handle)) {
        throw new Error('The username may hold only letters, digits and _ (at most 32).');
      }
      const email = fields.email.trim();
      const { confirmed } = await auth.signUp({ ...fields, email, handle });
      navigate(confirmed ? `/signin?email=${encodeURIComponent(email)}` : `/confirm?email=${encodeURIComponent(email)}`);
    });
  };
  return (
    <>
      <h1>Sign up for Cruddur</h1>
      <form className="auth-form" onSubmit={submit}>
        <Field label="Name" autoComplete="name" value={fields.name} onChange={set('name')} />
        <Field label="Email" type="email" autoComplete="email" value={fields.email} onChange={set('email')} />
        <Field
          label="Username"
          autoComplete="nickname"
          autoCapitalize="none"
          spellCheck={false}
          pattern="@?[A-Za-z0-9_]{1,32}"
          title="Letters, digits and _ (at most 32); this is your @handle"
          value={fields.handle}
          onChange={set('handle')}
        />
        <Field label="Password" type="password" autoComplete="new-password" minLength={8} value={fields.password} onChange={set('password')} />
        <ErrorAlert error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing up…' : 'Sign up'}
        </button>
      </form>
      <p>
        Have an account? <Link to="/signin">Sign in</Link>
      </p>
    </>
  );
}

export function ConfirmPage() {
  const auth = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState(params.get('email') || '');
  const [code, setCode] = useState('');
  const [resent, setResent] = useState(false);
  const { busy, error, run } = useAction();
  if (!auth.configured) return <NotConfigured title="Confirm your email" />;
  const submit = (e) => {
    e.preventDefault();
    run(async () => {
      await auth.confirmSignUp(email, code);
      navigate(`/signin?confirmed=1&email=${encodeURIComponent(email)}`);
    });
  };
  const resend = () =>
    run(async () => {
      setResent(false);
      await auth.resendCode(email);
      setResent(true);
    });
  return (
    <>
      <h1>Confirm your email</h1>
      <form className="auth-form" onSubmit={submit}>
        <Field label="Email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field label="Confirmation code" inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} />
        <ErrorAlert error={error} />
        {resent ? <p className="success">A new code was sent to {email}.</p> : null}
        <button type="submit" disabled={busy}>
          Confirm
        </button>
        <button type="button" className="link-button" disabled={busy || !email} onClick={resend}>
          Resend code
        </button>
      </form>
    </>
  );
}

export function RecoverPage() {
  const auth = useAuth();
  const navigate = useNavigate();
  const [step, setStep] = useState('email');
  const [email, setEmail] = useState('');
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const { busy, error, run } = useAction();
  if (!auth.configured) return <NotConfigured title="Recover your password" />;

  const sendCode = (e) => {
    e.preventDefault();
    run(async () => {
      await auth.forgotPassword(email);
      setStep('code');
    });
  };
  const reset = (e) => {
    e.preventDefault();
    run(async () => {
      if (password !== again) throw new Error('The two passwords are not the same.');
      await auth.confirmPassword(email, code, password);
      navigate(`/signin?reset=1&email=${encodeURIComponent(email)}`);
    });
  };
  return (
    <>
      <h1>Recover your password</h1>
      {step === 'email' ? (
        <form className="auth-form" onSubmit={sendCode}>
          <Field label="Email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
          <ErrorAlert error={error} />
          <button type="submit" disabled={busy}>
            Send recovery code
          </button>
        </form>
      ) : (
        <form className="auth-form" onSubmit={reset}>
          <p>A recovery code was sent to {email}.</p>
          <Field label="Recovery code" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value)} />
          <Field label="New password" type="password" autoComplete="new-password" minLength={8} value={password} onChange={(e) => setPassword(e.target.value)} />
          <Field label="New password again" type="password" autoComplete="new-password" minLength={8} value={again} onChange={(e) => setAgain(e.target.value)} />
          <ErrorAlert error={error} />
          <button type="submit" disabled={busy}>
            Set new password
          </button>
        </form>
      )}
      <p>
        <Link to="/signin">Back to sign in</Link>
      </p>
    </>
  );
}
