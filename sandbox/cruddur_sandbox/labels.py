"""Docker labels: the ECS agent's own on every task container, and ours,
which mark what belongs to one sandbox (so exactly that is removed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

LABEL_SANDBOX = "cruddur.sandbox"  # value: this sandbox's id (see sandbox_id)
LABEL_STATE_DIR = "cruddur.sandbox.state-dir"  # on the network: whose lock says if that sandbox runs
LABEL_ROLE = "cruddur.sandbox.role"  # task | pause | postgres
LABEL_SERVICE = "cruddur.sandbox.service"
LABEL_DEPLOYMENT = "cruddur.sandbox.deployment"
ECS_CLUSTER = "com.amazonaws.ecs.cluster"
ECS_TASK_ARN = "com.amazonaws.ecs.task-arn"
ECS_CONTAINER_NAME = "com.amazonaws.ecs.container-name"
ECS_FAMILY = "com.amazonaws.ecs.task-definition-family"
ECS_VERSION = "com.amazonaws.ecs.task-definition-version"


def sandbox_id(state_dir: Path) -> str:
    """The label value that marks this sandbox's containers and network. Derived
    from the state directory alone, so a later `serve` or `cleanup` with the same
    directory finds what a crashed one left."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()
    return "sb-" + digest[:12]
