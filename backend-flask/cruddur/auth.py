"""Cognito access-token verification and the signed-in user.

Tokens are verified locally against the user pool's JWKS: RS256 signature,
``iss`` = ``https://cognito-idp.<region>.amazonaws.com/<pool id>``,
``token_use`` == ``access``, ``client_id`` = the app client id, ``exp`` and
``sub``.  The keys are cached; an unknown ``kid`` triggers at most one re-fetch
per ``refetch_interval`` seconds (key rotation without a restart), and a failed
fetch backs off (see ``TokenVerifier._key_for``).  The signed-in user is found
by ``sub`` alone; a ``sub`` with no row goes to the sign-up path (signup.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from functools import wraps
from typing import Any, Callable

import jwt
from flask import current_app, g, request

from .config import Settings
from .errors import ServiceUnavailable, Unauthorized
from .signup import create_user

log = logging.getLogger("cruddur.auth")

NOT_CONFIGURED = "sign-in is not configured on this server"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or meant for something else."""


class KeysUnavailable(Exception):
    """The JWKS could not be fetched."""


class TokenVerifier:
    def __init__(
        self,
        settings: Settings,
        fetch_timeout: float | None = None,
        cache_seconds: float = 6 * 3600,
        refetch_interval: float = 30.0,
        leeway: float = 5.0,
        backoff_initial: float = 1.0,
        backoff_max: float | None = None,
    ):
        self.issuer = settings.cognito_issuer
        self.client_id = settings.cognito_client_id
        self.jwks_url = settings.jwks_url
        self.configured = settings.auth_configured
        self._fetch_timeout = fetch_timeout if fetch_timeout is not None else settings.cognito_timeout
        self._cache_seconds = cache_seconds
        self._refetch_interval = refetch_interval
        self._leeway = leeway
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max if backoff_max is not None else max(refetch_interval, backoff_initial)
        # Guarded by _cond; never held across the HTTP fetch.
        self._cond = threading.Condition()
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._failures = 0  # consecutive failed fetches
        self._retry_at = 0.0  # no fetch before this after a failure
        self._fetching = False

    # -- keys ---------------------------------------------------------------
    def _fetch_keys(self) -> dict[str, Any]:
        req = urllib.request.Request(self.jwks_url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self._fetch_timeout) as resp:
                document = json.loads(resp.read(1_000_000))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise KeysUnavailable(f"could not fetch the sign-in keys: {exc.__class__.__name__}") from exc
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or "kid" not in jwk:
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
            except jwt.PyJWKError:
                log.warning("ignoring an unusable key in the JWKS (kid=%s)", jwk.get("kid"))
        if not keys:
            raise KeysUnavailable("the sign-in key set holds no usable RSA key")
        return keys

    def _key_for(self, kid: str):
        """The key for ``kid``, fetching the key set if needed.

        One fetch at a time, outside the lock: a request whose key is cached
        never waits for it.  Requests that need the fetch's result wait for the
        one in flight instead of starting their own.  After a failed fetch the
        next one waits an exponential backoff, so an outage (or a flood of
        made-up kids) costs one fetch per window, not one per request."""
        with self._cond:
            while True:
                now = time.monotonic()
                key = self._keys.get(kid)
                stale = not self._keys or now - self._fetched_at >= self._cache_seconds
                if key is not None and not stale:
                    return key
                if self._fetching:
                    if key is not None:
                        return key  # a stale key still verifies while the refresh runs
                    if not self._cond.wait_for(lambda: not self._fetching, timeout=self._fetch_timeout + 1):
                        raise KeysUnavailable("timed out waiting for the sign-in keys")
                    continue
                if self._failures and now < self._retry_at:
                    if key is not None:
                        return key
                    # Cannot tell a rotated key from a forged kid while Cognito is unreachable.
                    raise KeysUnavailable("the sign-in keys could not be fetched recently; retrying later")
                if (
                    not stale
                    and not self._failures
                    and self._attempted_at is not None
                    and now - self._attempted_at < self._refetch_interval
                ):
                    raise InvalidToken("token signed with an unknown key")
                self._fetching = True
                self._attempted_at = now
                break
        keys: dict[str, Any] | None = None
        try:
            keys = self._fetch_keys()
        except KeysUnavailable as exc:
            error: KeysUnavailable | None = exc
        else:
            error = None
        finally:
            with self._cond:
                now = time.monotonic()
                self._fetching = False
                if keys is not None:
                    self._keys, self._fetched_at, self._failures, self._retry_at = keys, now, 0, 0.0
                else:
                    self._failures += 1
                    backoff = min(self._backoff_max, self._backoff_initial * 2 ** min(self._failures - 1, 16))
                    self._retry_at = now + backoff
                self._cond.notify_all()
                cached = self._keys.get(kid)
        if error is not None:
            log.warning("%s; next attempt in %.0fs at the earliest", error, backoff)
            if cached is not None:
                return cached
            raise error
        if cached is None:
            raise InvalidToken("token signed with an unknown key")
        return cached

    # -- tokens -------------------------------------------------------------
    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != "RS256":
            raise InvalidToken("token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        key = self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "token_use", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token has expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token was issued by another user pool") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("token signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("token is invalid") from exc
        if claims.get("token_use") != "access":
            raise InvalidToken("an access token is required")
        if claims.get("client_id") != self.client_id:
            raise InvalidToken("token was issued for another app client")
        if not isinstance(claims.get("sub"), str) or not claims["sub"].strip():
            raise InvalidToken("token is invalid")
        return claims


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _verifier() -> TokenVerifier:
    return current_app.extensions["cruddur"].verifier


def _lookup_user(claims: dict[str, Any]) -> dict[str, Any] | None:
    """The Cruddur user whose cognito_user_id is the token's ``sub``.

    Only ``sub``: it is the one claim Cognito never reuses nor lets the user
    choose. ``username`` (and a handle equal to it) can name someone else, so
    matching on it would hand their account to whoever holds such a token.
    Users whose Cognito id is not known yet are linked by
    ``bin/update-cognito-user-ids``, an explicit step, never here."""
    db = current_app.extensions["cruddur"].db
    return db.fetch_one(
        "SELECT uuid, handle, display_name FROM users WHERE cognito_user_id = %(sub)s",
        {"sub": str(claims["sub"])},
    )


def _authenticate(token: str) -> dict[str, Any]:
    try:
        claims = _verifier().verify(token)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc
    except KeysUnavailable as exc:
        log.warning("%s", exc)
        raise ServiceUnavailable("sign-in keys unavailable, try again later") from exc
    user = _lookup_user(claims)
    if user is None:
        # First request of a new sign-up: create the row from Cognito (or 409/401/503).
        services = current_app.extensions["cruddur"]
        user = create_user(services.db, services.cognito, token, str(claims["sub"]))
    return user


def require_user(view: Callable) -> Callable:
    """Route decorator: a valid access token is required; ``g.user`` is set."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not _verifier().configured:
            raise Unauthorized(NOT_CONFIGURED)
        token = bearer_token()
        if token is None:
            raise Unauthorized("missing bearer token")
        g.user = _authenticate(token)
        return view(*args, **kwargs)

    return wrapper


def optional_user() -> dict[str, Any] | None:
    """The signed-in user if a valid token came with the request, else None.

    A missing, invalid or expired token just means "anonymous" here."""
    token = bearer_token()
    if token is None or not _verifier().configured:
        return None
    try:
        claims = _verifier().verify(token)
    except (InvalidToken, KeysUnavailable) as exc:
        log.info("ignoring token on an optional-auth route: %s", exc)
        return None
    return _lookup_user(claims)
