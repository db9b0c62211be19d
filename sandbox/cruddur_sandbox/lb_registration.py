"""A service's tasks in its target groups, as the ECS service scheduler keeps
them: a task is registered once RUNNING, counts as ready only when healthy
in every target group, is replaced when unhealthy in one, and is deregistered
(and drained) before its containers get SIGTERM. The health itself is the
load balancer's (target_health.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moto.ecs.exceptions import InvalidParameterException

from . import service_events as events
from .account import ACCOUNT_ID, REGION
from .task_record import RUNNING, Task

if TYPE_CHECKING:
    from .agent import Agent
    from .service_record import ScheduledService
    from .target_health import TargetState


class LoadBalancerRegistration:
    def __init__(self, agent: "Agent"):
        self.agent = agent

    @property
    def elb(self):
        return self.agent.target_health

    def register_running(self, svc: "ScheduledService", tasks: list[Task]) -> None:
        """RUNNING tasks not yet in the service's target groups go in."""
        if not svc.load_balancers or self.elb is None:
            return
        newly = [t for t in tasks if t.live and t.last_status == RUNNING and not t.registrations and t.ip]
        if not newly:
            return
        for lb in svc.load_balancers:
            tg, port = lb["targetGroupArn"], int(lb["containerPort"])
            for t in newly:
                self.elb.register(tg, t.ip, port)
                t.registrations.append((tg, port))
            svc.event(events.registered_targets(svc, len(newly), tg))

    def healthy(self, svc: "ScheduledService", t: Task) -> bool:
        """Healthy in every target group of the service (true without any)."""
        if not svc.load_balancers:
            return True
        if not t.registrations or self.elb is None:
            return False
        return all(self.elb.state(tg, t.ip, port).state == "healthy" for tg, port in t.registrations)

    def unhealthy_in(self, svc: "ScheduledService", t: Task) -> tuple[str, int, "TargetState"] | None:
        """The first target group the task is unhealthy in: (arn, port, state)."""
        if not svc.load_balancers or self.elb is None:
            return None
        for tg, port in t.registrations:
            st = self.elb.state(tg, t.ip, port)
            if st.state == "unhealthy":
                return tg, port, st
        return None

    def deregister(self, task: Task) -> float:
        """Before a registered task gets SIGTERM: deregister it from its
        target groups; returns how long to let it drain."""
        with self.agent.lock:
            regs = list(task.registrations)
            svc = task.service
        if not regs or self.elb is None:
            return 0.0
        delay = 0.0
        for tg, port in regs:
            delay = max(delay, self.elb.deregister(tg, task.ip, port))
        with self.agent.lock:
            if svc is not None:
                svc.event(events.draining(svc, 1))
                for tg in sorted({tg for tg, _ in regs}):
                    svc.event(events.deregistered_targets(svc, 1, tg))
            task.registrations = []
        return delay


def validate(load_balancers: list[dict], td) -> None:
    """CreateService/UpdateService: the target groups exist, are in use by a
    load balancer, take `ip` targets (awsvpc), and the container and port are
    the task definition's."""
    if not load_balancers:
        return
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[ACCOUNT_ID][REGION]
    names = {c["name"]: c for c in td.container_definitions}
    for lb in load_balancers:
        arn = lb.get("targetGroupArn")
        tg = backend.target_groups.get(arn or "")
        if tg is None:
            raise InvalidParameterException(f"Unable to assume role and validate the specified targetGroupArn: {arn}")
        if not tg.load_balancer_arns:
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated load balancer."
            )
        if tg.target_type != "ip":
            raise InvalidParameterException(
                f"The provided target group {arn} has target type {tg.target_type}, which is incompatible with "
                "the awsvpc network mode specified in the task definition."
            )
        name = lb.get("containerName")
        if name not in names:
            raise InvalidParameterException(f"The container {name} does not exist in the task definition.")
        ports = {pm.get("containerPort") for pm in names[name].get("portMappings") or []}
        if lb.get("containerPort") not in ports:
            raise InvalidParameterException(
                f"The container {name} did not have a container port {lb.get('containerPort')} defined."
            )
