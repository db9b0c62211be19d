"""The agent's records of tasks, deployments and services, and how each reads
through the ECS API (DescribeTasks / DescribeServices shapes)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .util import ACCOUNT_ID, REGION, new_deployment_id, new_event_id, now

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
    service: "ServiceState | None" = None
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
            "cpu": td.cpu,
            "memory": td.memory,
            "createdAt": self.created_at,
            "desiredStatus": self.desired_status,
            "lastStatus": self.last_status,
            "healthStatus": self.health_status,
            "enableExecuteCommand": self.enable_execute_command,
            "group": self.group,
            "launchType": self.launch_type,
            "platformVersion": platform_version(self.platform_version),
            "platformFamily": "Linux",
            "overrides": {
                "containerOverrides": (self.overrides or {}).get("containerOverrides", []),
                "inferenceAcceleratorOverrides": [],
            },
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


@dataclass
class Deployment:
    task_definition: Any  # moto TaskDefinition
    desired_count: int
    launch_type: str | None
    platform_version: str | None
    network_configuration: dict[str, Any] | None
    service_connect_configuration: dict[str, Any] | None
    id: str = field(default_factory=new_deployment_id)
    status: str = "PRIMARY"
    running_count: int = 0
    pending_count: int = 0
    failed_tasks: int = 0
    rollout_state: str = "IN_PROGRESS"
    rollout_state_reason: str = ""
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    # the circuit breaker's failure count (reset when a task becomes healthy)
    breaker_failures: int = 0
    rollback_of: str | None = None

    def __post_init__(self) -> None:
        if not self.rollout_state_reason:
            self.rollout_state_reason = f"ECS deployment {self.id} in progress."

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.task_definition.arn,
            "desiredCount": self.desired_count,
            "pendingCount": self.pending_count,
            "runningCount": self.running_count,
            "failedTasks": self.failed_tasks,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "launchType": self.launch_type,
            "platformVersion": platform_version(self.platform_version) if self.launch_type == "FARGATE" else None,
            "platformFamily": "Linux",
            "networkConfiguration": self.network_configuration,
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.rollout_state_reason,
        }
        if self.service_connect_configuration:
            out["serviceConnectConfiguration"] = self.service_connect_configuration
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class ServiceState:
    """What the agent keeps for one ECS service beside moto's ledger object."""

    moto: Any  # moto.ecs.models.Service, which DescribeServices serializes
    cluster_name: str
    name: str
    desired_count: int
    deployment_configuration: dict[str, Any]
    load_balancers: list[dict[str, Any]]
    health_check_grace_period: int
    launch_type: str | None
    platform_version: str | None
    network_configuration: dict[str, Any] | None
    service_connect_configuration: dict[str, Any] | None
    enable_execute_command: bool = False
    enable_ecs_managed_tags: bool = False
    tags: list[dict[str, str]] = field(default_factory=list)
    propagate_tags: str = "NONE"
    status: str = "ACTIVE"
    deployments: list[Deployment] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    last_completed: Deployment | None = None
    steady: bool = False
    created_at: datetime = field(default_factory=now)

    @property
    def label(self) -> str:
        return f"(service {self.name})"

    @property
    def primary(self) -> Deployment | None:
        return self.deployments[0] if self.deployments else None

    @property
    def breaker(self) -> dict[str, Any]:
        return self.deployment_configuration.get("deploymentCircuitBreaker") or {}

    def event(self, message: str) -> None:
        self.events = [{"id": new_event_id(), "createdAt": now(), "message": message}] + self.events[:99]

    def new_deployment(self, task_definition: Any, rollback_of: str | None = None) -> Deployment:
        for d in self.deployments:
            d.status = "ACTIVE"
            d.updated_at = now()
        dep = Deployment(
            task_definition=task_definition,
            desired_count=self.desired_count,
            launch_type=self.launch_type,
            platform_version=self.platform_version,
            network_configuration=self.network_configuration,
            service_connect_configuration=self.service_connect_configuration,
            rollback_of=rollback_of,
        )
        self.deployments = [dep] + self.deployments
        self.steady = False
        return dep
