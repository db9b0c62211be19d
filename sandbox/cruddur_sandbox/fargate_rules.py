"""What ECS refuses, refused at the sandbox's ECS API with ECS's exception and
words (README: "What the sandbox refuses", with each rule's source). The
numbers are fargate_limits.json's, which the tool's light build checks too
(xtask/src/infra/fargate.rs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from moto.ecs.exceptions import EcsClientException, InvalidParameterException

LIMITS = json.loads((Path(__file__).parent / "fargate_limits.json").read_text())

# RegisterTaskDefinition's ClientException texts, as ECS words them.
AWSVPC_ONLY = "Fargate only supports network mode \u2018awsvpc\u2019."
ROLE_FOR_ECR = "Fargate requires task definition to have execution role ARN to support ECR images."
ROLE_FOR_AWSLOGS = "Fargate requires task definition to have execution role ARN to support log driver awslogs."
STREAM_PREFIX = (
    "Fargate requires log configuration options to include awslogs-stream-prefix to support log driver awslogs."
)
ROLE_FOR_SECRETS = "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
ESSENTIAL_DEPENDENCY = "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
STARTED_BY_ALONE = "cannot specify startedBy with other arguments"


def no_fargate_size(cpu: Any, memory: Any) -> str:
    return (
        f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
        "See the Amazon ECS documentation for the valid values."
    )


def cpu_units(value: Any) -> int | None:
    """Task cpu in units: 256, "256", or "0.25 vCPU" as ECS also takes it."""
    text = str(value).strip().lower()
    try:
        if text.endswith("vcpu"):
            return round(float(text[:-4]) * 1024)
        return int(text)
    except ValueError:
        return None


def memory_mib(value: Any) -> int | None:
    """Task memory in MiB: 512, "512", or "1 GB" as ECS also takes it."""
    text = str(value).strip().lower()
    try:
        if text.endswith("gb"):
            return round(float(text[:-2]) * 1024)
        return int(text.removesuffix("mib"))
    except ValueError:
        return None


def is_fargate_size(cpu: Any, memory: Any) -> bool:
    c, m = cpu_units(cpu), memory_mib(memory)
    for size in LIMITS["task_sizes"]:
        if size["cpu"] != c or m is None:
            continue
        if m in size.get("memory", []):
            return True
        if "memory_range" in size:
            lo, hi, step = size["memory_range"]
            return lo <= m <= hi and (m - lo) % step == 0
    return False


def supports_fargate(td_params: dict) -> bool:
    return "FARGATE" in (td_params.get("requiresCompatibilities") or [])


def check_task_definition(p: dict, is_ecr_image: Callable[[str], bool]) -> None:
    """RegisterTaskDefinition's parameters; raises ECS's ClientException."""
    containers = p.get("containerDefinitions") or []
    if supports_fargate(p):
        _fargate_task(p, containers, is_ecr_image)
    if not p.get("executionRoleArn") and any(c.get("secrets") for c in containers):
        raise EcsClientException(ROLE_FOR_SECRETS)
    names = {c.get("name") for c in containers}
    for c in containers:
        _dependencies(c, containers, names)
        _health_check(c)
        timeout = c.get("startTimeout")
        lo, hi = LIMITS["start_timeout"]
        if timeout is not None and supports_fargate(p) and not lo <= int(timeout) <= hi:
            raise EcsClientException(
                f"Invalid 'startTimeout' setting for container '{c.get('name')}': {timeout}. "
                f"Valid values for Fargate are {lo} to {hi} seconds."
            )


def _fargate_task(p: dict, containers: list[dict], is_ecr_image: Callable[[str], bool]) -> None:
    if p.get("networkMode") != "awsvpc":
        raise EcsClientException(AWSVPC_ONLY)
    for field in ("cpu", "memory"):
        if p.get(field) in (None, ""):
            raise EcsClientException(f"Fargate requires that '{field}' be defined at the task level.")
    if not is_fargate_size(p["cpu"], p["memory"]):
        raise EcsClientException(no_fargate_size(p["cpu"], p["memory"]))
    task_memory = memory_mib(p["memory"])
    for c in containers:
        for field in ("memory", "memoryReservation"):
            if c.get(field) is not None and int(c[field]) > task_memory:
                raise EcsClientException(
                    f"The '{field}' setting for container '{c.get('name')}' is greater than for the task."
                )
    role = p.get("executionRoleArn")
    for c in containers:
        if not role and is_ecr_image(c.get("image") or ""):
            raise EcsClientException(ROLE_FOR_ECR)
        log = c.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs":
            if not role:
                raise EcsClientException(ROLE_FOR_AWSLOGS)
            if not (log.get("options") or {}).get("awslogs-stream-prefix"):
                raise EcsClientException(STREAM_PREFIX)


def _dependencies(c: dict, containers: list[dict], names: set) -> None:
    essential = {x.get("name") for x in containers if x.get("essential", True) is not False}
    for dep in c.get("dependsOn") or []:
        other = dep.get("containerName")
        if other not in names:
            # ECS's own words, its stray "+" too
            raise EcsClientException(f"Cannot depend on container + '{other}' because it does not exist")
        if dep.get("condition") in ("SUCCESS", "COMPLETE") and other in essential:
            raise EcsClientException(ESSENTIAL_DEPENDENCY)


def _health_check(c: dict) -> None:
    hc = c.get("healthCheck")
    if not hc:
        return
    for field, (lo, hi) in LIMITS["health_check"].items():
        value = hc.get(field)
        if value is not None and not lo <= int(value) <= hi:
            raise EcsClientException(
                f"Invalid '{field}' setting for the health check of container '{c.get('name')}': {value}. "
                f"Valid values are {lo} to {hi}."
            )


def check_launch_type(td, launch_type: str | None) -> None:
    """CreateService/UpdateService/RunTask on Fargate need a Fargate task definition."""
    if (launch_type or "FARGATE") == "FARGATE" and "FARGATE" not in (td.requires_compatibilities or []):
        raise InvalidParameterException("Task definition does not support launch_type FARGATE.")


def check_overrides(td, overrides: dict | None) -> None:
    """RunTask: task-level cpu/memory overrides are still a Fargate size, and
    no container asks for more memory than the task has."""
    o = overrides or {}
    cpu, memory = o.get("cpu") or td.cpu, o.get("memory") or td.memory
    fargate = "FARGATE" in (td.requires_compatibilities or [])
    if (o.get("cpu") or o.get("memory")) and fargate and not is_fargate_size(cpu, memory):
        raise EcsClientException(no_fargate_size(cpu, memory))
    task_memory = memory_mib(memory) if memory else None
    for co in o.get("containerOverrides") or []:
        for field in ("memory", "memoryReservation"):
            if co.get(field) is not None and task_memory is not None and int(co[field]) > task_memory:
                raise EcsClientException(
                    f"The '{field}' setting for container '{co.get('name')}' is greater than for the task."
                )


def check_list_tasks(started_by, **others) -> None:
    """ListTasks: "When you specify startedBy as the filter, it must be the only filter that you use." """
    if started_by and any(others.values()):
        raise InvalidParameterException(STARTED_BY_ALONE)
