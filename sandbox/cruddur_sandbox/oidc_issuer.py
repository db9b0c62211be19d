"""The sandbox's stand-in for GitHub's token service and for what a team's
account has after following the README's CI setup: one RSA signing key in the
state directory (mode 0600), `python -m cruddur_sandbox oidc-token` signing a
job's token with it, and GitHub's OIDC provider and the deploy roles seeded.

Apart from `web_identity.py` (STS's checks, which need moto) so that a token
costs no moto import: tests ask for one per credentials check, and moto's
import was 1 s of CPU of each (2026-12-03: 30 tokens a test run)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .account import ACCOUNT_ID, REGION
from .state_dir import write_atomic

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
