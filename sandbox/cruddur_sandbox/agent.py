"""The local ECS agent and service scheduler.

It owns ECS's service and task layer for the sandbox: the ECS API calls that
moto only ledgers (see ecs_patch.py) land here. Tasks run as containers
(runtime.py); services roll, fail, trip the deployment circuit breaker and
roll back the way the ECS service scheduler does, and everything reads back
through the normal ECS API."""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from docker.errors import APIError, ImageNotFound
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends

from .dockerx import Network, parse_image
from .model import (
    ACTIVATING,
    PENDING,
    PROVISIONING,
    RUNNING,
    SERVICE_SCHEDULER_INITIATED,
    STOPPED,
    USER_INITIATED,
    ContainerState,
    Deployment,
    ServiceState,
    Task,
)
from .runtime import Runner, TaskFailure
from .util import ACCOUNT_ID, REGION, new_task_id, now, short

log = logging.getLogger("cruddur_sandbox.agent")

STOPPED_RETENTION_SECONDS = 3600  # ECS keeps stopped tasks describable about an hour
STOPPED_KEEP_PER_SERVICE = 100
STOPPED_KEEP_STANDALONE = 200
TICK = 0.5
SETTLE_SECONDS = 1.0

BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


class ServiceNotActiveException(ECSException):
    code = "ServiceNotActiveException"

    def __init__(self) -> None:
        super().__init__("Service was not ACTIVE.")


def breaker_threshold(desired: int) -> int:
    """ECS: 0.5 x desired count, at least 3 and at most 200."""
    return min(max(3, math.ceil(0.5 * desired)), 200)


# Images that come from public registries the sandbox cannot reach, and the
# local stand-in each is run as. Matched on the repository, any tag or digest.
STANDIN_IMAGES = {
    "public.ecr.aws/xray/aws-xray-daemon": (
        "xray",
        "X-Ray daemon stand-in: listens on 2000/udp (logs each segment it receives) and 2000/tcp (sampling API, no rules)",
    ),
    "amazon/aws-xray-daemon": ("xray", "X-Ray daemon stand-in (Docker Hub name)"),
}


