// Cognito user-pool calls through amazon-cognito-identity-js. This module is
// loaded lazily (dynamic import) only when the pool is configured, so the
// read-only build does not download it.

// buffer@4 (a dependency of amazon-cognito-identity-js) expects Node's `global`.
if (typeof globalThis.global === 'undefined') globalThis.global = globalThis;

const sdkPromise = import('amazon-cognito-identity-js');

// Cognito's own messages for some errors are written for developers
// ("1 validation error detected: Value at 'password' failed to satisfy
// constraint: ..."); these read better on a form. The code stays on the error
// (the sign-in page sends UserNotConfirmedException to the confirm page).
const FRIENDLY = {
  UsernameExistsException: () => 'An account with this email already exists: sign in instead, or use "Forgot password?".',
  UserNotFoundException: () => 'There is no account with this email.',
  InvalidPasswordException: (m) =>
    `This password is too weak${m ? `: ${m.replace(/^Password did not conform with policy:\s*/i, '')}` : '.'}`,
  CodeMismatchException: () => 'That confirmation code is wrong: check the email and try again.',
  ExpiredCodeException: () => 'That code has expired: ask for a new one with "Resend code".',
  TooManyRequestsException: () => 'Too many attempts: wait a minute and try again.',
  LimitExceededException: () => 'Too many attempts: wait a few minutes and try again.',
  TooManyFailedAttemptsException: () => 'Too many failed attempts: wait a few minutes and try again.',
  ResourceNotFoundException: (m) =>
    `Sign-in is misconfigured for this deployment: Cognito does not know its user pool or app client (${m}).`,
  // A pre-sign-up trigger's own text, without "PreSignUp failed with error".
  UserLambdaValidationException: (m) =>
    m ? `${m.replace(/^\w+ failed with error\s*/i, '').replace(/\.$/, '')}.` : 'Sign-up was refused.',
  InvalidParameterException: (m) =>
    /password/i.test(m)
      ? 'This password is not accepted: too short, or with characters Cognito does not allow.'
      : `Cognito refused the request: ${m}`,
};

function toError(err) {
  const code = err && err.code;
  const message = (err && err.message) || '';
  if (code === 'NetworkError' || message === 'Network error') {
    const e = new Error(`Could not reach Amazon Cognito (${message || 'network error'})`);
    e.code = 'NetworkError';
    return e;
  }
  const friendly = code && FRIENDLY[code] ? FRIENDLY[code](message) : null;
  const e = new Error(friendly || message || String(err));
  if (code) e.code = code;
  e.cognitoMessage = message;
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

export async function createCognito({ userPoolId, clientId, cognitoEndpoint = '' }) {
  const sdk = await sdkPromise;
  const { CognitoUserPool, CognitoUser, AuthenticationDetails, CognitoUserAttribute } = sdk;
  // Without `endpoint` the SDK derives AWS's regional endpoint from the pool id;
  // REACT_APP_AWS_COGNITO_ENDPOINT points it at another Cognito (moto in the sandbox).
  const pool = new CognitoUserPool({
    UserPoolId: userPoolId,
    ClientId: clientId,
    ...(cognitoEndpoint ? { endpoint: cognitoEndpoint } : {}),
  });
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
      // SRP (the SDK's default, said explicitly): the password never leaves the
      // browser. moto answers it with the same PASSWORD_VERIFIER challenge as AWS.
      user.setAuthenticationFlowType('USER_SRP_AUTH');
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
    // As the original Cruddur: the email is the user name, and the attributes carry
    // what the backend copies into its users row on the first signed-in request
    // (GetUser): name -> display name, preferred_username -> handle, email.
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
