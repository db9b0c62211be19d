"""Least privilege (issue 31), through boto3 and from inside task containers:
the task endpoint at 169.254.170.2 (credentials of the task role, renewed;
metadata v4), the gate in front of moto on the gateway (moto's control API
gone, unsigned and unissued requests refused, IAM evaluated with real ARNs),
the execution role checked for what the agent does, SimulatePrincipalPolicy
with the same evaluation, and the registry's random password."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import boto3
import docker
import pytest
from botocore.exceptions import ClientError

from conftest import SANDBOX_DIR, app_container, wait_for
from test_tasks import exec_in, run, stopped

ACCOUNT = "123456789012"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/CruddurTaskRole"
SETUP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/CruddurSetupTaskRole"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/cruddur-messages"


def running(sandbox, cluster, arn):
    return wait_for(lambda: (lambda x: x if x["lastStatus"] == "RUNNING" else None)(
        sandbox.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]), 60, what="RUNNING")


def sleeper(sandbox, family: str, **td_extra) -> str:
    app = app_container(sandbox, health=False, command=["/bin/sh", "-c", "sleep 120"])
    return sandbox.ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/CruddurServiceExecutionRole",
        containerDefinitions=[app], **td_extra)["taskDefinition"]["taskDefinitionArn"]


def container_env(task: dict) -> dict[str, str]:
    app = next(c for c in task["containers"] if c["name"] == "app")
    env = docker.from_env().api.inspect_container(app["runtimeId"])["Config"]["Env"]
    return dict(e.split("=", 1) for e in env)


def endpoint_get(task: dict, path: str) -> tuple[int, str]:
    return exec_in(task, f"wget -q -O - http://169.254.170.2{path}")


def credentials_of(task: dict) -> dict:
    code, text = endpoint_get(task, container_env(task)["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"])
    assert code == 0, text
    return json.loads(text)


def as_task(sandbox, creds: dict, service: str):
    """A client of moto as tasks reach it, with a task's credentials."""
    return boto3.client(service, endpoint_url=sandbox.info["task_endpoint"], region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["Token"])


