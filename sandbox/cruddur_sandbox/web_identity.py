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
token service does for a workflow job."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

from . import trust_policy
from .account import ACCOUNT_ID, REGION
from .state_dir import write_atomic

log = logging.getLogger("cruddur_sandbox.sts")

KEY_FILE = "oidc-signing-key.json"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
# GitHub's published thumbprint; AWS no longer needs one for GitHub, moto wants one.
GITHUB_THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"
# The repository the sandbox's deploy roles trust (`${GITHUB_REPOSITORY}`).
SANDBOX_REPOSITORY = "cruddur-sandbox/cruddur"
# role name -> its trust policy file in infra/policies; both get deploy-policy.json.
DEPLOY_ROLES = {
    "CruddurDeployRole": "deploy-trust.json",
    "CruddurDeployProductionRole": "deploy-production-trust.json",
}
DEPLOY_POLICY = "deploy-policy.json"
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


class Signer:
    """The sandbox's signing key: signs tokens, verifies their signatures."""

    def __init__(self, key: RSAKey):
        self.key = key

    @classmethod
    def load_or_create(cls, path: Path) -> "Signer":
        try:
            return cls(RSAKey.import_key(json.loads(path.read_text())))
        except (OSError, ValueError, JoseError):
            key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:16]})
            write_atomic(path, json.dumps(key.as_dict(private=True)), mode=0o600)
            return cls(key)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": self.key.kid}, claims, self.key)

    def verified(self, token: str) -> bool:
        try:
            jwt.decode(token, self.key, algorithms=["RS256"])
        except (JoseError, ValueError):
            return False
        return True


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


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_policy(text: str, account: str = ACCOUNT_ID, region: str = REGION) -> str:
    """A policy file of infra/policies with its placeholders filled for the sandbox."""
    values = {"AWS_ACCOUNT_ID": account, "AWS_REGION": region, "GITHUB_REPOSITORY": SANDBOX_REPOSITORY}

    def value(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ValueError(f"unknown placeholder ${{{m.group(1)}}} (known: {', '.join(sorted(values))})")
        return values[m.group(1)]

    return _PLACEHOLDER.sub(value, text)


def seed(iam: Any, policies: Path) -> dict[str, str]:
    """GitHub's OIDC provider and the deploy roles, as a team's account has
    them after following the README (idempotent)."""
    from botocore.exceptions import ClientError

    region = iam.meta.region_name or REGION
    provider_arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{GITHUB_ISSUER.removeprefix('https://')}"
    if provider_arn not in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]:
        iam.create_open_id_connect_provider(Url=GITHUB_ISSUER, ClientIDList=[GITHUB_AUDIENCE],
                                           ThumbprintList=[GITHUB_THUMBPRINT])
    policy = render_policy((policies / DEPLOY_POLICY).read_text(), region=region)
    arns = {}
    for role, trust_file in DEPLOY_ROLES.items():
        trust = render_policy((policies / trust_file).read_text(), region=region)
        try:
            arns[role] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust)
            arns[role] = iam.get_role(RoleName=role)["Role"]["Arn"]
        iam.put_role_policy(RoleName=role, PolicyName=DEPLOY_POLICY.removesuffix(".json"), PolicyDocument=policy)
    return {
        "oidc_provider_arn": provider_arn,
        "github_repository": SANDBOX_REPOSITORY,
        "deploy_role_arn": arns["CruddurDeployRole"],
        "production_deploy_role_arn": arns["CruddurDeployProductionRole"],
    }


def github_claims(sub: str, audience: str, issuer: str, lifetime: int) -> dict[str, Any]:
    """A token's claims as GitHub's token service writes them for a job."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": sub, "iat": now, "nbf": now - 5,
                              "exp": now + lifetime, "jti": str(uuid.uuid4())}
    m = re.fullmatch(r"repo:([^/:]+)/([^:]+):(ref|environment):(.+)", sub)
    if m:
        claims.update(repository=f"{m[1]}/{m[2]}", repository_owner=m[1], event_name="push")
        claims["ref" if m[3] == "ref" else "environment"] = m[4]
    return claims


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m cruddur_sandbox oidc-token",
        description="Print an OIDC token signed with the sandbox's key, as GitHub's token service gives a job one.",
    )
    p.add_argument("--state-dir", required=True, type=Path, help="the sandbox's state directory (its key is there)")
    p.add_argument("--sub", default=f"repo:{SANDBOX_REPOSITORY}:ref:refs/heads/main",
                   help="the subject (default: the sandbox repository's main branch)")
    p.add_argument("--aud", default=GITHUB_AUDIENCE, help=f"the audience (default {GITHUB_AUDIENCE})")
    p.add_argument("--iss", default=GITHUB_ISSUER, help=f"the issuer (default {GITHUB_ISSUER})")
    p.add_argument("--lifetime", type=int, default=300, help="seconds until it expires (default 300; <= 0: expired)")
    p.add_argument("--foreign-key", action="store_true",
                   help="sign with a key the sandbox does not know (a forged token)")
    p.add_argument("--output", type=Path, default=None,
                   help="write the token to this file (mode 0600, no line break: what AWS_WEB_IDENTITY_TOKEN_FILE "
                        "names) instead of printing it")
    args = p.parse_args(argv)
    path = args.state_dir / KEY_FILE
    if args.foreign_key:
        signer = Signer(RSAKey.generate_key(2048, parameters={"kid": "foreign"}))
    elif not path.exists():
        print(f"no signing key in {args.state_dir}: is a sandbox serving from there?", file=sys.stderr)
        return 2
    else:
        signer = Signer.load_or_create(path)
    token = signer.sign(github_claims(args.sub, args.aud, args.iss, args.lifetime))
    if args.output is None:
        print(token)
    else:
        write_atomic(args.output, token, mode=0o600)
    return 0
