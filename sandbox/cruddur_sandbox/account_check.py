"""`python -m cruddur_sandbox check`: is the seeded account whole? `sandbox up`
asks before it says a running sandbox is up; it prints one line, the verdict
first (exit 1 only when the check itself failed). A moto that lost its
state (a reset through its control API) has new default-VPC subnets, no user
pool, no database address: only a restart gives a whole account again
("lost: " and what is gone). Things that keep their names (the roles and
their policies as infra/policies/ has them, the log group, the SSM
placeholders, the namespace, the seed users) are put back ("re-seeded: " and
what); "whole" when nothing was missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from . import seed
from .account import client
from .postgres import CONNECTION_URL_PARAMETER
from .state_dir import READY_FILE

def _missing(call) -> bool:
    try:
        call()
        return False
    except ClientError:
        return True


def lost(endpoint: str, info: dict) -> str | None:
    """What is gone that a re-seed cannot bring back, or None."""
    seeded = info.get("seed") or {}
    ec2 = client("ec2", endpoint)
    if seeded.get("subnets") and _missing(lambda: ec2.describe_subnets(SubnetIds=seeded["subnets"])):
        return f"the seeded subnets {', '.join(seeded['subnets'])} are gone"
    group = seeded.get("security_group")
    if group and _missing(lambda: ec2.describe_security_groups(GroupIds=[group])):
        return f"the seeded security group {group} is gone"
    pool = seeded.get("user_pool_id")
    cognito = client("cognito-idp", endpoint)
    if pool and _missing(lambda: cognito.describe_user_pool(UserPoolId=pool)):
        return f"the seeded Cognito user pool {pool} is gone"
    ssm = client("ssm", endpoint)
    if info.get("postgres") and _missing(lambda: ssm.get_parameter(Name=CONNECTION_URL_PARAMETER)):
        return f"the SSM parameter {CONNECTION_URL_PARAMETER} (the database's address) is gone"
    return None


def missing_named(endpoint: str, policies: Path) -> list[str]:
    """The seeded things with fixed names that are not there (or differ)."""
    out = []
    iam = client("iam", endpoint)
    for role, _, policy_file in seed.ROLES:
        name = policy_file.removesuffix(".json")
        try:
            got = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        except ClientError:
            out.append(f"role {role}")
            continue
        want = json.loads((policies / policy_file).read_text())
        if (got if isinstance(got, dict) else json.loads(got)) != want:
            out.append(f"policy {name} of {role} (as in {policy_file})")
    logs = client("logs", endpoint)
    if not any(g["logGroupName"] == seed.LOG_GROUP
               for g in logs.describe_log_groups(logGroupNamePrefix=seed.LOG_GROUP)["logGroups"]):
        out.append(f"log group {seed.LOG_GROUP}")
    ssm = client("ssm", endpoint)
    for name in seed.SSM_SECRETS:
        if _missing(lambda n=name: ssm.get_parameter(Name=seed.SSM_PREFIX + n)):
            out.append(f"SSM parameter {seed.SSM_PREFIX + name}")
    names = [n["Name"] for n in client("servicediscovery", endpoint).list_namespaces()["Namespaces"]]
    if seed.NAMESPACE not in names:
        out.append(f"namespace {seed.NAMESPACE}")
    return out


def reseed(endpoint: str, policies: Path, pool_id: str | None) -> None:
    seed.ensure_roles(client("iam", endpoint), policies)
    seed.ensure_log_group(client("logs", endpoint))
    seed.ensure_parameters(client("ssm", endpoint))
    seed.ensure_namespace(client("servicediscovery", endpoint))
    if pool_id:
        seed.ensure_seed_users(client("cognito-idp", endpoint), pool_id)


def check(state_dir: Path, policies: Path) -> int:
    try:
        info = json.loads((state_dir / READY_FILE).read_text())
    except (OSError, ValueError):
        print(f"lost: no {state_dir / READY_FILE}: the sandbox's AWS side is not serving")
        return 0
    endpoint = info["endpoint"]
    try:
        gone = lost(endpoint, info)
        if gone is not None:
            print(f"lost: {gone}")
            return 0
        missing = missing_named(endpoint, policies)
        if missing:
            reseed(endpoint, policies, (info.get("seed") or {}).get("user_pool_id"))
            print(f"re-seeded: {', '.join(missing)}")
        else:
            print("whole")
        return 0
    except (BotoCoreError, ClientError) as e:
        print(f"check failed: {e}", file=sys.stderr)
        return 1