def code_of(call) -> str | None:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def test_a_task_gets_its_roles_credentials_at_ecs_address_and_they_are_evaluated(sandbox, cluster):
    t = running(sandbox, cluster, run(sandbox, cluster, sleeper(sandbox, "sbtest-role", taskRoleArn=TASK_ROLE))
                ["taskArn"])
    env = container_env(t)
    assert env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"].startswith("/v2/credentials/")
    assert env["ECS_CONTAINER_METADATA_URI_V4"].startswith("http://169.254.170.2/v4/")
    assert not any(k in env for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")), env
    creds = credentials_of(t)
    assert creds["RoleArn"] == TASK_ROLE and creds["Expiration"].endswith("Z")
    code, meta = exec_in(t, 'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"')
    assert code == 0 and json.loads(meta)["TaskARN"] == t["taskArn"], meta
    who = as_task(sandbox, creds, "sts").get_caller_identity()["Arn"]
    assert who == f"arn:aws:sts::{ACCOUNT}:assumed-role/CruddurTaskRole/{t['taskArn'].rsplit('/', 1)[-1]}"
    ddb = as_task(sandbox, creds, "dynamodb")
    # allowed by the role: moto answers (no such table here)
    assert code_of(lambda: ddb.query(TableName="cruddur-messages", KeyConditionExpression="pk = :p",
                                     ExpressionAttributeValues={":p": {"S": "x"}})) == "ResourceNotFoundException"
    try:
        ddb.delete_table(TableName="cruddur-messages")
        raise AssertionError("DeleteTable was allowed to the backend's task role")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDeniedException"
        assert f"dynamodb:DeleteTable on resource: {TABLE_ARN}" in e.response["Error"]["Message"]
    assert code_of(lambda: as_task(sandbox, creds, "ssm").get_parameter(
        Name="/cruddur/backend-flask/CONNECTION_URL")) == "AccessDeniedException"


def test_credentials_answer_only_their_own_task_and_a_task_without_role_has_none(sandbox, cluster):
    td_role = sleeper(sandbox, "sbtest-role-a", taskRoleArn=TASK_ROLE)
    a = running(sandbox, cluster, run(sandbox, cluster, td_role)["taskArn"])
    b = running(sandbox, cluster, run(sandbox, cluster, sleeper(sandbox, "sbtest-norole"))["taskArn"])
    assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in container_env(b)
    assert "ECS_CONTAINER_METADATA_URI_V4" in container_env(b)
    code, _ = endpoint_get(b, container_env(a)["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"])
    assert code != 0, "another task's credentials id answers only from that task's address"
    # RunTask's overrides.taskRoleArn: the one-off set-up tasks' role
    c = running(sandbox, cluster, run(sandbox, cluster, td_role, overrides={"taskRoleArn": SETUP_ROLE})["taskArn"])
    assert credentials_of(c)["RoleArn"] == SETUP_ROLE


def test_credentials_are_renewed_before_they_expire_and_expired_ones_are_refused(sandbox, cluster):
    # the session's sandbox hands out 20 s credentials (conftest), renewed with 10 s left
    t = running(sandbox, cluster, run(sandbox, cluster, sleeper(sandbox, "sbtest-renew", taskRoleArn=TASK_ROLE))
                ["taskArn"])
    first = credentials_of(t)
    renewed = wait_for(lambda: (lambda c: c if c["AccessKeyId"] != first["AccessKeyId"] else None)(
        credentials_of(t)), 30, interval=1, what="renewed credentials")
    assert renewed["Expiration"] > first["Expiration"]
    assert code_of(lambda: as_task(sandbox, renewed, "sts").get_caller_identity()) is None
    wait_for(lambda: code_of(lambda: as_task(sandbox, first, "sts").get_caller_identity()) == "ExpiredToken",
             30, interval=1, what="the first credentials refused as expired")


def test_from_a_task_moto_api_is_gone_and_unsigned_or_unissued_requests_are_refused(sandbox, cluster):
    t = running(sandbox, cluster, run(sandbox, cluster, sleeper(sandbox, "sbtest-doors"))["taskArn"])
    gateway = sandbox.info["task_endpoint"]
    code, text = exec_in(t, f"wget -q -O - {gateway}/moto-api/ 2>&1; echo; "
                            f"wget -q -O - --post-data '' {gateway}/moto-api/reset 2>&1")
    assert "404" in text and "Not Found" in text, text
    read = ("wget -q -O - --header 'X-Amz-Target: AmazonSSM.GetParameter' "
            "--header 'Content-Type: application/x-amz-json-1.1' "
            f"--post-data '{{\"Name\": \"/cruddur/backend-flask/CONNECTION_URL\", \"WithDecryption\": true}}' "
            f"{gateway}/ 2>&1")
    code, text = exec_in(t, read)
    assert code != 0 and "403" in text, text
    unissued = dict(sandbox.kw, endpoint_url=gateway)  # the tool's keys: not issued by the sandbox's STS
    assert code_of(lambda: boto3.client("ssm", **unissued).get_parameter(
        Name="/cruddur/backend-flask/CONNECTION_URL")) == "UnrecognizedClientException"
    # the account is still whole: nothing reset it
    assert sandbox.ssm.get_parameter(Name="/cruddur/backend-flask/CONNECTION_URL")["Parameter"]["Name"]


@pytest.mark.parametrize("what", ["secret", "log group", "repository", "role"])
def test_the_execution_role_is_checked_for_what_the_agent_does(sandbox, cluster, what):
    app = app_container(sandbox, health=False)
    if what == "secret":
        sandbox.ssm.put_parameter(Name="/other/token", Value="x", Type="SecureString", Overwrite=True)
        app["secrets"] = [{"name": "T", "valueFrom": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/other/token"}]
        action, resource = "ssm:GetParameters", f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/other/token"
    elif what == "log group":
        app["logConfiguration"]["options"]["awslogs-group"] = "other-group"
        app["logConfiguration"]["options"]["awslogs-create-group"] = "true"
        action, resource = "logs:CreateLogGroup", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:other-group"
    elif what == "repository":
        app["image"] = f"{sandbox.registry}/other-app:v1"
        action, resource = "ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/other-app"
    else:
        action, resource = "unable to assume the role", f"arn:aws:iam::{ACCOUNT}:role/NotThere"
    extra = {"taskRoleArn": resource} if what == "role" else {}
    td = sandbox.ecs.register_task_definition(
        family=f"sbtest-denied-{what.replace(' ', '-')}", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512", executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/CruddurServiceExecutionRole",
        containerDefinitions=[app], **extra)["taskDefinition"]["taskDefinitionArn"]
    t = stopped(sandbox, cluster, run(sandbox, cluster, td)["taskArn"])
    assert t["stopCode"] == "TaskFailedToStart", t
    reason = t["stoppedReason"] if what != "repository" else t["containers"][0]["reason"]
    assert action in reason and resource in reason, reason
    if what in ("secret", "log group"):
        assert reason.startswith("ResourceInitializationError: "), reason
        assert "assumed-role/CruddurServiceExecutionRole/" in reason, reason
    assert "startedAt" not in t


def test_simulate_principal_policy_decides_as_the_agent_and_the_gate(sandbox):
    iam = boto3.client("iam", **sandbox.kw)
    results = iam.simulate_principal_policy(
        PolicySourceArn=TASK_ROLE, ActionNames=["dynamodb:PutItem", "dynamodb:CreateTable"],
        ResourceArns=[TABLE_ARN])["EvaluationResults"]
    decided = {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in results}
    assert decided == {("dynamodb:PutItem", TABLE_ARN): "allowed", ("dynamodb:CreateTable", TABLE_ARN): "implicitDeny"}
    deny = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}]})
    [denied] = iam.simulate_principal_policy(PolicySourceArn=TASK_ROLE, ActionNames=["dynamodb:PutItem"],
                                             ResourceArns=[TABLE_ARN], PolicyInputList=[deny])["EvaluationResults"]
    assert denied["EvalDecision"] == "explicitDeny"
    [setup] = iam.simulate_principal_policy(PolicySourceArn=SETUP_ROLE, ActionNames=["cognito-idp:ListUsers"],
                                            ResourceArns=[f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_x"]
                                            )["EvaluationResults"]
    assert setup["EvalDecision"] == "allowed"
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/NotThere",
                                      ActionNames=["s3:GetObject"])


