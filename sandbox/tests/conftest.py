"""Fixtures: one real sandbox per test session (`serve` as its own process,
a docker-registry with ECR-style basic auth, the test images pushed to it),
and a cluster per test."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import docker
import pytest
from botocore.config import Config

HERE = Path(__file__).parent
SANDBOX_DIR = HERE.parent
REPO = SANDBOX_DIR.parent
APPLETS = ["sh", "httpd", "wget", "sleep", "echo", "cat", "id", "env", "sort", "mkdir", "cp", "kill", "md5sum",
           "nslookup", "printf", "ls", "nc", "test"]
LOG_GROUP = "sbtest"
TEST_EXECUTION_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": "arn:aws:ecr:*:*:repository/sbtest-*"},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"arn:aws:logs:*:*:log-group:{LOG_GROUP}", f"arn:aws:logs:*:*:log-group:{LOG_GROUP}:*"]},
        {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "arn:aws:ssm:*:*:parameter/sbtest/*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": "arn:aws:secretsmanager:*:*:secret:sbtest/*"},
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def start_serve(state_dir: Path, registry: str, network: str, *extra: str, log_name: str = "serve.log"):
    log = open(state_dir / log_name, "w")
    cmd = [
        sys.executable, "-m", "cruddur_sandbox", "serve",
        "--port", "0",
        "--state-dir", str(state_dir),
        "--registry", registry,
        "--network", network,
        *extra,
    ]
    env = dict(os.environ, PYTHONPATH=str(SANDBOX_DIR))
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=SANDBOX_DIR)
    path = state_dir / "agent.json"
    deadline = time.monotonic() + 240
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {(state_dir / log_name).read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("serve wrote no agent.json within 240s")
        time.sleep(0.2)
    return proc, json.loads(path.read_text())


def stop_serve(proc: subprocess.Popen, timeout: float = 90) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def app_context(dest: Path) -> Path:
    """The test app's build context: busybox and its applets, the scripts."""
    rootfs = dest / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", rootfs / "bin" / applet)
    (rootfs / "tmp").mkdir(mode=0o1777)
    os.chmod(rootfs / "tmp", 0o1777)
    shutil.copytree(HERE / "app" / "cgi", rootfs / "app" / "cgi")
    for f in (rootfs / "app" / "cgi").iterdir():
        f.chmod(0o755)
    shutil.copy(HERE / "app" / "start.sh", rootfs / "app" / "start.sh")
    shutil.copy(HERE / "app" / "Dockerfile", dest / "Dockerfile")
    return dest


class Sandbox:
    def __init__(self, info: dict, registry: str, docker_config: Path, workdir: Path):
        self.info = info
        self.registry = registry
        self.docker_config = docker_config
        self.workdir = workdir
        self.images: dict[str, str] = {}  # tag -> pushed digest
        kw = dict(
            endpoint_url=info["endpoint"],
            region_name="us-east-1",
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )
        self.kw = kw
        self.ecs = boto3.client("ecs", **kw)
        self.logs = boto3.client("logs", **kw)
        self.ssm = boto3.client("ssm", **kw)
        self.ec2 = boto3.client("ec2", **kw)
        # the ALB API refuses health check intervals under 5 s; the sandbox does not, and the tests want speed
        self.elbv2 = boto3.client("elbv2", config=Config(parameter_validation=False), **kw)
        seed = info["seed"]
        self.subnets = seed["subnets"]
        self.security_group = seed["security_group"]

    def docker(self, *args: str, input: str | None = None) -> str:
        env = dict(os.environ, DOCKER_CONFIG=str(self.docker_config))
        out = subprocess.run(["docker", *args], input=input, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {out.stderr}")
        return out.stdout

    def build_push(self, repo: str, tag: str, version: str) -> str:
        ref = f"{self.registry}/{repo}:{tag}"
        ctx = self.workdir / "app-context"
        if not ctx.exists():
            app_context(ctx)
        self.docker("build", "-q", "--build-arg", f"VERSION={version}", "-t", ref, str(ctx))
        out = self.docker("push", ref)
        digest = re.search(r"digest: (sha256:[0-9a-f]{64})", out).group(1)
        self.images[ref] = digest
        return ref

    def network_configuration(self) -> dict:
        return {"awsvpcConfiguration": {"subnets": self.subnets[:1], "securityGroups": [self.security_group]}}


@contextlib.contextmanager
def open_sandbox(workdir: Path, *serve_args: str):
    """A sandbox as `cargo xtask sandbox up` makes one: `serve` (seeding, with
    the push bridge), then docker-registry from the config `serve` wrote (ECR's
    credentials as basic auth), `docker login` with a DOCKER_CONFIG of its own,
    the test app pushed."""
    state_dir = workdir / "state"
    state_dir.mkdir()
    registry_port = free_port()
    registry = f"127.0.0.1:{registry_port}"
    bridge_port = free_port()
    network = f"sbtest-{uuid.uuid4().hex[:8]}"
    proc, info = start_serve(
        state_dir, registry, network,
        "--bridge-port", str(bridge_port),
        "--seed-policies", str(REPO / "infra" / "policies"),
        "--htpasswd", str(state_dir / "htpasswd"),
        "--shutdown-grace", "2",
        # short task credentials, so a test sees them renewed (test_iam.py)
        "--task-credentials-seconds", "20",
        *serve_args,
    )
    reg = None
    sb = None
    try:
        # the registry's config is the one `serve` writes for `cargo xtask sandbox up` too
        config = state_dir / "registry.yml"
        reg_log = open(workdir / "registry.log", "w")
        reg = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=reg_log, stderr=subprocess.STDOUT)

        def registry_up():
            try:
                urllib.request.urlopen(f"http://{registry}/v2/", timeout=1)
            except urllib.error.HTTPError as e:
                return e.code == 401
            except OSError:
                return False
            return False

        wait_for(registry_up, 30, what="the registry")
        docker_config = workdir / "docker-config"
        docker_config.mkdir()
        sb = Sandbox(info, registry, docker_config, workdir)
        ecr = boto3.client("ecr", **sb.kw)
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, password = base64.b64decode(token).decode().split(":", 1)
        sb.docker("login", registry, "-u", user, "--password-stdin", input=password)
        ecr.create_repository(repositoryName="sbtest-app")
        sb.build_push("sbtest-app", "v1", "1")
        sb.build_push("sbtest-app", "v2", "2")
        sb.logs.create_log_group(logGroupName=LOG_GROUP)
        # the seeded execution role may touch Cruddur's resources only; the
        # tests' own (repository, log group, parameters, secrets) are added here
        boto3.client("iam", **sb.kw).put_role_policy(
            RoleName="CruddurServiceExecutionRole", PolicyName="sbtest-resources",
            PolicyDocument=json.dumps(TEST_EXECUTION_POLICY))
        sb.proc = proc
        sb.state_dir = state_dir
        sb.policies = REPO / "infra" / "policies"
        yield sb
    finally:
        if reg is not None:
            reg.terminate()
            reg.wait(10)
        code = stop_serve(proc)
        print(f"serve exited {code}; its log: {state_dir / 'serve.log'}")
        # the test images this sandbox pushed and pulled, by their exact references (nobody else's)
        dc = docker.from_env()
        for ref in [f"{registry}/sbtest-app:{tag}" for tag in ("v1", "v2")] + [
            f"{registry}/sbtest-app@{d}" for d in (sb.images.values() if sb is not None else [])
        ]:
            try:
                dc.images.remove(ref)
            except docker.errors.APIError:
                pass


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with open_sandbox(tmp_path_factory.mktemp("sandbox")) as sb:
        yield sb


