// Build-time configuration. Vite exposes only variables whose names start with
// REACT_APP_ (see `envPrefix` in vite.config.js), so the generated
// frontend-react-js.env and the docker build args keep their old names.

const DEFAULT_BACKEND_URL = 'http://localhost:4567';

function clean(value) {
  if (value === undefined || value === null) return '';
  return String(value).trim();
}

export function readConfig(env = import.meta.env) {
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
