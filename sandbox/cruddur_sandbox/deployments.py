"""CreateService, UpdateService and DeleteService as the ECS service scheduler
takes them: what makes a new deployment, what only scales the current one,
and draining a deleted service. The scheduler (scheduler.py) does the rest."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from moto.ecs.exceptions import ECSException, InvalidParameterException

from . import fargate_rules, lb_registration, ledger, service_connect
from .clock import now
from .service_record import ScheduledService

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger("cruddur_sandbox.agent")

# UpdateService parameters that make a new deployment when they change.
DEPLOYMENT_PARAMETERS = (
    ("networkConfiguration", "network_configuration"),
    ("serviceConnectConfiguration", "service_connect_configuration"),
    ("platformVersion", "platform_version"),
    ("loadBalancers", "load_balancers"),
)


class ServiceNotActiveException(ECSException):
    code = "ServiceNotActiveException"

    def __init__(self) -> None:
        super().__init__("Service was not ACTIVE.")


class Deployments:
    def __init__(self, agent: "Agent"):
        self.agent = agent

    def get_service(self, cluster_name: str, name: str) -> ScheduledService | None:
        return self.agent.services.get((cluster_name, name.rsplit("/", 1)[-1]))

    @staticmethod
    def check(cluster, td, p: dict[str, Any]) -> None:
        """What ECS refuses of CreateService's parameters, before anything is made."""
        fargate_rules.check_launch_type(td, p.get("launchType"))
        lb_registration.validate(list(p.get("loadBalancers") or []), td)
        service_connect.validate(p.get("serviceConnectConfiguration"), td, cluster.service_connect_defaults)

    def create_service(self, ledger_service, cluster, td, p: dict[str, Any]) -> ScheduledService:
        deployment_configuration = dict(p.get("deploymentConfiguration") or {})
        deployment_configuration.setdefault("maximumPercent", 200)
        deployment_configuration.setdefault("minimumHealthyPercent", 100)
        deployment_configuration.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
        load_balancers = list(p.get("loadBalancers") or [])
        svc = ScheduledService(
            ledger=ledger_service,
            cluster_name=cluster.name,
            name=ledger_service.name,
            desired_count=int(p.get("desiredCount") or 0),
            deployment_configuration=deployment_configuration,
            load_balancers=load_balancers,
            health_check_grace_period=int(p.get("healthCheckGracePeriodSeconds") or 0),
            launch_type=p.get("launchType") or "FARGATE",
            platform_version=p.get("platformVersion"),
            network_configuration=p.get("networkConfiguration"),
            service_connect_configuration=p.get("serviceConnectConfiguration"),
            enable_execute_command=bool(p.get("enableExecuteCommand")),
            tags=list(p.get("tags") or []),
            propagate_tags=p.get("propagateTags") or "NONE",
        )
        svc.enable_ecs_managed_tags = bool(p.get("enableECSManagedTags"))
        with self.agent.lock:
            svc.new_deployment(td)
            self.agent.services[(cluster.name, svc.name)] = svc
            ledger.write_service(self.agent, svc)
        log.info("service %s created with %s, desired %d", svc.name, td.arn.rsplit("/", 1)[-1], svc.desired_count)
        return svc

    def update_service(self, svc: ScheduledService, td, p: dict[str, Any]) -> None:
        with self.agent.lock:
            if svc.status != "ACTIVE":
                raise ServiceNotActiveException()
            prim = svc.primary
            target = td or prim.task_definition
            fargate_rules.check_launch_type(target, svc.launch_type)
            lb_registration.validate(list(p.get("loadBalancers") or svc.load_balancers), target)
            service_connect.validate(p.get("serviceConnectConfiguration") or svc.service_connect_configuration,
                                     target, service_connect.cluster_defaults(svc.cluster_name))
            new = bool(p.get("forceNewDeployment"))
            if td is not None and (prim is None or td.arn != prim.task_definition.arn):
                new = True
            for key, attr in DEPLOYMENT_PARAMETERS:
                if p.get(key) is not None and p[key] != getattr(svc, attr):
                    setattr(svc, attr, p[key])
                    new = True
            self._apply_settings(svc, p)
            if new:
                dep = svc.new_deployment(td or prim.task_definition)
                log.info("service %s: new deployment %s of %s", svc.name, dep.id,
                         dep.task_definition.arn.rsplit("/", 1)[-1])
            elif prim is not None:
                prim.desired_count = svc.desired_count
                prim.updated_at = now()
            ledger.write_service(self.agent, svc)

    @staticmethod
    def _apply_settings(svc: ScheduledService, p: dict[str, Any]) -> None:
        """What UpdateService changes without a new deployment."""
        if p.get("deploymentConfiguration") is not None:
            conf = dict(svc.deployment_configuration)
            conf.update(p["deploymentConfiguration"])
            svc.deployment_configuration = conf
        if p.get("healthCheckGracePeriodSeconds") is not None:
            svc.health_check_grace_period = int(p["healthCheckGracePeriodSeconds"])
        if p.get("enableExecuteCommand") is not None:
            svc.enable_execute_command = bool(p["enableExecuteCommand"])
        if p.get("desiredCount") is not None:
            svc.desired_count = int(p["desiredCount"])
            svc.steady = False

    def delete_service(self, svc: ScheduledService, force: bool) -> None:
        with self.agent.lock:
            if svc.status == "INACTIVE":
                raise ServiceNotActiveException()
            if svc.desired_count > 0 and not force:
                raise InvalidParameterException("The service cannot be stopped while it is scaled above 0.")
            svc.desired_count = 0
            svc.status = "DRAINING"
            ledger.write_service(self.agent, svc)
