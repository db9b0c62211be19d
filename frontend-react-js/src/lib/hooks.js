import { createContext, useCallback, useContext, useEffect, useState } from 'react';
import { apiRequest } from './api.js';
import { useAuth } from './auth.jsx';
import { readConfig } from './config.js';

export const ConfigContext = createContext(null);

export function useConfig() {
  return useContext(ConfigContext) || readConfig();
}

/** Returns `call(path, {method, body, auth})`; `auth: true` sends the Cognito access token
 * (required), `auth: 'optional'` sends it when signed in. */
export function useApi() {
  const { backendUrl } = useConfig();
  const { getAccessToken } = useAuth();
  return useCallback(
    async (path, { auth = false, ...options } = {}) => {
      let token = null;
      if (auth) {
        token = await getAccessToken();
        if (!token && auth !== 'optional') throw new Error('You need to sign in first.');
      }
      return apiRequest(backendUrl, path, { ...options, token });
    },
    [backendUrl, getAccessToken],
  );
}

/**
 * Loads `path` (skipped while `path` is null). Returns {data, error, loading, setData, reload}.
 * The request is cancelled when the component unmounts or the path changes.
 */
export function useResource(path, { auth = false } = {}) {
  const { backendUrl } = useConfig();
  const { getAccessToken, status } = useAuth();
  const [state, setState] = useState({ data: null, error: null, loading: Boolean(path) });
  const [attempt, setAttempt] = useState(0);
  // With auth, wait until the stored Cognito session has been read (local, quick).
  const waiting = Boolean(auth) && status === 'loading';

  useEffect(() => {
    if (waiting) return undefined;
    if (!path) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    const controller = new AbortController();
    let active = true;
    setState((s) => ({ data: s.data, error: null, loading: true }));
    (async () => {
      try {
        let token = null;
        if (auth) {
          token = await getAccessToken();
          if (!token && auth !== 'optional') throw new Error('You need to sign in first.');
        }
        const data = await apiRequest(backendUrl, path, { token, signal: controller.signal });
        if (active) setState({ data, error: null, loading: false });
      } catch (error) {
        if (active) setState({ data: null, error, loading: false });
      }
    })();
    return () => {
      active = false;
      controller.abort();
    };
  }, [backendUrl, path, auth, getAccessToken, attempt, waiting]);

  const setData = useCallback((update) => {
    setState((s) => ({ ...s, data: typeof update === 'function' ? update(s.data) : update }));
  }, []);
  const reload = useCallback(() => setAttempt((n) => n + 1), []);

  return { ...state, setData, reload };
}
