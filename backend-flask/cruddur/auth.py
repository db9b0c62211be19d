"""Cognito access-token verification and the signed-in user.

Tokens are verified locally against the user pool's JWKS: RS256 signature,
``iss`` = ``https://cognito-idp.<region>.amazonaws.com/<pool id>``,
``token_use`` == ``access``, ``client_id`` = the app client id, and ``exp``.
The keys are fetched once and cached; an unknown ``kid`` triggers at most one
re-fetch per ``refetch_interval`` seconds (key rotation without a restart).
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
from .errors import Forbidden, ServiceUnavailable, Unauthorized

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
    ):
        self.issuer = settings.cognito_issuer
        self.client_id = settings.cognito_client_id
        self.jwks_url = settings.jwks_url
        self.configured = settings.auth_configured
        self._fetch_timeout = fetch_timeout if fetch_timeout is not None else settings.cognito_timeout
        self._cache_seconds = cache_seconds
        self._refetch_interval = refetch_interval
        self._leeway = leeway
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

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
        now = time.monotonic()
        with self._lock:
            fresh = self._keys and now - self._fetched_at < self._cache_seconds
            if fresh and kid in self._keys:
                return self._keys[kid]
            # Unknown kid or stale cache: re-fetch, but not more often than
            # refetch_interval (a flood of made-up kids must not hammer Cognito).
            if not self._keys or not fresh or now - self._fetched_at >= self._refetch_interval:
                try:
                    self._keys = self._fetch_keys()
                    self._fetched_at = now
                except KeysUnavailable:
                    if not self._keys:
                        raise
                    log.warning("JWKS refresh failed; using the cached keys")
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("token signed with an unknown key")
        return key

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
        raise Forbidden("no Cruddur user matches this account")
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
