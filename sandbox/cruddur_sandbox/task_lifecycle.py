"""Tasks from their start to their record's end: made (RunTask, or the
service scheduler), stopped (StopTask, a failure, the scheduler), listed
(ListTasks), kept describable an hour after they stop. Each task's own life
as containers is its TaskRunner's (task_runner.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.ecs.exceptions import InvalidParameterException

from .clock import now
from .ids import new_task_id, short
from .task_record import STOPPED, USER_INITIATED, ContainerState, Task
from .task_runner import TaskRunner

if TYPE_CHECKING:
    from .agent import Agent
    from .service_record import ScheduledService

log = logging.getLogger("cruddur_sandbox.agent")

STOPPED_RETENTION_SECONDS = 3600  # ECS keeps stopped tasks describable about an hour
STOPPED_KEEP_PER_SERVICE = 100
STOPPED_KEEP_STANDALONE = 200


@dataclass
class Placement:
    """Where and how a task runs: what RunTask's parameters (or the service's
    deployment) say beside the task definition."""

    cluster_name: str
    cluster_arn: str
    group: str
    started_by: str
    launch_type: str
    platform_version: str | None
    network_configuration: dict | None
    overrides: dict | None
    tags: list | None
    enable_execute_command: bool
    service: "ScheduledService | None" = None
    deployment_id: str | None = None


class TaskLifecycle:
    def __init__(self, agent: "Agent"):
        self.agent = agent

    def start(self, td, placement: Placement) -> Task:
        """A new task (PROVISIONING), its runner started."""
        p = placement
        t = Task(
            id=new_task_id(),
            cluster_name=p.cluster_name,
            cluster_arn=p.cluster_arn,
            task_definition=td,
            group=p.group,
            started_by=p.started_by,
            launch_type=p.launch_type or "FARGATE",
            platform_version=p.platform_version,
            network_configuration=p.network_configuration,
            overrides=p.overrides or {},
            tags=p.tags or [],
            enable_execute_command=p.enable_execute_command,
            service=p.service,
            deployment_id=p.deployment_id,
        )
        t.containers = [
            ContainerState(name=cd["name"], definition=cd, task_arn=t.arn, cluster=p.cluster_name, task_id=t.id)
            for cd in td.container_definitions
        ]
        agent = self.agent
        with agent.lock:
            agent.tasks[t.id] = t
            runner = TaskRunner(agent, t)
            agent.runners[t.id] = runner
        runner.start()
        return t

    def request_stop(self, task: Task, code: str, reason: str, failure: bool = False) -> None:
        """Sets the task's desired status to STOPPED (first reason wins). A
        failure counts against its deployment (and its circuit breaker)."""
        with self.agent.lock:
            if task.desired_status == "STOPPED":
                return
            task.desired_status = "STOPPED"
            task.stop_code = code
            task.stopped_reason = reason
            task.failure = failure
            task.stopping_at = now()
            task.version += 1
            svc = task.service
            if svc is not None and failure and not task.counted:
                task.counted = True
                dep = next((d for d in svc.deployments if d.id == task.deployment_id), None)
                if dep is not None:
                    dep.failed_tasks += 1
                    dep.breaker_failures += 1
                    dep.updated_at = now()
        task.stop_requested.set()
        task.wake.set()
        log.info("task %s: stopping (%s: %s)", short(task.id), code, reason)

    def runner_done(self, task: Task) -> None:
        with self.agent.lock:
            self.agent.runners.pop(task.id, None)

    def prune(self) -> None:
        """Forgets stopped tasks as ECS does: after an hour, or past the newest
        ones of their service."""
        tasks = self.agent.tasks
        cutoff = now().timestamp() - STOPPED_RETENTION_SECONDS
        stopped = [t for t in tasks.values() if t.last_status == STOPPED and t.stopped_at]
        drop = {t.id for t in stopped if t.stopped_at.timestamp() < cutoff}
        groups: dict[Any, list[Task]] = {}
        for t in stopped:
            groups.setdefault(id(t.service) if t.service else None, []).append(t)
        for key, ts in groups.items():
            keep = STOPPED_KEEP_STANDALONE if key is None else STOPPED_KEEP_PER_SERVICE
            ts.sort(key=lambda t: t.stopped_at, reverse=True)
            drop.update(t.id for t in ts[keep:])
        for tid in drop:
            tasks.pop(tid, None)

    # ------------------------------------------------------------ the API

    def run_task(self, cluster, td, *, count: int, overrides, started_by, group, launch_type, platform_version,
                 network_configuration, tags, enable_execute_command) -> list[Task]:
        if td.network_mode == "awsvpc" and not network_configuration:
            raise InvalidParameterException(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )
        if not 1 <= count <= 10:
            raise InvalidParameterException("count must be between 1 and 10.")
        placement = Placement(
            cluster_name=cluster.name,
            cluster_arn=cluster.arn,
            group=group or f"family:{td.family}",
            started_by=started_by or "",
            launch_type=launch_type or "FARGATE",
            platform_version=platform_version,
            network_configuration=network_configuration,
            overrides=overrides,
            tags=tags,
            enable_execute_command=enable_execute_command,
        )
        return [self.start(td, placement) for _ in range(count)]

    def find(self, cluster_name: str, ref: str) -> Task | None:
        tid = ref.rsplit("/", 1)[-1]
        with self.agent.lock:
            t = self.agent.tasks.get(tid)
        if t is not None and t.cluster_name == cluster_name:
            return t
        return None

    def stop_task(self, cluster_name: str, ref: str, reason: str | None) -> Task:
        t = self.find(cluster_name, ref)
        if t is None:
            raise InvalidParameterException("The referenced task was not found.")
        self.request_stop(t, USER_INITIATED, reason or "Task stopped by user")
        return t

    def list_tasks(self, cluster_name: str, *, service_name=None, family=None, started_by=None,
                   desired_status=None, launch_type=None) -> list[Task]:
        desired = desired_status or "RUNNING"
        service = service_name.rsplit("/", 1)[-1] if service_name else None
        with self.agent.lock:
            out = [
                t for t in self.agent.tasks.values()
                if t.cluster_name == cluster_name
                and (not service or (t.service is not None and t.service.name == service))
                and (not family or t.family == family)
                and (not started_by or t.started_by == started_by)
                and (not launch_type or t.launch_type == launch_type)
                and t.desired_status == desired
            ]
        out.sort(key=lambda t: t.created_at, reverse=True)
        return out
