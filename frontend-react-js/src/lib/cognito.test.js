// cognito.js against a stand-in for amazon-cognito-identity-js: what it hands
// the SDK (endpoint, attributes, auth flow) and how it turns the SDK's errors
// into messages for the forms.
import { beforeEach, describe, expect, it, vi } from 'vitest';

const sdk = vi.hoisted(() => ({ pools: [], users: [], behaviour: {} }));

vi.mock('amazon-cognito-identity-js', () => {
  class CognitoUserPool {
    constructor(data) {
      this.data = data;
      sdk.pools.push(this);
    }
    signUp(username, password, attributes, validationData, callback) {
      sdk.lastSignUp = { username, password, attributes: attributes.map((a) => ({ ...a })) };
      const err = sdk.behaviour.signUpError;
      if (err) callback(err, null);
      else callback(null, { userConfirmed: false, user: {} });
    }
    getCurrentUser() {
      return sdk.current || null;
    }
  }
  class CognitoUserAttribute {
    constructor({ Name, Value }) {
      this.Name = Name;
      this.Value = Value;
    }
  }
  class AuthenticationDetails {
    constructor(data) {
      this.data = data;
    }
  }
  const session = (claims) => ({
    isValid: () => true,
    getIdToken: () => ({ decodePayload: () => claims }),
    getAccessToken: () => ({ getJwtToken: () => 'access-token-1' }),
  });
  class CognitoUser {
    constructor({ Username, Pool }) {
      this.username = Username;
      this.pool = Pool;
      sdk.users.push(this);
    }
    setAuthenticationFlowType(type) {
      this.flow = type;
    }
    authenticateUser(details, callbacks) {
      this.details = details.data;
      const err = sdk.behaviour.signInError;
      if (err) callbacks.onFailure(err);
      else {
        sdk.current = this;
        callbacks.onSuccess(session({ sub: 's-1', email: 'ann@example.com', name: 'Ann Lee', preferred_username: 'ann' }));
      }
    }
    getSession(cb) {
      cb(null, session({ sub: 's-1', email: 'ann@example.com', name: 'Ann Lee', preferred_username: 'ann' }));
    }
    confirmRegistration(code, forceAliasCreation, cb) {
      this.confirmed = { code, forceAliasCreation };
      cb(sdk.behaviour.confirmError || null, 'SUCCESS');
    }
  }
  return { CognitoUserPool, CognitoUserAttribute, AuthenticationDetails, CognitoUser };
});

const { createCognito } = await import('./cognito.js');

function cognitoError(code, message) {
  const e = new Error(message);
  e.code = code;
  e.name = code;
  return e;
}

beforeEach(() => {
  sdk.pools.length = 0;
  sdk.users.length = 0;
  sdk.behaviour = {};
  sdk.current = null;
  sdk.lastSignUp = null;
});

describe('the user pool', () => {
  it("uses AWS's regional endpoint when REACT_APP_AWS_COGNITO_ENDPOINT is empty", async () => {
    await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1', cognitoEndpoint: '' });
    expect(sdk.pools[0].data).toEqual({ UserPoolId: 'us-east-1_abc', ClientId: 'client1' });
  });

  it('passes a configured endpoint to the SDK', async () => {
    await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1', cognitoEndpoint: 'http://127.0.0.1:5000/' });
    expect(sdk.pools[0].data.endpoint).toBe('http://127.0.0.1:5000/');
  });
});

