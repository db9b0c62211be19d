// The app's settings. The production image bakes none in: its container's
// entrypoint writes them from its environment into /config.js, which
// index.html loads before the app, so one image runs in every environment.
// Where that file sets nothing (the dev server, `vite preview`, the unit
// tests), Vite's build-time REACT_APP_* variables apply (`envPrefix` in
// vite.config.js), so the generated frontend-react-js.env keeps its names.
// Both use the same names: REACT_APP_BACKEND_URL, REACT_APP_AWS_PROJECT_REGION,
// REACT_APP_AWS_COGNITO_REGION, REACT_APP_AWS_USER_POOLS_ID, REACT_APP_CLIENT_ID,
// REACT_APP_AWS_COGNITO_ENDPOINT.

// frontend-react-js/docker-entrypoint.sh repeats this default for the CSP.
const DEFAULT_BACKEND_URL = 'http://localhost:4567';

/** The global /config.js sets (docker-entrypoint.sh writes it). */
export const RUNTIME_CONFIG_GLOBAL = '__CRUDDUR_CONFIG__';

/**
 * The settings the container wrote into /config.js, or null where it wrote
 * none. When present they are the whole configuration: a value it leaves out
 * (e.g. no Cognito pool: read-only) is not filled from the build.
 */
export function runtimeEnv(scope = globalThis) {
  const value = scope ? scope[RUNTIME_CONFIG_GLOBAL] : undefined;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  return value;
}

/** Where the settings come from: /config.js when it set them, else Vite's env. */
export function settingsSource(scope = globalThis, buildEnv = import.meta.env) {
  return runtimeEnv(scope) || buildEnv || {};
}

function clean(value) {
  if (value === undefined || value === null) return '';
  return String(value).trim();
}

export function readConfig(env = settingsSource()) {
  const backendUrl = clean(env.REACT_APP_BACKEND_URL) || DEFAULT_BACKEND_URL;
  const userPoolId = clean(env.REACT_APP_AWS_USER_POOLS_ID);
  const clientId = clean(env.REACT_APP_CLIENT_ID);
  return {
    backendUrl: backendUrl.replace(/\/+$/, ''),
    projectRegion: clean(env.REACT_APP_AWS_PROJECT_REGION),
    cognitoRegion: clean(env.REACT_APP_AWS_COGNITO_REGION),
    userPoolId,
    clientId,
    // Where amazon-cognito-identity-js sends its calls. Empty means AWS's
    // regional endpoint (https://cognito-idp.<pool region>.amazonaws.com/);
    // a URL points it elsewhere, e.g. the sandbox's moto server.
    cognitoEndpoint: clean(env.REACT_APP_AWS_COGNITO_ENDPOINT),
    // Sign-in needs both ids; without them the app runs read-only.
    authConfigured: Boolean(userPoolId && clientId),
  };
}
