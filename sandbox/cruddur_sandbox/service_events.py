"""The events ECS writes on a service (DescribeServices `events`), in ECS's
words. Each function returns the message; ScheduledService.event records it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from .service_record import ScheduledService
    from .task_record import Task


def _ids(tasks: Iterable["Task"]) -> str:
    return " ".join(f"(task {t.id})" for t in tasks)


def started_tasks(svc: "ScheduledService", tasks: list["Task"]) -> str:
    return f"{svc.label} has started {len(tasks)} tasks: {_ids(tasks)}."


def stopped_tasks(svc: "ScheduledService", tasks: list["Task"]) -> str:
    return f"{svc.label} has stopped {len(tasks)} running tasks: {_ids(tasks)}."


def registered_targets(svc: "ScheduledService", n: int, target_group: str) -> str:
    return f"{svc.label} registered {n} targets in (target-group {target_group})"


def draining(svc: "ScheduledService", n: int) -> str:
    return f"{svc.label} has begun draining connections on {n} tasks."


def deregistered_targets(svc: "ScheduledService", n: int, target_group: str) -> str:
    return f"{svc.label} deregistered {n} targets in (target-group {target_group})"


def unhealthy_target(svc: "ScheduledService", task: "Task", port: int, target_group: str, reason: str | None) -> str:
    return (
        f"{svc.label} (task {task.id}) (port {port}) is unhealthy in (target-group {target_group}) due to "
        f"(reason {reason})."
    )


def deployment_completed(svc: "ScheduledService", deployment_id: str) -> str:
    return f"{svc.label} (deployment {deployment_id}) deployment completed."


def steady_state(svc: "ScheduledService") -> str:
    return f"{svc.label} has reached a steady state."


def deployment_failed(svc: "ScheduledService", deployment_id: str) -> str:
    return f"{svc.label} (deployment {deployment_id}) deployment failed: tasks failed to start."


def rolling_back(svc: "ScheduledService", deployment_id: str) -> str:
    return f"{svc.label} rolling back to deployment {deployment_id}."
