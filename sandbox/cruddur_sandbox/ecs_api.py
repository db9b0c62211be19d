"""Puts the agent under moto's ECS API: the service and task calls moto only
ledgers are answered by the agent, before the server starts. Everything else
(clusters, task definitions, ListServices, DescribeServices, tags) stays
moto's; DescribeServices serializes the service objects the agent keeps
current."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moto.core.responses import ActionResult
from moto.ecs.exceptions import InvalidParameterException, ServiceNotFoundException
from moto.ecs.responses import DESCRIBE_TASKS_TAGS, EC2ContainerServiceResponse

from . import fargate_rules

if TYPE_CHECKING:
    from .agent import Agent

_AGENT: "Agent | None" = None

SERVICE_PARAMS = (
    "desiredCount",
    "deploymentConfiguration",
    "loadBalancers",
    "healthCheckGracePeriodSeconds",
    "launchType",
    "platformVersion",
    "networkConfiguration",
    "serviceConnectConfiguration",
    "enableExecuteCommand",
    "enableECSManagedTags",
    "propagateTags",
    "tags",
    "forceNewDeployment",
)


# clientToken -> what the first call made (RunTask: task ARNs; CreateService:
# the service's ARN). ECS answers a repeated token with the first call's
# result instead of acting again, so a retry after a lost answer is harmless.
_CLIENT_TOKENS: dict[tuple[str, str], object] = {}


def agent() -> "Agent":
    assert _AGENT is not None, "the agent is not installed"
    return _AGENT


def _params(resp: EC2ContainerServiceResponse) -> dict:
    return {k: resp._get_param(k) for k in SERVICE_PARAMS if resp._get_param(k) is not None}


def create_service(self: EC2ContainerServiceResponse) -> ActionResult:
    a = agent()
    cluster_str = self._get_param("cluster", "default")
    name = self._get_param("serviceName")
    td_str = self._get_param("taskDefinition")
    p = _params(self)
    controller = self._get_param("deploymentController") or {"type": "ECS"}
    if controller.get("type", "ECS") != "ECS":
        raise InvalidParameterException("The sandbox's ECS runs only the rolling update (ECS) deployment controller.")
    if not td_str:
        raise InvalidParameterException("A task definition must be specified.")
    backend = self.ecs_backend
    cluster = backend._get_cluster(cluster_str)
    td = backend.describe_task_definition(td_str)
    token = self._get_param("clientToken")
    with a.lock:
        existing = a.deployments.get_service(cluster.name, name)
        if existing is not None and existing.status != "INACTIVE":
            if token and _CLIENT_TOKENS.get(("CreateService", token)) == existing.ledger.arn:
                return ActionResult({"service": existing.ledger})
            raise InvalidParameterException("Creation of service was not idempotent.")
        if td.network_mode == "awsvpc" and not p.get("networkConfiguration"):
            raise InvalidParameterException(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )
        a.deployments.check(cluster, td, p)
        net = p.get("networkConfiguration")
        if net is not None:
            vpc = dict(net.get("awsvpcConfiguration") or {})
            if not vpc.get("subnets"):
                raise InvalidParameterException("subnets can not be empty.")
            # ECS takes the VPC's default security group when none is given; moto's check needs the key
            vpc.setdefault("securityGroups", [])
            net = {**net, "awsvpcConfiguration": vpc}
        service = backend.create_service(
            cluster_str,
            name,
            p.get("desiredCount") or 0,
            td_str,
            load_balancers=p.get("loadBalancers"),
            scheduling_strategy=self._get_param("schedulingStrategy"),
            tags=p.get("tags"),
            deployment_controller=controller,
            launch_type=p.get("launchType") or "FARGATE",
            network_configuration=net,
            service_registries=self._get_param("serviceRegistries"),
            platform_version=p.get("platformVersion"),
            propagate_tags=p.get("propagateTags") or "NONE",
            role_arn=self._get_param("role"),
        )
        # moto counted its pretend tasks on the cluster; the agent counts real ones
        a.deployments.create_service(service, cluster, td, p)
        if token:
            _CLIENT_TOKENS[("CreateService", token)] = service.arn
    return ActionResult({"service": service})


def update_service(self: EC2ContainerServiceResponse) -> ActionResult:
    a = agent()
    cluster_str = self._get_param("cluster", "default")
    name = self._get_param("service")
    td_str = self._get_param("taskDefinition")
    backend = self.ecs_backend
    cluster = backend._get_cluster(cluster_str)
    service = backend._get_service(cluster_str, name.rsplit("/", 1)[-1])
    td = backend.describe_task_definition(td_str) if td_str else None
    with a.lock:
        svc = a.deployments.get_service(cluster.name, service.name)
        if svc is None or svc.ledger is not service:
            raise ServiceNotFoundException()
        a.deployments.update_service(svc, td, _params(self))
    return ActionResult({"service": service})


def delete_service(self: EC2ContainerServiceResponse) -> ActionResult:
    a = agent()
    cluster_str = self._get_param("cluster", "default")
    name = self._get_param("service")
    force = bool(self._get_param("force", False))
    backend = self.ecs_backend
    cluster = backend._get_cluster(cluster_str)
    service = backend._get_service(cluster_str, name.rsplit("/", 1)[-1])
    with a.lock:
        svc = a.deployments.get_service(cluster.name, service.name)
        if svc is None:
            raise ServiceNotFoundException()
        a.deployments.delete_service(svc, force)
    return ActionResult({"service": service})


def run_task(self: EC2ContainerServiceResponse) -> ActionResult:
    a = agent()
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    td = backend.describe_task_definition(self._get_param("taskDefinition"))
    launch_type = self._get_param("launchType") or "FARGATE"
    if launch_type not in ("FARGATE", "EC2", "EXTERNAL"):
        raise InvalidParameterException("launch type should be one of [EC2,FARGATE,EXTERNAL]")
    fargate_rules.check_launch_type(td, launch_type)
    fargate_rules.check_overrides(td, self._get_param("overrides"))
    token = self._get_param("clientToken")
    with a.lock:
        earlier = _CLIENT_TOKENS.get(("RunTask", token)) if token else None
        if earlier is not None:
            tasks = [a.lifecycle.find(cluster.name, arn) for arn in earlier]
            return ActionResult({"tasks": [t.render() for t in tasks if t], "failures": []})
        tasks = a.lifecycle.run_task(
            cluster,
            td,
            count=self._get_int_param("count", 1),
            overrides=self._get_param("overrides"),
            started_by=self._get_param("startedBy"),
            group=self._get_param("group"),
            launch_type=launch_type,
            platform_version=self._get_param("platformVersion"),
            network_configuration=self._get_param("networkConfiguration"),
            tags=self._get_param("tags"),
            enable_execute_command=bool(self._get_param("enableExecuteCommand")),
        )
        if token:
            _CLIENT_TOKENS[("RunTask", token)] = [t.arn for t in tasks]
        rendered = [t.render() for t in tasks]
    return ActionResult({"tasks": rendered, "failures": []})


def start_task(self: EC2ContainerServiceResponse) -> ActionResult:
    raise InvalidParameterException(
        "StartTask places tasks on container instances; the sandbox's cluster has only Fargate capacity: use RunTask."
    )


def list_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
    a = agent()
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    service_name = self._get_param("serviceName")
    fargate_rules.check_list_tasks(
        self._get_param("startedBy"), serviceName=service_name, family=self._get_param("family"),
        containerInstance=self._get_param("containerInstance"), launchType=self._get_param("launchType"),
    )
    if service_name and a.deployments.get_service(cluster.name, service_name) is None:
        raise ServiceNotFoundException()
    tasks = a.lifecycle.list_tasks(
        cluster.name,
        service_name=service_name,
        family=self._get_param("family"),
        started_by=self._get_param("startedBy"),
        desired_status=self._get_param("desiredStatus"),
        launch_type=self._get_param("launchType"),
    )
    return ActionResult(_page(self, [t.arn for t in tasks], "taskArns", default=100))


def _page(resp: EC2ContainerServiceResponse, items: list[str], key: str, default: int) -> dict:
    """maxResults / nextToken, as ECS pages its lists."""
    max_results = resp._get_int_param("maxResults", default) or default
    token = resp._get_param("nextToken")
    start = int(token) if token and token.isdigit() else 0
    result: dict = {key: items[start : start + max_results]}
    if start + max_results < len(items):
        result["nextToken"] = str(start + max_results)
    return result


def describe_tasks(self: EC2ContainerServiceResponse) -> ActionResult:
    a = agent()
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    refs = self._get_param("tasks", [])
    if not refs:
        raise InvalidParameterException("Tasks cannot be empty.")
    tasks, failures = [], []
    with a.lock:
        for ref in refs:
            t = a.lifecycle.find(cluster.name, ref)
            if t is None:
                arn = ref if ref.startswith("arn:") else f"{cluster.arn.replace(':cluster/', ':task/')}/{ref}"
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                tasks.append(t.render())
    if "TAGS" in (self._get_param("include", []) or []):
        self._include_in_response(DESCRIBE_TASKS_TAGS)
    else:
        self._exclude_from_response(DESCRIBE_TASKS_TAGS)
    return ActionResult({"tasks": tasks, "failures": failures})


def stop_task(self: EC2ContainerServiceResponse) -> ActionResult:
    a = agent()
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    task = a.lifecycle.stop_task(cluster.name, self._get_param("task"), self._get_param("reason"))
    with a.lock:
        rendered = task.render()
    return ActionResult({"task": rendered})


def list_services(self: EC2ContainerServiceResponse) -> ActionResult:
    """ECS lists ACTIVE and DRAINING services; deleted (INACTIVE) ones only describe."""
    cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
    launch_type = self._get_param("launchType")
    strategy = self._get_param("schedulingStrategy")
    arns = sorted(
        s.arn
        for s in self.ecs_backend.services.values()
        if s.cluster_name == cluster.name
        and s.status != "INACTIVE"
        and (launch_type is None or s.launch_type == launch_type)
        and (strategy is None or s.scheduling_strategy == strategy)
    )
    return ActionResult(_page(self, arns, "serviceArns", default=10))


_MOTO_REGISTER_TASK_DEFINITION = EC2ContainerServiceResponse.register_task_definition


def register_task_definition(self: EC2ContainerServiceResponse) -> ActionResult:
    """moto's, after what ECS refuses of the definition."""
    keys = ("containerDefinitions", "networkMode", "requiresCompatibilities", "cpu", "memory", "executionRoleArn")
    fargate_rules.check_task_definition({k: self._get_param(k) for k in keys}, agent().images.is_ecr)
    return _MOTO_REGISTER_TASK_DEFINITION(self)


def install(the_agent: "Agent") -> None:
    global _AGENT
    _AGENT = the_agent
    for fn in (create_service, update_service, delete_service, list_services, run_task, start_task, list_tasks,
               describe_tasks, stop_task, register_task_definition):
        setattr(EC2ContainerServiceResponse, fn.__name__, fn)