class Agent:
    def __init__(
        self,
        *,
        docker,
        sandbox: str,
        network: Network,
        registry: str,
        pause_image: str,
        standins: dict[str, str],
        endpoint: str,
        hold: bool = False,
        shutdown_grace: int = 5,
    ):
        self.docker = docker
        self.sandbox = sandbox
        self.network = network
        self.registry = registry
        self.pause_image = pause_image
        self.standins = standins  # repository -> local image
        self.endpoint = endpoint
        self.hold = hold
        self.shutdown_grace = shutdown_grace
        self.lock = threading.RLock()
        self.tasks: dict[str, Task] = {}
        self.runners: dict[str, Runner] = {}
        self.services: dict[tuple[str, str], ServiceState] = {}
        self.containers: dict[str, Task] = {}  # docker id -> task, for docker events
        self.fast_stop = threading.Event()
        self.stop_event = threading.Event()
        self.elb = None  # set by serve: elb.Elb
        self._events_stream = None
        self._auth: dict[str, str] | None = None
        self._auth_at = 0.0
        self._threads: list[threading.Thread] = []

    # ================================================================ lifecycle

    def start(self) -> None:
        for target, name in ((self._loop, "scheduler"), (self._watch_events, "docker-events")):
            th = threading.Thread(target=target, daemon=True, name=name)
            th.start()
            self._threads.append(th)

    def shutdown(self, wait: float) -> None:
        """Stops every task: SIGTERM, SIGKILL after at most shutdown_grace."""
        self.stop_event.set()
        self.fast_stop.set()
        with self.lock:
            for t in list(self.tasks.values()):
                if t.last_status != STOPPED:
                    self.request_stop(t, USER_INITIATED, "The sandbox is shutting down")
            runners = list(self.runners.values())
        deadline = time.monotonic() + wait
        for r in runners:
            r.thread.join(max(0.0, deadline - time.monotonic()))
        if self._events_stream is not None:
            try:
                self._events_stream.close()
            except Exception:
                pass

    # ================================================================ AWS clients

    def aws(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
            config=Config(retries={"max_attempts": 2}),
        )

    def registry_auth(self) -> dict[str, str]:
        """ECR GetAuthorizationToken, as the agent does before pulling."""
        if self._auth is None or time.monotonic() - self._auth_at > 3600:
            token = self.aws("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
            user, password = base64.b64decode(token).decode().split(":", 1)
            self._auth = {"username": user, "password": password}
            self._auth_at = time.monotonic()
        return self._auth

    # ================================================================ task plumbing

    def _registry_hosts(self) -> set[str]:
        port = self.registry.rsplit(":", 1)[-1]
        return {
            self.registry,
            f"localhost:{port}",
            f"127.0.0.1:{port}",
            f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com",
        }

    def pull(self, image: str) -> tuple[str, str]:
        """Pulls `image` the way the task's execution role would, returns
        (what to run: repository@digest, the digest pulled)."""
        ref = parse_image(image)
        if ref.host in self._registry_hosts():
            repo = f"{self.registry}/{ref.path}"
            wanted = ref.digest or ref.tag
            digest = None
            try:
                for ev in self.docker.api.pull(
                    repo, tag=wanted, stream=True, decode=True, auth_config=self.registry_auth()
                ):
                    if "error" in ev:
                        raise APIError(ev["error"])
                    status = ev.get("status", "")
                    if status.startswith("Digest: "):
                        digest = status.split(" ", 1)[1].strip()
            except APIError as e:
                why = getattr(e, "explanation", None) or str(e)
                raise TaskFailure(
                    f"CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                    f"failed to resolve ref {image}: {why}"
                ) from None
            if not digest:
                if ref.digest:
                    digest = ref.digest
                else:
                    info = self.docker.api.inspect_image(f"{repo}:{ref.tag}")
                    for rd in info.get("RepoDigests") or []:
                        if rd.startswith(repo + "@"):
                            digest = rd.split("@", 1)[1]
            if not digest:
                raise TaskFailure(f"CannotPullContainerError: no digest for {image} after the pull")
            return f"{repo}@{digest}", digest
        standin = self.standins.get(ref.repository)
        if standin:
            try:
                image_id = self.docker.api.inspect_image(standin)["Id"]
            except ImageNotFound:
                raise TaskFailure(f"CannotPullContainerError: the stand-in {standin} for {image} is missing") from None
            return standin, image_id
        raise TaskFailure(
            f"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref "
            f"{image}: the sandbox reaches no registry but its own ({self.registry}) and has no stand-in for "
            f"{ref.repository}"
        )

    def resolve_secrets(self, value_froms: list[str]) -> dict[str, str]:
        """SSM parameters (name or ARN) and Secrets Manager secrets; every one
        missing is named, as the agent names them."""
        out: dict[str, str] = {}
        missing: list[str] = []
        for vf in value_froms:
            if vf.startswith("arn:aws:secretsmanager:"):
                # arn:aws:secretsmanager:region:account:secret:name[:json-key[:version-stage[:version-id]]]
                parts = vf.split(":")
                region, secret_arn = parts[3] or REGION, ":".join(parts[:7])
                json_key, stage, version = (parts[7:] + ["", "", ""])[:3]
                try:
                    got = secretsmanager_backends[ACCOUNT_ID][region].get_secret_value(
                        secret_arn, version or None, stage or None
                    )
                    value = got["SecretString"]
                    if json_key:
                        value = json.loads(value)[json_key]
                        value = value if isinstance(value, str) else json.dumps(value)
                    out[vf] = value
                except Exception:
                    raise TaskFailure(
                        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                        "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 "
                        f"time(s): failed to fetch secret {vf} from secrets manager: ResourceNotFoundException: "
                        "Secrets Manager can't find the specified secret."
                    ) from None
                continue
            region, name = REGION, vf
            if vf.startswith("arn:aws:ssm:"):
                parts = vf.split(":", 5)
                region = parts[3] or REGION
                name = parts[5].removeprefix("parameter")
                if not name.startswith("/") or name.count("/") == 1:
                    name = name.lstrip("/")
                    if "/" in name:
                        name = "/" + name
            try:
                param = ssm_backends[ACCOUNT_ID][region].get_parameter(name)
            except Exception:
                param = None
            if param is None:
                missing.append(name)
                continue
            out[vf] = param.decrypt(param.value)
        if missing:
            raise TaskFailure(
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
                "failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): "
                f"invalid ssm parameters: {' '.join(missing)}"
            )
        return out

    def discovery_aliases(self, task: Task) -> list[str]:
        """Service Connect, simply: the names a service's tasks answer to on the
        sandbox network (discoveryName, else portName; and clientAliases dnsName)."""
        svc = task.service
        if svc is None:
            return []
        dep = next((d for d in svc.deployments if d.id == task.deployment_id), None)
        conf = (dep.service_connect_configuration if dep else svc.service_connect_configuration) or {}
        if not conf.get("enabled"):
            return []
        names: list[str] = []
        for s in conf.get("services") or []:
            name = s.get("discoveryName") or s.get("portName")
            if name:
                names.append(name)
            for alias in s.get("clientAliases") or []:
                if alias.get("dnsName"):
                    names.append(alias["dnsName"])
        return sorted(set(names))

    def watch_container(self, container_id: str, task: Task) -> None:
        with self.lock:
            self.containers[container_id] = task

    def unwatch_container(self, container_id: str) -> None:
        with self.lock:
            self.containers.pop(container_id, None)

    def _watch_events(self) -> None:
        """docker events for this sandbox's containers wake their task at once
        (the task also looks every second on its own)."""
        while not self.stop_event.is_set():
            try:
                self._events_stream = self.docker.events(
                    decode=True, filters={"type": "container", "label": f"cruddur.sandbox={self.sandbox}"}
                )
                for ev in self._events_stream:
                    with self.lock:
                        task = self.containers.get(ev.get("id", ""))
                    if task is not None:
                        task.wake.set()
            except Exception as e:
                if not self.stop_event.is_set():
                    log.warning("docker events stream ended (%s); reconnecting", e)
                    time.sleep(1)

    def deregister_targets(self, task: Task) -> float:
        """Before a registered task gets SIGTERM: deregister it from its
        target groups; returns how long to let it drain."""
        with self.lock:
            regs = list(task.registrations)
            svc = task.service
        if not regs or self.elb is None:
            return 0.0
        delay = 0.0
        for tg, port in regs:
            delay = max(delay, self.elb.deregister(tg, task.ip, port))
        with self.lock:
            if svc is not None:
                svc.event(f"{svc.label} has begun draining connections on 1 tasks.")
                for tg in sorted({tg for tg, _ in regs}):
                    svc.event(f"{svc.label} deregistered 1 targets in (target-group {tg})")
            task.registrations = []
        return delay

    # ================================================================ tasks

    def _new_task(
        self,
        cluster,
        td,
        *,
        group: str,
        started_by: str,
        launch_type: str,
        platform_version: str | None,
        network_configuration: dict | None,
        overrides: dict | None,
        tags: list | None,
        enable_execute_command: bool,
        service: ServiceState | None = None,
        deployment_id: str | None = None,
    ) -> Task:
        t = Task(
            id=new_task_id(),
            cluster_name=cluster.name,
            cluster_arn=cluster.arn,
            task_definition=td,
            group=group,
            started_by=started_by,
            launch_type=launch_type or "FARGATE",
            platform_version=platform_version,
            network_configuration=network_configuration,
            overrides=overrides or {},
            tags=tags or [],
            enable_execute_command=enable_execute_command,
            service=service,
            deployment_id=deployment_id,
        )
        t.containers = [
            ContainerState(name=cd["name"], definition=cd, task_arn=t.arn, cluster=cluster.name, task_id=t.id)
            for cd in td.container_definitions
        ]
        with self.lock:
            self.tasks[t.id] = t
            runner = Runner(self, t)
            self.runners[t.id] = runner
        runner.start()
        return t

    def request_stop(self, task: Task, code: str, reason: str, failure: bool = False) -> None:
        """Sets the task's desired status to STOPPED (first reason wins)."""
        with self.lock:
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

    def task_stopped(self, task: Task) -> None:
        with self.lock:
            self.runners.pop(task.id, None)

    def _prune(self) -> None:
        cutoff = now().timestamp() - STOPPED_RETENTION_SECONDS
        stopped = [t for t in self.tasks.values() if t.last_status == STOPPED and t.stopped_at]
        drop = {t.id for t in stopped if t.stopped_at.timestamp() < cutoff}
        groups: dict[Any, list[Task]] = {}
        for t in stopped:
            groups.setdefault(id(t.service) if t.service else None, []).append(t)
        for key, ts in groups.items():
            keep = STOPPED_KEEP_STANDALONE if key is None else STOPPED_KEEP_PER_SERVICE
            ts.sort(key=lambda t: t.stopped_at, reverse=True)
            drop.update(t.id for t in ts[keep:])
        for tid in drop:
            self.tasks.pop(tid, None)

    # ================================================================ API: tasks

    def run_task(self, cluster, td, *, count, overrides, started_by, group, launch_type, platform_version,
                 network_configuration, tags, enable_execute_command) -> list[Task]:
        if td.network_mode == "awsvpc" and not network_configuration:
            raise InvalidParameterException(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )
        if not 1 <= count <= 10:
            raise InvalidParameterException("count must be between 1 and 10.")
        return [
            self._new_task(
                cluster,
                td,
                group=group or f"family:{td.family}",
                started_by=started_by or "",
                launch_type=launch_type or "FARGATE",
                platform_version=platform_version,
                network_configuration=network_configuration,
                overrides=overrides,
                tags=tags,
                enable_execute_command=enable_execute_command,
            )
            for _ in range(count)
        ]

    def find_task(self, cluster_name: str, ref: str) -> Task | None:
        tid = ref.rsplit("/", 1)[-1]
        with self.lock:
            t = self.tasks.get(tid)
        if t is not None and t.cluster_name == cluster_name:
            return t
        return None

    def stop_task_api(self, cluster_name: str, ref: str, reason: str | None) -> Task:
        t = self.find_task(cluster_name, ref)
        if t is None:
            raise InvalidParameterException("The referenced task was not found.")
        self.request_stop(t, USER_INITIATED, reason or "Task stopped by user")
        return t

    def list_tasks(self, cluster_name: str, *, service_name=None, family=None, started_by=None,
                   desired_status=None, launch_type=None) -> list[Task]:
        desired = desired_status or "RUNNING"
        with self.lock:
            out = []
            for t in self.tasks.values():
                if t.cluster_name != cluster_name:
                    continue
                if service_name and (t.service is None or t.service.name != service_name.rsplit("/", 1)[-1]):
                    continue
                if family and t.family != family:
                    continue
                if started_by and t.started_by != started_by:
                    continue
                if launch_type and t.launch_type != launch_type:
                    continue
                if t.desired_status != desired:
                    continue
                out.append(t)
            out.sort(key=lambda t: t.created_at, reverse=True)
            return out

    # ================================================================ API: services

    def create_service(self, moto_service, cluster, td, p: dict[str, Any]) -> ServiceState:
        deployment_configuration = dict(p.get("deploymentConfiguration") or {})
        deployment_configuration.setdefault("maximumPercent", 200)
        deployment_configuration.setdefault("minimumHealthyPercent", 100)
        deployment_configuration.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
        load_balancers = list(p.get("loadBalancers") or [])
        self._validate_load_balancers(load_balancers, td)
        svc = ServiceState(
            moto=moto_service,
            cluster_name=cluster.name,
            name=moto_service.name,
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
        with self.lock:
            svc.new_deployment(td)
            self.services[(cluster.name, svc.name)] = svc
            self._sync(svc)
        log.info("service %s created with %s, desired %d", svc.name, td.arn.rsplit("/", 1)[-1], svc.desired_count)
        return svc

    def _validate_load_balancers(self, load_balancers: list[dict], td) -> None:
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
                raise InvalidParameterException(
                    f"The container {name} does not exist in the task definition."
                )
            ports = {pm.get("containerPort") for pm in names[name].get("portMappings") or []}
            if lb.get("containerPort") not in ports:
                raise InvalidParameterException(
                    f"The container {name} did not have a container port {lb.get('containerPort')} defined."
                )

    def get_service(self, cluster_name: str, name: str) -> ServiceState | None:
        return self.services.get((cluster_name, name.rsplit("/", 1)[-1]))

    def update_service(self, svc: ServiceState, td, p: dict[str, Any]) -> None:
        with self.lock:
            if svc.status != "ACTIVE":
                raise ServiceNotActiveException()
            new = bool(p.get("forceNewDeployment"))
            prim = svc.primary
            if td is not None and (prim is None or td.arn != prim.task_definition.arn):
                new = True
            for key, attr in (
                ("networkConfiguration", "network_configuration"),
                ("serviceConnectConfiguration", "service_connect_configuration"),
                ("platformVersion", "platform_version"),
                ("loadBalancers", "load_balancers"),
            ):
                if p.get(key) is not None and p[key] != getattr(svc, attr):
                    if key == "loadBalancers":
                        self._validate_load_balancers(list(p[key]), td or prim.task_definition)
                    setattr(svc, attr, p[key])
                    new = True
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
            if new:
                dep = svc.new_deployment(td or prim.task_definition)
                log.info("service %s: new deployment %s of %s", svc.name, dep.id, dep.task_definition.arn.rsplit("/", 1)[-1])
            elif prim is not None:
                prim.desired_count = svc.desired_count
                prim.updated_at = now()
            self._sync(svc)

    def delete_service(self, svc: ServiceState, force: bool) -> None:
        with self.lock:
            if svc.status == "INACTIVE":
                raise ServiceNotActiveException()
            if svc.desired_count > 0 and not force:
                raise InvalidParameterException("The service cannot be stopped while it is scaled above 0.")
            svc.desired_count = 0
            svc.status = "DRAINING"
            self._sync(svc)

    # ================================================================ the scheduler

    def _loop(self) -> None:
        while not self.stop_event.wait(TICK):
            try:
                with self.lock:
                    for svc in list(self.services.values()):
                        if svc.status != "INACTIVE":
                            self._reconcile(svc)
                    self._prune()
                    self._sync_clusters()
            except Exception:
                log.exception("scheduler tick failed")

    def _has_health_check(self, t: Task) -> bool:
        return any(c.essential and c.has_health_check for c in t.containers)

    def _lb_healthy(self, svc: ServiceState, t: Task) -> bool:
        if not svc.load_balancers:
            return True
        if not t.registrations or self.elb is None:
            return False
        return all(self.elb.state(tg, t.ip, port).state == "healthy" for tg, port in t.registrations)

    def _ready(self, svc: ServiceState, t: Task) -> bool:
        """Counts towards the deployment: RUNNING, healthy, healthy in its target groups."""
        if not t.live or t.last_status != RUNNING:
            return False
        if self._has_health_check(t):
            if t.health_status != "HEALTHY":
                return False
        elif t.started_at is None or (now() - t.started_at).total_seconds() < SETTLE_SECONDS:
            # without a health check, a task counts once it has stayed up a moment
            # (a container that exits at once is seen exiting, not counted)
            return False
        return self._lb_healthy(svc, t)

    def _in_grace(self, svc: ServiceState, t: Task) -> bool:
        if not svc.health_check_grace_period or t.started_at is None:
            return False
        return (now() - t.started_at).total_seconds() < svc.health_check_grace_period

    def _launch(self, svc: ServiceState, dep: Deployment, n: int) -> list[Task]:
        cluster = svc.moto  # has cluster_name / cluster_arn
        tags = []
        if svc.enable_ecs_managed_tags:
            tags += [
                {"key": "aws:ecs:serviceName", "value": svc.name},
                {"key": "aws:ecs:clusterName", "value": svc.cluster_name},
            ]
        if svc.propagate_tags == "SERVICE":
            tags += list(svc.tags)

        class _C:
            name = svc.cluster_name
            arn = cluster.cluster_arn

        return [
            self._new_task(
                _C,
                dep.task_definition,
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
            for _ in range(n)
        ]

    def _stop_for_scaling(self, svc: ServiceState, dep: Deployment, tasks: list[Task]) -> None:
        for t in tasks:
            self.request_stop(t, SERVICE_SCHEDULER_INITIATED, f"Scaling activity initiated by (deployment {dep.id})")
        if tasks:
            ids = " ".join(f"(task {t.id})" for t in tasks)
            svc.event(f"{svc.label} has stopped {len(tasks)} running tasks: {ids}.")

    def _reconcile(self, svc: ServiceState) -> None:
        tasks = [t for t in self.tasks.values() if t.service is svc]
        prim = svc.primary
        if prim is None:
            return

        # 1. register RUNNING tasks in their target groups
        if svc.load_balancers and self.elb is not None:
            newly = [t for t in tasks if t.live and t.last_status == RUNNING and not t.registrations and t.ip]
            if newly:
                for lb in svc.load_balancers:
                    tg, port = lb["targetGroupArn"], int(lb["containerPort"])
                    for t in newly:
                        self.elb.register(tg, t.ip, port)
                        t.registrations.append((tg, port))
                    svc.event(f"{svc.label} registered {len(newly)} targets in (target-group {tg})")

        # 2. replace unhealthy tasks
        for t in tasks:
            if not t.live or t.last_status != RUNNING or self._in_grace(svc, t):
                continue
            if t.health_status == "UNHEALTHY":
                self.request_stop(t, SERVICE_SCHEDULER_INITIATED, "Task failed container health checks", failure=True)
                svc.event(f"{svc.label} has stopped 1 running tasks: (task {t.id}).")
                continue
            if svc.load_balancers and self.elb is not None:
                for tg, port in t.registrations:
                    st = self.elb.state(tg, t.ip, port)
                    if st.state == "unhealthy":
                        svc.event(
                            f"{svc.label} (task {t.id}) (port {port}) is unhealthy in (target-group {tg}) due to "
                            f"(reason {st.description})."
                        )
                        self.request_stop(
                            t, SERVICE_SCHEDULER_INITIATED, f"Task failed ELB health checks in (target-group {tg})",
                            failure=True,
                        )
                        svc.event(f"{svc.label} has stopped 1 running tasks: (task {t.id}).")
                        break

        # 3. the circuit breaker: a healthy task resets its count; the threshold trips it
        breaker = svc.breaker
        reset = breaker.get("resetOnHealthyTask", True) is not False
        for t in tasks:
            if t.deployment_id == prim.id and not t.breaker_reset and self._ready(svc, t):
                t.breaker_reset = True
                if reset:
                    prim.breaker_failures = 0
        if (
            breaker.get("enable")
            and prim.rollout_state == "IN_PROGRESS"
            and prim.breaker_failures >= breaker_threshold(svc.desired_count)
        ):
            self._trip(svc, prim)
            prim = svc.primary

        # 4. roll: start within maximumPercent, stop within minimumHealthyPercent
        live = [t for t in tasks if t.live]
        desired = svc.desired_count if svc.status == "ACTIVE" else 0
        conf = svc.deployment_configuration
        upper = desired * int(conf.get("maximumPercent", 200)) // 100
        lower = math.ceil(desired * int(conf.get("minimumHealthyPercent", 100)) / 100)
        prim_live = [t for t in live if t.deployment_id == prim.id]
        old_live = [t for t in live if t.deployment_id != prim.id]

        excess = len(prim_live) - desired
        if excess > 0:
            order = sorted(prim_live, key=lambda t: (self._ready(svc, t), -t.created_at.timestamp()))
            self._stop_for_scaling(svc, prim, order[:excess])
        # old tasks that are not serving go at once
        not_ready_old = [t for t in old_live if not self._ready(svc, t)]
        if not_ready_old:
            self._stop_for_scaling(svc, prim, not_ready_old)
        live = [t for t in tasks if t.live]
        prim_live = [t for t in live if t.deployment_id == prim.id]
        old_live = [t for t in live if t.deployment_id != prim.id]

        launching = prim.rollout_state != "FAILED" and svc.status == "ACTIVE"
        n_start = min(desired - len(prim_live), upper - len(live)) if launching else 0
        if n_start > 0:
            started = self._launch(svc, prim, n_start)
            ids = " ".join(f"(task {t.id})" for t in started)
            svc.event(f"{svc.label} has started {len(started)} tasks: {ids}.")
            live += started
            prim_live += started
        ready_total = sum(1 for t in live if self._ready(svc, t))
        stoppable = ready_total - lower
        if stoppable > 0 and old_live:
            old_ready = sorted((t for t in old_live if self._ready(svc, t)), key=lambda t: t.created_at)
            self._stop_for_scaling(svc, prim, old_ready[:stoppable])

        # 5. counts; drained deployments leave
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

        # 6. completion and steady state. Older deployments stay listed (with
        # their rollout state) until the primary one has settled.
        transitioning = any(not t.live and t.last_status != STOPPED for t in tasks)
        others = [
            d for d in svc.deployments[1:]
            if any(t.last_status != STOPPED for t in tasks if t.deployment_id == d.id)
        ]
        prim_ready = sum(1 for t in prim_live if self._ready(svc, t))
        settled = not others and prim_ready == desired and len(prim_live) == desired and not transitioning
        if settled and prim.rollout_state == "IN_PROGRESS":
            prim.rollout_state = "COMPLETED"
            prim.rollout_state_reason = f"ECS deployment {prim.id} completed."
            prim.updated_at = now()
            svc.last_completed = prim
            svc.event(f"{svc.label} (deployment {prim.id}) deployment completed.")
            log.info("service %s: deployment %s completed", svc.name, prim.id)
        if settled and len(svc.deployments) > 1:
            svc.deployments = [prim]
        if settled and not svc.steady:
            svc.steady = True
            svc.event(f"{svc.label} has reached a steady state.")
        elif not settled:
            svc.steady = False
        if svc.status == "DRAINING" and not any(t.last_status != STOPPED for t in tasks):
            svc.status = "INACTIVE"
            svc.deployments = []
        self._sync(svc)

    def _trip(self, svc: ServiceState, dep: Deployment) -> None:
        dep.rollout_state = "FAILED"
        dep.rollout_state_reason = BREAKER_REASON
        dep.updated_at = now()
        svc.event(f"{svc.label} (deployment {dep.id}) deployment failed: tasks failed to start.")
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
        svc.event(f"{svc.label} rolling back to deployment {target.id}.")
        log.info("service %s: rolling back to %s as %s", svc.name, target.id, new.id)

    # ================================================================ moto's ledger

    def _sync(self, svc: ServiceState) -> None:
        """Writes the service's state onto moto's object (whole new values, so a
        DescribeServices serializing at the same time sees a consistent one)."""
        m = svc.moto
        tasks = [t for t in self.tasks.values() if t.service is svc and t.live]
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

    def _sync_clusters(self) -> None:
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[ACCOUNT_ID][REGION]
        for cluster in backend.clusters.values():
            live = [t for t in self.tasks.values() if t.cluster_name == cluster.name and t.live]
            cluster.running_tasks_count = sum(1 for t in live if t.last_status == RUNNING)
            cluster.pending_tasks_count = sum(1 for t in live if t.last_status != RUNNING)
            cluster.active_services_count = sum(
                1 for s in self.services.values() if s.cluster_name == cluster.name and s.status == "ACTIVE"
            )
