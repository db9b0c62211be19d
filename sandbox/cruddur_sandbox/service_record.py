"""The agent's records of a service and its deployments, beside the object
moto keeps for DescribeServices (the ledger, see ledger.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import now
from .ids import new_deployment_id, new_event_id
from .task_record import platform_version


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
class ScheduledService:
    """What the agent keeps for one ECS service; `ledger` is moto's object of it,
    which DescribeServices serializes."""

    ledger: Any  # moto.ecs.models.Service
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
