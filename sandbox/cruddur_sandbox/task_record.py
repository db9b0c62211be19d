"""The agent's record of a task and its containers, and how it reads through
DescribeTasks; the statuses and stop codes ECS uses."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .account import ACCOUNT_ID, REGION
from .clock import now

if TYPE_CHECKING:
    from .service_record import ScheduledService

# Task lastStatus values in the order ECS walks them.
PROVISIONING = "PROVISIONING"
PENDING = "PENDING"
ACTIVATING = "ACTIVATING"
RUNNING = "RUNNING"
DEACTIVATING = "DEACTIVATING"
STOPPING = "STOPPING"
DEPROVISIONING = "DEPROVISIONING"
STOPPED = "STOPPED"
ORDER = [PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED]

# stopCode values
TASK_FAILED_TO_START = "TaskFailedToStart"
ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"
SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"

PLATFORM_VERSION = "1.4.0"  # what LATEST resolves to for Fargate tasks


def platform_version(requested: str | None) -> str | None:
    if requested in (None, "", "LATEST"):
        return PLATFORM_VERSION
    return requested


@dataclass
class ContainerState:
    name: str
    definition: dict[str, Any]
    task_arn: str
    cluster: str
    task_id: str
    image: str = ""
    image_digest: str | None = None
    runtime_id: str | None = None
    last_status: str = "PENDING"
    exit_code: int | None = None
    reason: str | None = None
    health_status: str = "UNKNOWN"
    started: bool = False
    container_arn: str = ""

    def __post_init__(self) -> None:
        self.image = self.definition.get("image", "")
        self.container_arn = (
            f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container/{self.cluster}/{self.task_id}/{uuid.uuid4()}"
        )

    @property
    def essential(self) -> bool:
        return self.definition.get("essential", True) is not False

    @property
    def has_health_check(self) -> bool:
        return bool((self.definition.get("healthCheck") or {}).get("command"))


@dataclass
class Task:
    id: str
    cluster_name: str
    cluster_arn: str
    task_definition: Any  # moto TaskDefinition
    group: str
    started_by: str
    launch_type: str
    platform_version: str | None
    network_configuration: dict[str, Any] | None
    overrides: dict[str, Any]
    tags: list[dict[str, str]]
    enable_execute_command: bool = False
    service: "ScheduledService | None" = None
    deployment_id: str | None = None
    last_status: str = PROVISIONING
    desired_status: str = "RUNNING"
    health_status: str = "UNKNOWN"
    stop_code: str | None = None
    stopped_reason: str | None = None
    created_at: datetime = field(default_factory=now)
    pull_started_at: datetime | None = None
    pull_stopped_at: datetime | None = None
    started_at: datetime | None = None
    connectivity_at: datetime | None = None
    stopping_at: datetime | None = None
    execution_stopped_at: datetime | None = None
    stopped_at: datetime | None = None
    ip: str | None = None
    mac: str | None = None
    eni_id: str = field(default_factory=lambda: "eni-" + uuid.uuid4().hex[:17])
    attachment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    containers: list[ContainerState] = field(default_factory=list)
    version: int = 1
    # scheduling
    failure: bool = False  # stopped for a reason that counts as a failed task
    counted: bool = False  # the service has counted it when it stopped
    breaker_reset: bool = False  # its deployment's circuit breaker count was reset when it became ready
    # target groups this task is registered in: (target group arn, port)
    registrations: list[tuple[str, int]] = field(default_factory=list)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)

    @property
    def arn(self) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{self.cluster_name}/{self.id}"

    @property
    def family(self) -> str:
        return self.task_definition.family

    @property
    def revision(self) -> int:
        return self.task_definition.revision

    @property
    def cpu(self) -> str | None:
        """The task's cpu: RunTask's override, else the definition's."""
        return (self.overrides or {}).get("cpu") or self.task_definition.cpu

    @property
    def memory(self) -> str | None:
        return (self.overrides or {}).get("memory") or self.task_definition.memory

    def container_override(self, name: str) -> dict[str, Any]:
        for o in (self.overrides or {}).get("containerOverrides") or []:
            if o.get("name") == name:
                return o
        return {}

    def rendered_overrides(self) -> dict[str, Any]:
        """RunTask's overrides as DescribeTasks shows them."""
        o = self.overrides or {}
        out: dict[str, Any] = {
            "containerOverrides": o.get("containerOverrides", []),
            "inferenceAcceleratorOverrides": [],
        }
        for key in ("cpu", "memory", "taskRoleArn", "executionRoleArn"):
            if o.get(key):
                out[key] = o[key]
        return out

    @property
    def live(self) -> bool:
        """Desired RUNNING: counts for the scheduler."""
        return self.desired_status == "RUNNING"

    def set_status(self, status: str) -> None:
        if ORDER.index(status) > ORDER.index(self.last_status):
            self.last_status = status
            self.version += 1

    def subnet(self) -> str | None:
        conf = (self.network_configuration or {}).get("awsvpcConfiguration") or {}
        subnets = conf.get("subnets") or []
        return subnets[0] if subnets else None

    def render(self) -> dict[str, Any]:
        """The task as DescribeTasks reports it."""
        td = self.task_definition
        stopped = self.last_status == STOPPED
        attachments = []
        if self.ip or stopped or self.last_status != PROVISIONING:
            details = [
                {"name": "subnetId", "value": self.subnet() or ""},
                {"name": "networkInterfaceId", "value": self.eni_id},
            ]
            if self.mac:
                details.append({"name": "macAddress", "value": self.mac})
            if self.ip:
                details.append(
                    {"name": "privateDnsName", "value": "ip-" + self.ip.replace(".", "-") + ".ec2.internal"}
                )
                details.append({"name": "privateIPv4Address", "value": self.ip})
            attachments.append(
                {
                    "id": self.attachment_id,
                    "type": "ElasticNetworkInterface",
                    "status": "DELETED" if stopped else ("ATTACHED" if self.ip else "PRECREATED"),
                    "details": details,
                }
            )
        containers = []
        for c in self.containers:
            cd: dict[str, Any] = {
                "containerArn": c.container_arn,
                "taskArn": self.arn,
                "name": c.name,
                "image": c.image,
                "lastStatus": c.last_status,
                "networkBindings": [],
                "healthStatus": c.health_status,
                "cpu": str(c.definition.get("cpu", 0)),
            }
            if c.image_digest:
                cd["imageDigest"] = c.image_digest
            if c.runtime_id:
                cd["runtimeId"] = c.runtime_id
            if c.exit_code is not None:
                cd["exitCode"] = c.exit_code
            if c.reason:
                cd["reason"] = c.reason
            if c.definition.get("memory") is not None:
                cd["memory"] = str(c.definition["memory"])
            if self.ip:
                cd["networkInterfaces"] = [{"attachmentId": self.attachment_id, "privateIpv4Address": self.ip}]
            containers.append(cd)
        out: dict[str, Any] = {
            "taskArn": self.arn,
            "clusterArn": self.cluster_arn,
            "taskDefinitionArn": td.arn,
            "attachments": attachments,
            "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
            "availabilityZone": f"{REGION}a",
            "containers": containers,
            "cpu": self.cpu,
            "memory": self.memory,
            "createdAt": self.created_at,
            "desiredStatus": self.desired_status,
            "lastStatus": self.last_status,
            "healthStatus": self.health_status,
            "enableExecuteCommand": self.enable_execute_command,
            "group": self.group,
            "launchType": self.launch_type,
            "platformVersion": platform_version(self.platform_version),
            "platformFamily": "Linux",
            "overrides": self.rendered_overrides(),
            "startedBy": self.started_by or None,
            "tags": self.tags,
            "version": self.version,
            "ephemeralStorage": {"sizeInGiB": 20},
            "connectivity": "CONNECTED" if self.connectivity_at and not stopped else None,
            "connectivityAt": self.connectivity_at,
            "pullStartedAt": self.pull_started_at,
            "pullStoppedAt": self.pull_stopped_at,
            "startedAt": self.started_at,
            "stoppingAt": self.stopping_at,
            "executionStoppedAt": self.execution_stopped_at,
            "stoppedAt": self.stopped_at,
            "stopCode": self.stop_code,
            "stoppedReason": self.stopped_reason,
        }
        return {k: v for k, v in out.items() if v is not None}
