"""What DescribeServices and DescribeClusters read: the agent writes its
services' and tasks' state onto the objects moto keeps (moto's ledger), which
moto's own responses serialize."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .account import ACCOUNT_ID, REGION
from .task_record import ACTIVATING, PENDING, PROVISIONING, RUNNING

if TYPE_CHECKING:
    from .agent import Agent
    from .service_record import ScheduledService


def write_service(agent: "Agent", svc: "ScheduledService") -> None:
    """Whole new values, so a DescribeServices serializing at the same time
    sees a consistent service."""
    m = svc.ledger
    tasks = [t for t in agent.tasks.values() if t.service is svc and t.live]
    m.deployments = [d.render() for d in svc.deployments]
    m.events = list(svc.events)
    m.running_count = sum(1 for t in tasks if t.last_status == RUNNING)
    m.pending_count = sum(1 for t in tasks if t.last_status in (PROVISIONING, PENDING, ACTIVATING))
    m.desired_count = svc.desired_count
    m.status = svc.status
    if svc.primary is not None:
        m.task_definition = svc.primary.task_definition.arn
    m.deployment_configuration = svc.deployment_configuration
    m.load_balancers = svc.load_balancers
    m.health_check_grace_period_seconds = svc.health_check_grace_period
    m.network_configuration = svc.network_configuration or {}
    m.launch_type = svc.launch_type
    m.platform_version = svc.platform_version
    m.platform_family = "Linux"
    m.enable_execute_command = svc.enable_execute_command
    m.enable_ecs_managed_tags = svc.enable_ecs_managed_tags
    m.propagate_tags = svc.propagate_tags
    m.created_at = svc.created_at
    m.created_by = f"arn:aws:iam::{ACCOUNT_ID}:root"


def write_clusters(agent: "Agent") -> None:
    """Each cluster's running, pending and active-service counts."""
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[ACCOUNT_ID][REGION]
    for cluster in backend.clusters.values():
        live = [t for t in agent.tasks.values() if t.cluster_name == cluster.name and t.live]
        cluster.running_tasks_count = sum(1 for t in live if t.last_status == RUNNING)
        cluster.pending_tasks_count = sum(1 for t in live if t.last_status != RUNNING)
        cluster.active_services_count = sum(
            1 for s in agent.services.values() if s.cluster_name == cluster.name and s.status == "ACTIVE"
        )
