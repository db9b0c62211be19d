"""Small shared helpers: time, ids, files, logging, the sandbox label."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"

# Docker labels. The ECS agent's own, plus ours.
LABEL_SANDBOX = "cruddur.sandbox"  # value: this sandbox's id (see sandbox_id)
LABEL_ROLE = "cruddur.sandbox.role"  # task | pause | postgres
LABEL_SERVICE = "cruddur.sandbox.service"
LABEL_DEPLOYMENT = "cruddur.sandbox.deployment"
ECS_CLUSTER = "com.amazonaws.ecs.cluster"
ECS_TASK_ARN = "com.amazonaws.ecs.task-arn"
ECS_CONTAINER_NAME = "com.amazonaws.ecs.container-name"
ECS_FAMILY = "com.amazonaws.ecs.task-definition-family"
ECS_VERSION = "com.amazonaws.ecs.task-definition-version"

log = logging.getLogger("cruddur_sandbox")


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_task_id() -> str:
    return uuid.uuid4().hex


def new_deployment_id() -> str:
    # ECS: ecs-svc/ followed by 19 digits
    return "ecs-svc/" + "".join(secrets.choice("0123456789") for _ in range(19))


def new_event_id() -> str:
    return str(uuid.uuid4())


def sandbox_id(state_dir: Path) -> str:
    """The label value that marks this sandbox's containers and network. Derived
    from the state directory alone, so a later `serve` or `cleanup` with the same
    directory finds what a crashed one left."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()
    return "sb-" + digest[:12]


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: Path, data: object) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # moto's werkzeug request log is noise in the sandbox log unless asked for
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("urllib3", "docker", "botocore", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def short(task_id: str) -> str:
    return task_id[:12]