@pytest.fixture
def cluster(sandbox, request):
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:60]
    sandbox.ecs.create_cluster(clusterName=name)
    yield name
    # stop what the test left, so tests do not load each other
    for arn in sandbox.ecs.list_services(cluster=name)["serviceArns"]:
        try:
            sandbox.ecs.delete_service(cluster=name, service=arn, force=True)
        except Exception:
            pass
    for arn in sandbox.ecs.list_tasks(cluster=name)["taskArns"]:
        sandbox.ecs.stop_task(cluster=name, task=arn, reason="test over")


def app_container(sandbox: Sandbox, name: str = "app", image: str | None = None, env: dict | None = None,
                  health: bool = True, **extra) -> dict:
    """The test app as a container definition ECS takes; `health`: with a
    container health check (what a test of health needs; the rest go without,
    and count once RUNNING, as on ECS)."""
    c = {
        "name": name,
        "image": image or f"{sandbox.registry}/sbtest-app:v1",
        "essential": True,
        "portMappings": [{"name": name, "containerPort": 8080, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": LOG_GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": name},
        },
        "stopTimeout": 5,
    }
    if health:
        # ECS's shortest interval: the first check comes 5 s after the start
        c["healthCheck"] = {
            "command": ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/cgi-bin/health"],
            "interval": 5,
            "timeout": 2,
            "retries": 2,
        }
    c.update(extra)
    return c


def register(sandbox: Sandbox, family: str, containers: list[dict]) -> str:
    return sandbox.ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        executionRoleArn="arn:aws:iam::123456789012:role/CruddurServiceExecutionRole",
        containerDefinitions=containers,
    )["taskDefinition"]["taskDefinitionArn"]


def describe(sandbox: Sandbox, cluster: str, service: str) -> dict:
    return sandbox.ecs.describe_services(cluster=cluster, services=[service])["services"][0]


def tasks_of(sandbox: Sandbox, cluster: str, service: str | None = None, desired: str = "RUNNING") -> list[dict]:
    kw = {"serviceName": service} if service else {}
    arns = sandbox.ecs.list_tasks(cluster=cluster, desiredStatus=desired, **kw)["taskArns"]
    return sandbox.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def task_ip(task: dict) -> str:
    for a in task["attachments"]:
        for d in a["details"]:
            if d["name"] == "privateIPv4Address":
                return d["value"]
    raise AssertionError(f"task has no address: {task['attachments']}")


def http_get(url: str, timeout: float = 3) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def deployment(service: dict, dep_id: str) -> dict | None:
    return next((d for d in service["deployments"] if d["id"] == dep_id), None)


def primary(service: dict) -> dict:
    return next(d for d in service["deployments"] if d["status"] == "PRIMARY")
