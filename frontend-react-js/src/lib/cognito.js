// Cognito user-pool calls through amazon-cognito-identity-js. This module is
// loaded lazily (dynamic import) only when the pool is configured, so the
// read-only build does not download it.

// buffer@4 (a dependency of amazon-cognito-identity-js) expects Node's `global`.
if (typeof globalThis.global === 'undefined') globalThis.global = globalThis;

const sdkPromise = import('amazon-cognito-identity-js');

function toError(err) {
  const code = err && err.code;
  if (code === 'NetworkError' || (err && err.message === 'Network error')) {
    const e = new Error(`Could not reach Amazon Cognito (${(err && err.message) || 'network error'})`);
    e.code = 'NetworkError';
    return e;
  }
  if (err instanceof Error) return err;
  const e = new Error((err && err.message) || String(err));
  if (code) e.code = code;
  return e;
}

function userFromSession(session) {
  const p = session.getIdToken().decodePayload();
  return {
    sub: p.sub,
    email: p.email || '',
    name: p.name || p.preferred_username || p.email || '',
    handle: p.preferred_username || '',
  };
}

export async function createCognito({ userPoolId, clientId }) {
  const sdk = await sdkPromise;
  const { CognitoUserPool, CognitoUser, AuthenticationDetails, CognitoUserAttribute } = sdk;
  const pool = new CognitoUserPool({ UserPoolId: userPoolId, ClientId: clientId });
  const userFor = (email) => new CognitoUser({ Username: email.trim(), Pool: pool });

  function getSession() {
    const user = pool.getCurrentUser();
    if (!user) return Promise.resolve(null);
    return new Promise((resolve) => {
      // getSession refreshes an expired access token with the refresh token.
      user.getSession((err, session) => {
        if (err || !session || !session.isValid()) resolve(null);
        else resolve(session);
      });
    });
  }

  return {
    async currentUser() {
      const session = await getSession();
      return session ? userFromSession(session) : null;
    },
    async accessToken() {
      const session = await getSession();
      return session ? session.getAccessToken().getJwtToken() : null;
    },
    signIn(email, password) {
      const user = userFor(email);
      const details = new AuthenticationDetails({ Username: email.trim(), Password: password });
      return new Promise((resolve, reject) => {
        user.authenticateUser(details, {
          onSuccess: (session) => resolve(userFromSession(session)),
          onFailure: (err) => reject(toError(err)),
          newPasswordRequired: () =>
            reject(new Error('This account must set a new password first: use "Forgot password".')),
          mfaRequired: () => reject(new Error('Multi-factor sign-in is not supported by this app.')),
          totpRequired: () => reject(new Error('Multi-factor sign-in is not supported by this app.')),
        });
      });
    },
    signUp({ name, email, handle, password }) {
      const attributes = [
        new CognitoUserAttribute({ Name: 'name', Value: name.trim() }),
        new CognitoUserAttribute({ Name: 'email', Value: email.trim() }),
        new CognitoUserAttribute({ Name: 'preferred_username', Value: handle.trim() }),
      ];
      return new Promise((resolve, reject) => {
        pool.signUp(email.trim(), password, attributes, null, (err, result) => {
          if (err) reject(toError(err));
          else resolve({ confirmed: Boolean(result && result.userConfirmed) });
        });
      });
    },
    confirmSignUp(email, code) {
      return new Promise((resolve, reject) => {
        userFor(email).confirmRegistration(code.trim(), true, (err) => (err ? reject(toError(err)) : resolve()));
      });
    },
    resendCode(email) {
      return new Promise((resolve, reject) => {
        userFor(email).resendConfirmationCode((err) => (err ? reject(toError(err)) : resolve()));
      });
    },
    forgotPassword(email) {
      return new Promise((resolve, reject) => {
        userFor(email).forgotPassword({
          onSuccess: () => resolve(),
          onFailure: (err) => reject(toError(err)),
          inputVerificationCode: () => resolve(),
        });
      });
    },
    confirmPassword(email, code, newPassword) {
      return new Promise((resolve, reject) => {
        userFor(email).confirmPassword(code.trim(), newPassword, {
          onSuccess: () => resolve(),
          onFailure: (err) => reject(toError(err)),
        });
      });
    },
    signOut() {
      const user = pool.getCurrentUser();
      if (user) user.signOut();
    },
  };
}
