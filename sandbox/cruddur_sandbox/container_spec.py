"""A task's containers as docker creates them: names, the ECS agent's labels,
environment (the definition's, the overrides', the secrets), docker's health
check from the definition's, and the create-container arguments."""

from __future__ import annotations

from typing import Any

from docker.types import LogConfig

from . import fargate_rules
from .labels import (
    ECS_CLUSTER,
    ECS_CONTAINER_NAME,
    ECS_FAMILY,
    ECS_TASK_ARN,
    ECS_VERSION,
    LABEL_DEPLOYMENT,
    LABEL_ROLE,
    LABEL_SANDBOX,
    LABEL_SERVICE,
)
from .task_record import ContainerState, Task

DEFAULT_STOP_TIMEOUT = 30  # Fargate's default; at most 120


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def healthcheck(definition: dict[str, Any]) -> dict[str, Any] | None:
    hc = definition.get("healthCheck") or {}
    command = hc.get("command")
    if not command:
        return None
    out = {
        "test": list(command),
        "interval": _ns(hc.get("interval", 30)),
        "timeout": _ns(hc.get("timeout", 5)),
        "retries": int(hc.get("retries", 3)),
    }
    if hc.get("startPeriod"):
        out["start_period"] = _ns(hc["startPeriod"])
    return out


def stop_timeout(definition: dict[str, Any]) -> int:
    return int(definition.get("stopTimeout") or DEFAULT_STOP_TIMEOUT)


def docker_name(task: Task, container: str) -> str:
    """What the ECS agent names a task's container in docker."""
    family = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in task.family)
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in container)
    return f"ecs-{family}-{task.revision}-{name}-{task.id[:12]}"


def labels(sandbox: str, task: Task, role: str, container: str | None = None) -> dict[str, str]:
    out = {
        LABEL_SANDBOX: sandbox,
        LABEL_ROLE: role,
        ECS_CLUSTER: task.cluster_name,
        ECS_TASK_ARN: task.arn,
        ECS_FAMILY: task.family,
        ECS_VERSION: str(task.revision),
    }
    if container:
        out[ECS_CONTAINER_NAME] = container
    if task.service is not None:
        out[LABEL_SERVICE] = task.service.name
    if task.deployment_id:
        out[LABEL_DEPLOYMENT] = task.deployment_id
    return out


def environment(task: Task, definition: dict[str, Any], secrets: dict[str, str],
                platform: dict[str, str] | None = None) -> list[str]:
    """What ECS itself gives the container (`platform`: the task endpoint's
    URIs, the region), the definition's environment over it, the override's
    on top, then the secrets."""
    override = task.container_override(definition["name"])
    merged: dict[str, str] = dict(platform or {})
    for item in list(definition.get("environment") or []) + list(override.get("environment") or []):
        merged[item["name"]] = str(item.get("value", ""))
    env = [f"{k}={v}" for k, v in merged.items()]
    for secret in definition.get("secrets") or []:
        env.append(f"{secret['name']}={secrets[secret['valueFrom']]}")
    return env


def resource_limits(task: Task, name: str, d: dict[str, Any]) -> dict[str, Any]:
    """Fargate's limits as docker's: the container's memory (else the task's)
    as a hard limit with no swap, memoryReservation as a soft one, cpu units
    as cpu shares (a relative weight under contention, not a quota)."""
    override = task.container_override(name)
    out: dict[str, Any] = {}
    task_memory = fargate_rules.memory_mib(task.memory) if task.memory else None
    limits = [int(m) for m in (override.get("memory") or d.get("memory"), task_memory) if m]
    memory = min(limits) if limits else None
    if memory:
        out["mem_limit"] = out["memswap_limit"] = f"{int(memory)}m"
    reservation = override.get("memoryReservation") or d.get("memoryReservation")
    if reservation:
        out["mem_reservation"] = f"{int(reservation)}m"
    cpu = override.get("cpu") or d.get("cpu") or (fargate_rules.cpu_units(task.cpu) if task.cpu else None)
    if cpu:
        out["cpu_shares"] = max(2, int(cpu))  # docker's least weight
    return out


def create_args(api, sandbox: str, task: Task, c: ContainerState, *, image: str, pause_id: str,
                env: list[str]) -> dict[str, Any]:
    """docker create's arguments for one of the task's containers, in the
    task's network namespace (the pause container's)."""
    d = c.definition
    override = task.container_override(c.name)
    linux = d.get("linuxParameters") or {}
    all_labels = dict(d.get("dockerLabels") or {})
    all_labels.update(labels(sandbox, task, "task", c.name))
    host_config = api.create_host_config(
        network_mode=f"container:{pause_id}",
        init=bool(linux.get("initProcessEnabled")) or None,
        log_config=LogConfig(type="json-file", config={"max-size": "20m", "max-file": "2"}),
        read_only=bool(d.get("readonlyRootFilesystem")) or None,
        **resource_limits(task, c.name, d),
    )
    return dict(
        image=image,
        command=override.get("command") or d.get("command") or None,
        entrypoint=d.get("entryPoint") or None,
        environment=env or None,
        user=d.get("user") or None,
        working_dir=d.get("workingDirectory") or None,
        labels=all_labels,
        name=docker_name(task, c.name),
        host_config=host_config,
        healthcheck=healthcheck(d),
        stop_timeout=stop_timeout(d),
    )
