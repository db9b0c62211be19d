// A small fetch wrapper for the Cruddur API. Every failure becomes an ApiError
// with a message that can be shown to the user as is.

export const REQUEST_TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(message, { kind, status = null, url = '' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind; // 'network' | 'timeout' | 'http' | 'invalid'
    this.status = status;
    this.url = url;
  }
}

function describeNetworkError(err) {
  const text = err && err.message ? err.message : String(err);
  return text || 'network error';
}

/**
 * Request `path` (e.g. "/api/activities/home") from the API at `baseUrl`.
 * Options: method, body (JSON-encoded), token (sent as a Bearer token),
 * signal (to cancel), timeoutMs, fetchImpl (for tests).
 */
export async function apiRequest(baseUrl, path, options = {}) {
  const {
    method = 'GET',
    body,
    token,
    signal,
    timeoutMs = REQUEST_TIMEOUT_MS,
    fetchImpl = globalThis.fetch,
  } = options;
  const url = `${baseUrl}${path}`;
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  if (signal) {
    if (signal.aborted) controller.abort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }

  let response;
  try {
    response = await fetchImpl(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (err) {
    if (signal && signal.aborted) throw err; // the caller cancelled: not an error to show
    if (timedOut) {
      throw new ApiError(
        `Could not reach the Cruddur API (no answer from ${baseUrl} within ${Math.round(timeoutMs / 1000)} s)`,
        { kind: 'timeout', url },
      );
    }
    throw new ApiError(
      `Could not reach the Cruddur API (${baseUrl}: ${describeNetworkError(err)})`,
      { kind: 'network', url },
    );
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener('abort', onAbort);
  }

  let text = '';
  try {
    text = await response.text();
  } catch {
    text = '';
  }
  let data = null;
  let parsed = false;
  if (text) {
    try {
      data = JSON.parse(text);
      parsed = true;
    } catch {
      parsed = false;
    }
  }

  if (!response.ok) {
    const serverMessage =
      parsed && data && typeof data.error === 'string' && data.error.trim()
        ? data.error.trim()
        : `The Cruddur API answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    throw new ApiError(serverMessage, { kind: 'http', status: response.status, url });
  }
  if (text && !parsed) {
    throw new ApiError(`The Cruddur API sent a reply that is not JSON (${url})`, {
      kind: 'invalid',
      status: response.status,
      url,
    });
  }
  return data;
}

export function errorMessage(err) {
  if (!err) return '';
  if (err instanceof ApiError) return err.message;
  if (err && typeof err.message === 'string' && err.message) return err.message;
  return String(err);
}