def test_the_registry_password_is_random_and_mocos_constant_one_is_refused(sandbox, tmp_path):
    token = boto3.client("ecr", **sandbox.kw).get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)[1]
    assert password != f"{ACCOUNT}-auth-token" and len(password) >= 24
    out = subprocess.run(["docker", "login", sandbox.registry, "-u", "AWS", "--password-stdin"],
                         input=f"{ACCOUNT}-auth-token", capture_output=True, text=True,
                         env={"DOCKER_CONFIG": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0 and "unauthorized" in (out.stderr + out.stdout).lower(), out


def check(sandbox) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cruddur_sandbox", "check", "--state-dir", str(sandbox.state_dir),
                           "--policies", str(sandbox.policies)], capture_output=True, text=True, cwd=SANDBOX_DIR)


def test_check_re_seeds_what_keeps_its_name(sandbox):
    iam = boto3.client("iam", **sandbox.kw)
    iam.delete_role_policy(RoleName="CruddurSetupTaskRole", PolicyName="setup-task-policy")
    sandbox.logs.delete_log_group(logGroupName="cruddur")
    out = check(sandbox)
    assert out.returncode == 0, out
    assert out.stdout.startswith("re-seeded: ") and "CruddurSetupTaskRole" in out.stdout, out.stdout
    assert "log group cruddur" in out.stdout
    assert iam.get_role_policy(RoleName="CruddurSetupTaskRole", PolicyName="setup-task-policy")["PolicyDocument"]
    again = check(sandbox)
    assert (again.returncode, again.stdout.strip()) == (0, "whole"), again
