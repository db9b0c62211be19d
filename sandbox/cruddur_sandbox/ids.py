"""Identifiers in ECS's shapes: task ids, deployment ids, event ids."""

from __future__ import annotations

import secrets
import uuid


def new_task_id() -> str:
    return uuid.uuid4().hex


def new_deployment_id() -> str:
    # ECS: ecs-svc/ followed by 19 digits
    return "ecs-svc/" + "".join(secrets.choice("0123456789") for _ in range(19))


def new_event_id() -> str:
    return str(uuid.uuid4())


def short(task_id: str) -> str:
    """A task id as the logs show it."""
    return task_id[:12]
