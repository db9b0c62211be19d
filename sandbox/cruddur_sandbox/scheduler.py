"""The ECS service scheduler: every tick, each service's tasks are brought
towards its deployments. New tasks start within maximumPercent, old ones stop
within minimumHealthyPercent, unhealthy ones are replaced, the deployment
circuit breaker trips (and rolls back), and a deployment completes when its
tasks are all ready and nothing else runs."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from . import ledger
from . import service_events as events
from .clock import now
from .service_record import Deployment, ScheduledService
from .task_lifecycle import Placement
from .task_record import (
    ACTIVATING,
    PENDING,
    PROVISIONING,
    RUNNING,
    SERVICE_SCHEDULER_INITIATED,
    STOPPED,
    Task,
)

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger("cruddur_sandbox.agent")

TICK = 0.5
BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


def has_health_check(t: Task) -> bool:
    return any(c.essential and c.has_health_check for c in t.containers)


def breaker_threshold(desired: int) -> int:
    """ECS: 0.5 x desired count, at least 3 and at most 200."""
    return min(max(3, math.ceil(0.5 * desired)), 200)


class Scheduler:
    def __init__(self, agent: "Agent"):
        self.agent = agent

    def run(self) -> None:
        """The scheduler's thread, until the agent stops."""
        agent = self.agent
        while not agent.stop_event.wait(TICK):
            try:
                with agent.lock:
                    for svc in list(agent.services.values()):
                        if svc.status != "INACTIVE":
                            self.reconcile(svc)
                    agent.lifecycle.prune()
                    ledger.write_clusters(agent)
            except Exception:
                log.exception("scheduler tick failed")

    # ------------------------------------------------------------ one tick of one service

    def reconcile(self, svc: ScheduledService) -> None:
        tasks = [t for t in self.agent.tasks.values() if t.service is svc]
        if svc.primary is None:
            return
        self.agent.lb.register_running(svc, tasks)
        self._replace_unhealthy(svc, tasks)
        self._breaker(svc, tasks)
        self._roll(svc, tasks)
        self._count(svc, tasks)
        self._settle(svc, tasks)
        ledger.write_service(self.agent, svc)

    def ready(self, svc: ScheduledService, t: Task) -> bool:
        """Counts towards the deployment, as ECS counts a task: RUNNING (its
        essential containers started), healthy if it has a container health
        check, healthy in its target groups if the service has any."""
        if not t.live or t.last_status != RUNNING:
            return False
        if has_health_check(t) and t.health_status != "HEALTHY":
            return False
        return self.agent.lb.healthy(svc, t)

    def _in_grace(self, svc: ScheduledService, t: Task) -> bool:
        if not svc.health_check_grace_period or t.started_at is None:
            return False
        return (now() - t.started_at).total_seconds() < svc.health_check_grace_period

    def _replace_unhealthy(self, svc: ScheduledService, tasks: list[Task]) -> None:
        stop = self.agent.lifecycle.request_stop
        for t in tasks:
            if not t.live or t.last_status != RUNNING or self._in_grace(svc, t):
                continue
            if t.health_status == "UNHEALTHY":
                stop(t, SERVICE_SCHEDULER_INITIATED, "Task failed container health checks", failure=True)
                svc.event(events.stopped_tasks(svc, [t]))
                continue
            sick = self.agent.lb.unhealthy_in(svc, t)
            if sick is not None:
                tg, port, state = sick
                svc.event(events.unhealthy_target(svc, t, port, tg, state.description))
                stop(t, SERVICE_SCHEDULER_INITIATED, f"Task failed ELB health checks in (target-group {tg})",
                     failure=True)
                svc.event(events.stopped_tasks(svc, [t]))

    def _breaker(self, svc: ScheduledService, tasks: list[Task]) -> None:
        """A healthy task resets its deployment's failure count; the threshold trips it."""
        prim = svc.primary
        breaker = svc.breaker
        reset = breaker.get("resetOnHealthyTask", True) is not False
        for t in tasks:
            # Only a task that passed a health check resets the count: one that
            # fails before reporting any does not (ECS, containers-roadmap#1206).
            checked = has_health_check(t) or bool(svc.load_balancers)
            if t.deployment_id == prim.id and not t.breaker_reset and checked and self.ready(svc, t):
                t.breaker_reset = True
                if reset:
                    prim.breaker_failures = 0
        if (
            breaker.get("enable")
            and prim.rollout_state == "IN_PROGRESS"
            and prim.breaker_failures >= breaker_threshold(svc.desired_count)
        ):
            self._trip(svc, prim)

    def _roll(self, svc: ScheduledService, tasks: list[Task]) -> None:
        """Start within maximumPercent, stop within minimumHealthyPercent."""
        prim = svc.primary
        desired = svc.desired_count if svc.status == "ACTIVE" else 0
        conf = svc.deployment_configuration
        upper = desired * int(conf.get("maximumPercent", 200)) // 100
        lower = math.ceil(desired * int(conf.get("minimumHealthyPercent", 100)) / 100)
        prim_live = [t for t in tasks if t.live and t.deployment_id == prim.id]
        old_live = [t for t in tasks if t.live and t.deployment_id != prim.id]

        excess = len(prim_live) - desired
        if excess > 0:
            order = sorted(prim_live, key=lambda t: (self.ready(svc, t), -t.created_at.timestamp()))
            self._stop_for_scaling(svc, prim, order[:excess])
        # old tasks that are not serving go at once
        self._stop_for_scaling(svc, prim, [t for t in old_live if not self.ready(svc, t)])
        live = [t for t in tasks if t.live]
        prim_live = [t for t in live if t.deployment_id == prim.id]
        old_live = [t for t in live if t.deployment_id != prim.id]

        launching = prim.rollout_state != "FAILED" and svc.status == "ACTIVE"
        n_start = min(desired - len(prim_live), upper - len(live)) if launching else 0
        if n_start > 0:
            started = self._launch(svc, prim, n_start)
            svc.event(events.started_tasks(svc, started))
            live += started
        ready_total = sum(1 for t in live if self.ready(svc, t))
        stoppable = ready_total - lower
        if stoppable > 0 and old_live:
            old_ready = sorted((t for t in old_live if self.ready(svc, t)), key=lambda t: t.created_at)
            self._stop_for_scaling(svc, prim, old_ready[:stoppable])

    def _count(self, svc: ScheduledService, tasks: list[Task]) -> None:
        """Each deployment's counts; older deployments are ACTIVE."""
        prim = svc.primary
        desired = svc.desired_count if svc.status == "ACTIVE" else 0
        tasks = [t for t in self.agent.tasks.values() if t.service is svc]
        for dep in svc.deployments:
            dts = [t for t in tasks if t.deployment_id == dep.id]
            running = sum(1 for t in dts if t.live and t.last_status == RUNNING)
            pending = sum(1 for t in dts if t.live and t.last_status in (PROVISIONING, PENDING, ACTIVATING))
            want = desired if dep is prim else sum(1 for t in dts if t.live)
            if (running, pending, want) != (dep.running_count, dep.pending_count, dep.desired_count):
                dep.running_count, dep.pending_count, dep.desired_count = running, pending, want
                dep.updated_at = now()
        for d in svc.deployments[1:]:
            if d.status == "PRIMARY":
                d.status = "ACTIVE"

    def _settle(self, svc: ScheduledService, tasks: list[Task]) -> None:
        """Completion and steady state. Older deployments stay listed (with
        their rollout state) until the primary one has settled."""
        prim = svc.primary
        desired = svc.desired_count if svc.status == "ACTIVE" else 0
        tasks = [t for t in self.agent.tasks.values() if t.service is svc]
        prim_live = [t for t in tasks if t.live and t.deployment_id == prim.id]
        transitioning = any(not t.live and t.last_status != STOPPED for t in tasks)
        others = [
            d for d in svc.deployments[1:]
            if any(t.last_status != STOPPED for t in tasks if t.deployment_id == d.id)
        ]
        prim_ready = sum(1 for t in prim_live if self.ready(svc, t))
        settled = not others and prim_ready == desired and len(prim_live) == desired and not transitioning
        if settled and prim.rollout_state == "IN_PROGRESS":
            prim.rollout_state = "COMPLETED"
            prim.rollout_state_reason = f"ECS deployment {prim.id} completed."
            prim.updated_at = now()
            svc.last_completed = prim
            svc.event(events.deployment_completed(svc, prim.id))
            log.info("service %s: deployment %s completed", svc.name, prim.id)
        if settled and len(svc.deployments) > 1:
            svc.deployments = [prim]
        if settled and not svc.steady:
            svc.steady = True
            svc.event(events.steady_state(svc))
        elif not settled:
            svc.steady = False
        if svc.status == "DRAINING" and not any(t.last_status != STOPPED for t in tasks):
            svc.status = "INACTIVE"
            svc.deployments = []

    # ------------------------------------------------------------ actions

    def _launch(self, svc: ScheduledService, dep: Deployment, n: int) -> list[Task]:
        tags = []
        if svc.enable_ecs_managed_tags:
            tags += [
                {"key": "aws:ecs:serviceName", "value": svc.name},
                {"key": "aws:ecs:clusterName", "value": svc.cluster_name},
            ]
        if svc.propagate_tags == "SERVICE":
            tags += list(svc.tags)
        placement = Placement(
            cluster_name=svc.cluster_name,
            cluster_arn=svc.ledger.cluster_arn,
            group=f"service:{svc.name}",
            started_by=dep.id,
            launch_type=dep.launch_type or "FARGATE",
            platform_version=dep.platform_version,
            network_configuration=dep.network_configuration,
            overrides=None,
            tags=tags,
            enable_execute_command=svc.enable_execute_command,
            service=svc,
            deployment_id=dep.id,
        )
        return [self.agent.lifecycle.start(dep.task_definition, placement) for _ in range(n)]

    def _stop_for_scaling(self, svc: ScheduledService, dep: Deployment, tasks: list[Task]) -> None:
        for t in tasks:
            self.agent.lifecycle.request_stop(
                t, SERVICE_SCHEDULER_INITIATED, f"Scaling activity initiated by (deployment {dep.id})"
            )
        if tasks:
            svc.event(events.stopped_tasks(svc, tasks))

    def _trip(self, svc: ScheduledService, dep: Deployment) -> None:
        dep.rollout_state = "FAILED"
        dep.rollout_state_reason = BREAKER_REASON
        dep.updated_at = now()
        svc.event(events.deployment_failed(svc, dep.id))
        log.info("service %s: deployment %s FAILED (circuit breaker, %d failed tasks)", svc.name, dep.id,
                 dep.failed_tasks)
        if not svc.breaker.get("rollback"):
            return
        target = svc.last_completed
        if target is None:
            log.info("service %s: no COMPLETED deployment to roll back to; the deployment stalls", svc.name)
            return
        svc.network_configuration = target.network_configuration
        svc.service_connect_configuration = target.service_connect_configuration
        svc.platform_version = target.platform_version
        # the deployment rolled back to is not eligible for another rollback until this one completes
        svc.last_completed = None
        new = svc.new_deployment(target.task_definition, rollback_of=dep.id)
        new.rollout_state_reason = f"ECS deployment circuit breaker: rolling back to deploymentId {target.id}."
        svc.event(events.rolling_back(svc, target.id))
        log.info("service %s: rolling back to %s as %s", svc.name, target.id, new.id)