describe('sign-up, confirmation and sign-in', () => {
  it('signs up with the email as user name and name, email, preferred_username as attributes', async () => {
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    await expect(
      c.signUp({ name: ' Ann Lee ', email: ' ann@example.com ', handle: 'ann', password: 'Secret-123' }),
    ).resolves.toEqual({ confirmed: false });
    expect(sdk.lastSignUp).toEqual({
      username: 'ann@example.com',
      password: 'Secret-123',
      attributes: [
        { Name: 'name', Value: 'Ann Lee' },
        { Name: 'email', Value: 'ann@example.com' },
        { Name: 'preferred_username', Value: 'ann' },
      ],
    });
  });

  it('confirms with the code from the email', async () => {
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    await c.confirmSignUp('ann@example.com', ' 123456 ');
    const user = sdk.users.at(-1);
    expect(user.username).toBe('ann@example.com');
    expect(user.confirmed.code).toBe('123456');
  });

  it('signs in with USER_SRP_AUTH and then hands out the access token', async () => {
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    await expect(c.accessToken()).resolves.toBeNull();
    const user = await c.signIn('ann@example.com', 'Secret-123');
    expect(user).toEqual({ sub: 's-1', email: 'ann@example.com', name: 'Ann Lee', handle: 'ann' });
    const cognitoUser = sdk.users.at(-1);
    expect(cognitoUser.flow).toBe('USER_SRP_AUTH');
    expect(cognitoUser.details).toEqual({ Username: 'ann@example.com', Password: 'Secret-123' });
    await expect(c.accessToken()).resolves.toBe('access-token-1');
  });
});

describe("Cognito's errors", () => {
  it('explains an email that is already registered, keeping the code', async () => {
    sdk.behaviour.signUpError = cognitoError('UsernameExistsException', 'An account with the given email already exists.');
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    const err = await c.signUp({ name: 'A', email: 'a@example.com', handle: 'a', password: 'x' }).catch((e) => e);
    expect(err.code).toBe('UsernameExistsException');
    expect(err.message).toMatch(/^An account with this email already exists/);
  });

  it("keeps the policy part of a weak-password message", async () => {
    sdk.behaviour.signUpError = cognitoError(
      'InvalidPasswordException',
      'Password did not conform with policy: Password must have uppercase characters',
    );
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    const err = await c.signUp({ name: 'A', email: 'a@example.com', handle: 'a', password: 'x' }).catch((e) => e);
    expect(err.message).toBe('This password is too weak: Password must have uppercase characters');
  });

  it('rewords a validation error about the password', async () => {
    sdk.behaviour.signUpError = cognitoError(
      'InvalidParameterException',
      "1 validation error detected: Value at 'password' failed to satisfy constraint: Member must have length greater than or equal to 6",
    );
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    const err = await c.signUp({ name: 'A', email: 'a@example.com', handle: 'a', password: 'x' }).catch((e) => e);
    expect(err.message).toMatch(/^This password is not accepted/);
  });

  it('keeps the user-not-confirmed code the sign-in page acts on', async () => {
    sdk.behaviour.signInError = cognitoError('UserNotConfirmedException', 'User is not confirmed.');
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    const err = await c.signIn('a@example.com', 'pw').catch((e) => e);
    expect(err.code).toBe('UserNotConfirmedException');
    expect(err.message).toBe('User is not confirmed.');
  });

  it("passes a readable message through as Cognito wrote it", async () => {
    sdk.behaviour.signInError = cognitoError('NotAuthorizedException', 'Incorrect username or password.');
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    const err = await c.signIn('a@example.com', 'pw').catch((e) => e);
    expect(err.message).toBe('Incorrect username or password.');
  });

  it('says Cognito could not be reached on a network error', async () => {
    sdk.behaviour.signInError = cognitoError('NetworkError', 'Network error');
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    const err = await c.signIn('a@example.com', 'pw').catch((e) => e);
    expect(err.message).toBe('Could not reach Amazon Cognito (Network error)');
  });

  it('says a wrong confirmation code is wrong', async () => {
    sdk.behaviour.confirmError = cognitoError('CodeMismatchException', 'Invalid verification code provided, please try again.');
    const c = await createCognito({ userPoolId: 'us-east-1_abc', clientId: 'client1' });
    const err = await c.confirmSignUp('a@example.com', '1').catch((e) => e);
    expect(err.message).toMatch(/^That confirmation code is wrong/);
  });
});
