"""STS's AssumeRoleWithWebIdentity with the checks AWS makes, where moto hands
out credentials for any token and never reads the role's trust policy.

In AWS's order: the token must be a JWT (`InvalidIdentityToken`); its `iss`
must be the URL of an OIDC provider registered in the role's account's IAM
(`InvalidIdentityToken`: "No OpenIDConnect provider found in your account for
ISS"); its RS256 signature must verify (`InvalidIdentityToken`); `exp` must be
in the future (`ExpiredTokenException`); its `aud` must be one of the
provider's client ids (`InvalidIdentityToken`: "Incorrect token audience");
the role must exist and its trust policy must allow the provider with the
token's `aud` and `sub` (`trust_policy.py`; else `AccessDenied`: "Not
authorized to perform sts:AssumeRoleWithWebIdentity", HTTP 403).

AWS checks the signature against the key set the issuer publishes; the
sandbox cannot reach an issuer, so one RSA key of its own (kept in the state
directory, mode 0600) stands in for every registered issuer's key set.
`python -m cruddur_sandbox oidc-token` signs tokens with it: what GitHub's
token service does for a workflow job (`oidc_issuer.py`)."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

from . import trust_policy
from .account import ACCOUNT_ID
from .oidc_issuer import KEY_FILE, Signer

log = logging.getLogger("cruddur_sandbox.sts")

NOT_A_JWT = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
NOT_VALIDATED = ("The web identity token that was passed could not be validated by AWS. Get a new identity "
                 "token from the identity provider and then retry the request.")


class StsError(HTTPException):
    """An STS error as AWS sends it (the query protocol's XML)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__()
        self.code = status
        self.error_code = code
        self.message = message
        self.description = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", self.error_code)]

    def get_body(self, environ: Any = None, scope: Any = None) -> str:
        return self.description


def invalid(message: str) -> StsError:
    return StsError(400, "InvalidIdentityToken", message)


def access_denied() -> StsError:
    return StsError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")


def claims_of(token: str) -> dict[str, Any]:
    """The payload, read before anything is verified (to find the issuer)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise invalid(NOT_A_JWT)
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise invalid(NOT_A_JWT) from None
    if not isinstance(payload, dict):
        raise invalid(NOT_A_JWT)
    return payload


def _provider(iam: Any, issuer: str) -> Any | None:
    if not issuer.startswith("https://"):
        return None
    wanted = issuer.removeprefix("https://").rstrip("/")
    return next((p for p in iam.open_id_providers.values() if p.url.rstrip("/") == wanted), None)


def _trust_document(role: Any) -> str:
    document = role.assume_role_policy_document
    try:
        json.loads(document)
        return document
    except ValueError:
        return unquote(document)


def check(signer: Signer, role_arn: str, token: str, now: float | None = None) -> None:
    """Raises the StsError AWS would answer with; returns when the token may assume the role."""
    claims = claims_of(token)
    issuer = str(claims.get("iss", ""))
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ACCOUNT_ID
    iam = iam_backends[account]["aws"]
    provider = _provider(iam, issuer)
    if provider is None:
        raise invalid(f"No OpenIDConnect provider found in your account for {issuer}")
    if not signer.verified(token):
        raise invalid(NOT_VALIDATED)
    now = time.time() if now is None else now
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or expires <= now:
        raise StsError(400, "ExpiredTokenException",
                       f"Token expired: current date/time {int(now)} must be before the expiration date/time {expires}")
    audiences = claims.get("aud")
    audience = next((a for a in trust_policy.as_list(audiences) if a in provider.client_id_list), None)
    if audience is None:
        raise invalid("Incorrect token audience")
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception:
        raise access_denied() from None
    keys = {f"{provider.url}:aud": audience, f"{provider.url}:sub": str(claims.get("sub", ""))}
    if "azp" in claims:
        keys[f"{provider.url}:azp"] = str(claims["azp"])
    who = trust_policy.WebIdentity(provider_arn=provider.arn, keys=keys)
    if not trust_policy.allows(_trust_document(role), who, log.warning):
        log.info("sts: AssumeRoleWithWebIdentity of %s refused by its trust policy (sub %s, aud %s)",
                 role_arn, keys[f"{provider.url}:sub"], audience)
        raise access_denied()


_SIGNER: Signer | None = None
_ORIGINAL = TokenResponse.assume_role_with_web_identity


def _assume_role_with_web_identity(self: TokenResponse) -> ActionResult:
    assert _SIGNER is not None, "web identity checks are not installed"
    role_arn = self._get_param("RoleArn") or ""
    try:
        check(_SIGNER, role_arn, self._get_param("WebIdentityToken") or "")
    except StsError as e:
        log.info("sts: AssumeRoleWithWebIdentity of %s: %s: %s", role_arn, e.error_code, e.message)
        raise
    return _ORIGINAL(self)


def install(state_dir: Path) -> Signer:
    """Puts the checks under moto's STS, before the server starts."""
    global _SIGNER
    _SIGNER = Signer.load_or_create(Path(state_dir) / KEY_FILE)
    TokenResponse.assume_role_with_web_identity = _assume_role_with_web_identity
    return _SIGNER
