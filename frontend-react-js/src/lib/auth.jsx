import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';

// status: 'disabled' (Cognito not configured: read-only), 'loading',
// 'signedOut', 'signedIn'.
const AuthContext = createContext({
  configured: false,
  status: 'disabled',
  user: null,
  getAccessToken: async () => null,
});

const NOT_CONFIGURED = 'Sign-in is not configured for this deployment.';

export function AuthProvider({ config, children, loadCognito = defaultLoadCognito }) {
  const configured = config.authConfigured;
  const [client, setClient] = useState(null);
  const [status, setStatus] = useState(configured ? 'loading' : 'disabled');
  const [user, setUser] = useState(null);
  const [loadError, setLoadError] = useState(null);

  useEffect(() => {
    if (!configured) return undefined;
    let cancelled = false;
    loadCognito(config)
      .then(async (c) => {
        const current = await c.currentUser();
        if (cancelled) return;
        setClient(c);
        setUser(current);
        setStatus(current ? 'signedIn' : 'signedOut');
      })
      .catch((err) => {
        if (cancelled) return;
        setLoadError(err);
        setStatus('signedOut');
      });
    return () => {
      cancelled = true;
    };
  }, [configured, config, loadCognito]);

  const need = useCallback(() => {
    if (!configured) throw new Error(NOT_CONFIGURED);
    if (!client) throw new Error(loadError ? `Sign-in is unavailable: ${loadError.message}` : 'Sign-in is still loading, try again.');
    return client;
  }, [configured, client, loadError]);

  const value = useMemo(
    () => ({
      configured,
      status,
      user,
      async getAccessToken() {
        if (!client) return null;
        return client.accessToken();
      },
      async signIn(email, password) {
        const u = await need().signIn(email, password);
        setUser(u);
        setStatus('signedIn');
        return u;
      },
      signOut() {
        if (client) client.signOut();
        setUser(null);
        setStatus(configured ? 'signedOut' : 'disabled');
      },
      signUp: (fields) => need().signUp(fields),
      confirmSignUp: (email, code) => need().confirmSignUp(email, code),
      resendCode: (email) => need().resendCode(email),
      forgotPassword: (email) => need().forgotPassword(email),
      confirmPassword: (email, code, pw) => need().confirmPassword(email, code, pw),
    }),
    [configured, status, user, client, need],
  );

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

async function defaultLoadCognito(config) {
  const mod = await import('./cognito.js');
  return mod.createCognito(config);
}

export function useAuth() {
  return useContext(AuthContext);
}

export { AuthContext };
