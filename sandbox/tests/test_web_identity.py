"""STS's AssumeRoleWithWebIdentity with AWS's checks: moto served in this
process (no docker needed), seeded with the repository's own OIDC provider
and deploy roles from infra/policies, asked through boto3 as any client
would, with tokens from `python -m cruddur_sandbox oidc-token`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import REPO, SANDBOX_DIR
from cruddur_sandbox import oidc_issuer, trust_policy, web_identity
from cruddur_sandbox.moto_server import MotoServer

MAIN = f"repo:{oidc_issuer.SANDBOX_REPOSITORY}:ref:refs/heads/main"
PRODUCTION = f"repo:{oidc_issuer.SANDBOX_REPOSITORY}:environment:production"
DENIED = ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """moto on a free loopback port with the checks installed and the deploy roles seeded."""
    state_dir = tmp_path_factory.mktemp("web-identity")
    web_identity.install(state_dir)
    server = MotoServer("127.0.0.1", 0).start()
    endpoint = f"http://127.0.0.1:{server.port}"
    iam = client("iam", endpoint)
    seeded = oidc_issuer.seed(iam, REPO / "infra" / "policies")
    yield {"state_dir": state_dir, "endpoint": endpoint, "iam": iam, **seeded}
    server.stop()


def client(name, endpoint, **credentials):
    credentials = credentials or {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
    return boto3.client(name, endpoint_url=endpoint, region_name="us-east-1", **credentials)


def token(account, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "cruddur_sandbox", "oidc-token", "--state-dir",
                          str(account["state_dir"]), *args], capture_output=True, text=True, cwd=SANDBOX_DIR,
                         env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR)), timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def assume(account, web_token: str, role: str = "deploy_role_arn") -> dict:
    sts = client("sts", account["endpoint"], aws_access_key_id="unused", aws_secret_access_key="unused")
    return sts.assume_role_with_web_identity(RoleArn=account[role], RoleSessionName="ci", WebIdentityToken=web_token)


def refused(account, web_token: str, role: str = "deploy_role_arn") -> tuple[str, str, int]:
    with pytest.raises(ClientError) as e:
        assume(account, web_token, role)
    err = e.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_the_main_branch_assumes_the_deploy_role_and_is_that_role(account):
    answer = assume(account, token(account, "--sub", MAIN))
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/CruddurDeployRole/ci"
    creds = answer["Credentials"]
    sts = client("sts", account["endpoint"], aws_access_key_id=creds["AccessKeyId"],
                 aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]


def test_the_approved_production_job_assumes_the_production_role_only(account):
    assume(account, token(account, "--sub", PRODUCTION), "production_deploy_role_arn")
    assert refused(account, token(account, "--sub", PRODUCTION)) == (*DENIED, 403)
    assert refused(account, token(account, "--sub", MAIN), "production_deploy_role_arn") == (*DENIED, 403)


@pytest.mark.parametrize("sub", [
    "repo:someone-else/cruddur:ref:refs/heads/main",
    f"repo:{oidc_issuer.SANDBOX_REPOSITORY}:ref:refs/heads/feature",
    f"repo:{oidc_issuer.SANDBOX_REPOSITORY}:pull_request",
    f"repo:{oidc_issuer.SANDBOX_REPOSITORY}:ref:refs/heads/main-and-more",
])
def test_another_repository_or_branch_is_refused(account, sub):
    assert refused(account, token(account, "--sub", sub)) == (*DENIED, 403)


def test_an_audience_the_provider_does_not_list_is_an_invalid_token(account):
    assert refused(account, token(account, "--sub", MAIN, "--aud", "sigstore")) == (
        "InvalidIdentityToken", "Incorrect token audience", 400)


def test_an_audience_the_provider_lists_but_the_role_does_not_trust_is_refused(account):
    # moto has no AddClientIDToOpenIDConnectProvider: a second provider lists two audiences.
    iss = "https://issuer.example.test"
    arn = account["iam"].create_open_id_connect_provider(
        Url=iss, ClientIDList=["sts.amazonaws.com", "other-client"], ThumbprintList=["0" * 40])["OpenIDConnectProviderArn"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"issuer.example.test:aud": "sts.amazonaws.com"}}}]})
    account["other"] = account["iam"].create_role(RoleName="OtherIssuerRole", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    assume(account, token(account, "--iss", iss), "other")
    assert refused(account, token(account, "--iss", iss, "--aud", "other-client"), "other") == (*DENIED, 403)


def test_an_issuer_without_a_provider_is_an_invalid_token(account):
    iss = "https://token.actions.example.org"
    assert refused(account, token(account, "--sub", MAIN, "--iss", iss)) == (
        "InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}", 400)


def test_a_forged_expired_or_malformed_token_is_refused(account):
    code, message, status = refused(account, token(account, "--sub", MAIN, "--foreign-key"))
    assert (code, status) == ("InvalidIdentityToken", 400) and "could not be validated" in message
    code, message, _ = refused(account, token(account, "--sub", MAIN, "--lifetime", "-10"))
    assert code == "ExpiredTokenException" and message.startswith("Token expired: current date/time")
    assert refused(account, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")[0] == "InvalidIdentityToken"
    assert refused(account, "not-a-jwt")[:2] == ("InvalidIdentityToken", web_identity.NOT_A_JWT)


def test_a_role_that_does_not_exist_or_trusts_only_ecs_tasks_is_refused(account):
    web_token = token(account, "--sub", MAIN)
    account["missing"] = "arn:aws:iam::123456789012:role/NoSuchRole"
    account["ecs_role"] = "arn:aws:iam::123456789012:role/CruddurTaskRole"
    account["iam"].create_role(RoleName="CruddurTaskRole", AssumeRolePolicyDocument=(
        REPO / "infra" / "policies" / "ecs-tasks-trust.json").read_text())
    assert refused(account, web_token, "missing") == (*DENIED, 403)
    assert refused(account, web_token, "ecs_role") == (*DENIED, 403)


def test_seeding_again_changes_nothing_and_the_roles_carry_the_deploy_policy(account):
    again = oidc_issuer.seed(account["iam"], REPO / "infra" / "policies")
    assert again["deploy_role_arn"] == account["deploy_role_arn"]
    providers = [p["Arn"] for p in account["iam"].list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert providers.count(account["oidc_provider_arn"]) == 1
    policy = account["iam"].get_role_policy(RoleName="CruddurDeployRole", PolicyName="deploy-policy")
    document = policy["PolicyDocument"]
    text = json.dumps(document)
    assert "${" not in text and "arn:aws:iam::123456789012:role/CruddurTaskRole" in text


PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
KEY = "token.actions.githubusercontent.com"


def who(sub: str, aud: str = "sts.amazonaws.com") -> trust_policy.WebIdentity:
    return trust_policy.WebIdentity(PROVIDER, {f"{KEY}:sub": sub, f"{KEY}:aud": aud})


def statement(condition: dict, effect: str = "Allow", **extra) -> dict:
    return {"Effect": effect, "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition, **extra}


def test_trust_policy_operators_as_iam_reads_them():
    like = {"Statement": [statement({"StringLike": {f"{KEY}:sub": ["repo:o/r:ref:refs/heads/release-?", "x"]},
                                     "StringEquals": {f"{KEY}:AUD": "sts.amazonaws.com"}})]}
    assert trust_policy.allows(like, who("repo:o/r:ref:refs/heads/release-1"))
    assert not trust_policy.allows(like, who("repo:o/r:ref:refs/heads/release-10"))
    assert not trust_policy.allows(like, who("repo:o/r:ref:refs/heads/release-1", aud="other"))
    star = {"Statement": [statement({"StringLike": {f"{KEY}:sub": "repo:o/r:*"}})]}
    assert trust_policy.allows(star, who("repo:o/r:pull_request"))
    assert not trust_policy.allows(star, who("repo:o/other:pull_request"))
    denied = {"Statement": [star["Statement"][0],
                            statement({"StringEquals": {f"{KEY}:sub": "repo:o/r:pull_request"}}, effect="Deny")]}
    assert not trust_policy.allows(denied, who("repo:o/r:pull_request"))
    assert trust_policy.allows(denied, who("repo:o/r:ref:refs/heads/main"))
    negated = {"Statement": [statement({"StringNotLike": {f"{KEY}:sub": "*:pull_request"},
                                        "StringEqualsIfExists": {f"{KEY}:azp": "nobody"}})]}
    assert trust_policy.allows(negated, who("repo:o/r:ref:refs/heads/main"))
    assert not trust_policy.allows(negated, who("repo:o/r:pull_request"))
    other_provider = {"Statement": [dict(star["Statement"][0], Principal={"Federated": PROVIDER + "x"})]}
    assert not trust_policy.allows(other_provider, who("repo:o/r:x"))


def test_what_the_sandbox_does_not_evaluate_never_grants():
    notes = []
    unknown_operator = {"Statement": [statement({"ForAnyValue:StringLike": {f"{KEY}:sub": "*"}})]}
    assert not trust_policy.allows(unknown_operator, who("repo:o/r:x"), notes.append)
    not_action = {"Statement": [dict(statement({}), NotAction="s3:*")]}
    assert not trust_policy.allows(not_action, who("repo:o/r:x"), notes.append)
    deny_not_principal = {"Statement": [statement({}), statement({}, effect="Deny", NotPrincipal={"AWS": "x"})]}
    assert not trust_policy.allows(deny_not_principal, who("repo:o/r:x"), notes.append)
    assert len(notes) == 3 and all("does not evaluate" in n for n in notes)


def test_oidc_token_writes_what_aws_web_identity_token_file_names(account, tmp_path):
    path = tmp_path / "token"
    token(account, "--output", str(path))
    text = path.read_text()
    assert oct(path.stat().st_mode)[-3:] == "600" and "\n" not in text and text.count(".") == 2
    assume(account, text)
    # With the line break `print` adds, the token is not the one that was signed.
    assert refused(account, text + "\n")[0] == "InvalidIdentityToken"
