"""One task's life as containers, the way the ECS agent on Fargate lives it:
PROVISIONING (secrets, log streams, the task's network namespace: a pause
container on the sandbox network) -> PENDING (image pulls with ECR
credentials, containers created) -> RUNNING (containers started in dependsOn
order, followed: exits, health, logs) -> DEACTIVATING (load balancer
draining) -> STOPPING (SIGTERM, SIGKILL after stopTimeout) -> DEPROVISIONING
-> STOPPED."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from docker.errors import APIError, NotFound
from docker.types import LogConfig

from . import logs as awslogs
from .dockerx import PAUSE_CMD
from .model import (
    DEACTIVATING,
    DEPROVISIONING,
    ESSENTIAL_CONTAINER_EXITED,
    PENDING,
    RUNNING,
    STOPPED,
    STOPPING,
    TASK_FAILED_TO_START,
    ContainerState,
    Task,
)
from .util import (
    ECS_CLUSTER,
    ECS_CONTAINER_NAME,
    ECS_FAMILY,
    ECS_TASK_ARN,
    ECS_VERSION,
    LABEL_DEPLOYMENT,
    LABEL_ROLE,
    LABEL_SANDBOX,
    LABEL_SERVICE,
    now,
    short,
)

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger("cruddur_sandbox.task")

DEFAULT_STOP_TIMEOUT = 30  # Fargate's default; at most 120
DEPENDENCY_TIMEOUT = 180.0


class TaskFailure(Exception):
    def __init__(self, reason: str, container: str | None = None, container_reason: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.container = container
        self.container_reason = container_reason


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def healthcheck(definition: dict[str, Any]) -> dict[str, Any] | None:
    hc = definition.get("healthCheck") or {}
    command = hc.get("command")
    if not command:
        return None
    out = {
        "test": list(command),
        "interval": _ns(hc.get("interval", 30)),
        "timeout": _ns(hc.get("timeout", 5)),
        "retries": int(hc.get("retries", 3)),
    }
    if hc.get("startPeriod"):
        out["start_period"] = _ns(hc["startPeriod"])
    return out


def _docker_name(task: Task, container: str) -> str:
    family = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in task.family)
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in container)
    return f"ecs-{family}-{task.revision}-{name}-{task.id[:12]}"


class Runner:
    """Drives one task in its own thread."""

    def __init__(self, agent: "Agent", task: Task):
        self.agent = agent
        self.dc = agent.docker
        self.task = task
        self.pause_id: str | None = None
        self.shippers: list[awslogs.Shipper] = []
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"task-{short(task.id)}")
        self.env: dict[str, list[str]] = {}
        self.run_images: dict[str, str] = {}

    def start(self) -> None:
        self.thread.start()

    # ------------------------------------------------------------ helpers

    def _labels(self, role: str, container: str | None = None) -> dict[str, str]:
        t = self.task
        labels = {
            LABEL_SANDBOX: self.agent.sandbox,
            LABEL_ROLE: role,
            ECS_CLUSTER: t.cluster_name,
            ECS_TASK_ARN: t.arn,
            ECS_FAMILY: t.family,
            ECS_VERSION: str(t.revision),
        }
        if container:
            labels[ECS_CONTAINER_NAME] = container
        if t.service is not None:
            labels[LABEL_SERVICE] = t.service.name
        if t.deployment_id:
            labels[LABEL_DEPLOYMENT] = t.deployment_id
        return labels

    def _stopping(self) -> bool:
        return self.task.stop_requested.is_set()

    def _override(self, name: str) -> dict[str, Any]:
        for o in (self.task.overrides or {}).get("containerOverrides") or []:
            if o.get("name") == name:
                return o
        return {}

    # ------------------------------------------------------------ phases

    def _run(self) -> None:
        t = self.task
        try:
            self._provision()
            if not self._stopping():
                self._pull_and_create()
            if not self._stopping():
                self._start_containers()
            if not self._stopping():
                self._monitor()
        except TaskFailure as f:
            self.agent.request_stop(t, TASK_FAILED_TO_START, f.reason, failure=True)
            with self.agent.lock:
                for c in t.containers:
                    if f.container is None or c.name == f.container:
                        c.reason = f.container_reason or f.reason
        except Exception as e:  # a bug or a docker hiccup: the task fails, the agent lives
            log.exception("task %s failed inside the agent", short(t.id))
            self.agent.request_stop(t, TASK_FAILED_TO_START, f"InternalError: {e}", failure=True)
        try:
            self._teardown()
        except Exception:
            log.exception("tearing down task %s", short(t.id))
        finally:
            with self.agent.lock:
                t.last_status = STOPPED
                t.stopped_at = t.stopped_at or now()
                t.execution_stopped_at = t.execution_stopped_at or t.stopped_at
                for c in t.containers:
                    c.last_status = "STOPPED"
                t.version += 1
            self.agent.task_stopped(t)
        leftovers = [c.runtime_id for c in self.task.containers if c.runtime_id] + [self.pause_id]
        for container_id in filter(None, leftovers):
            try:
                self.dc.api.remove_container(container_id, force=True, v=True)
            except (NotFound, APIError):
                pass

    def _provision(self) -> None:
        t = self.task
        td = t.task_definition
        # secrets first, as the agent does (with the execution role); all missing ones are named
        wanted = [s["valueFrom"] for cd in td.container_definitions for s in cd.get("secrets") or []]
        secrets = self.agent.resolve_secrets(wanted) if wanted else {}
        for cdef in td.container_definitions:
            env = []
            override = self._override(cdef["name"])
            merged: dict[str, str] = {}
            for item in list(cdef.get("environment") or []) + list(override.get("environment") or []):
                merged[item["name"]] = str(item.get("value", ""))
            env = [f"{k}={v}" for k, v in merged.items()]
            for secret in cdef.get("secrets") or []:
                env.append(f"{secret['name']}={secrets[secret['valueFrom']]}")
            self.env[cdef["name"]] = env
        # log streams
        for c in t.containers:
            opts = awslogs.options(c.definition)
            if opts is not None:
                try:
                    awslogs.prepare(opts, awslogs.stream_name(opts, c.name, t.id))
                except awslogs.LogGroupMissing as e:
                    raise TaskFailure(str(e)) from None
        # the task's network namespace: its ENI
        aliases = self.agent.discovery_aliases(t)
        net = self.agent.network.name
        api = self.dc.api
        container = api.create_container(
            image=self.agent.pause_image,
            command=PAUSE_CMD,
            name=_docker_name(t, "internalecspause"),
            labels=self._labels("pause"),
            host_config=api.create_host_config(network_mode=net, init=False),
            networking_config=api.create_networking_config({net: api.create_endpoint_config(aliases=aliases or None)}),
            stop_timeout=2,
        )
        self.pause_id = container["Id"]
        api.start(self.pause_id)
        info = api.inspect_container(self.pause_id)
        endpoint = info["NetworkSettings"]["Networks"][net]
        with self.agent.lock:
            t.ip = endpoint["IPAddress"]
            t.mac = endpoint.get("MacAddress")
            t.connectivity_at = now()
            t.set_status(PENDING)
        log.info("task %s (%s:%s) has address %s%s", short(t.id), t.family, t.revision, t.ip,
                 f" and names {aliases}" if aliases else "")
        if self.agent.hold:
            # --ecs-running 0: tasks are provisioned but never started
            t.stop_requested.wait()

    def _pull_and_create(self) -> None:
        t = self.task
        with self.agent.lock:
            t.pull_started_at = now()
        for c in t.containers:
            if self._stopping():
                return
            try:
                run_image, digest = self.agent.pull(c.image)
            except TaskFailure as f:
                f.container = c.name
                raise
            with self.agent.lock:
                c.image_digest = digest
            self.run_images[c.name] = run_image
        with self.agent.lock:
            t.pull_stopped_at = now()
        api = self.dc.api
        for c in t.containers:
            d = c.definition
            override = self._override(c.name)
            linux = d.get("linuxParameters") or {}
            labels = dict(d.get("dockerLabels") or {})
            labels.update(self._labels("task", c.name))
            host_config = api.create_host_config(
                network_mode=f"container:{self.pause_id}",
                init=bool(linux.get("initProcessEnabled")) or None,
                log_config=LogConfig(type="json-file", config={"max-size": "20m", "max-file": "2"}),
                read_only=bool(d.get("readonlyRootFilesystem")) or None,
            )
            created = api.create_container(
                image=self.run_images[c.name],
                command=override.get("command") or d.get("command") or None,
                entrypoint=d.get("entryPoint") or None,
                environment=self.env.get(c.name) or None,
                user=d.get("user") or None,
                working_dir=d.get("workingDirectory") or None,
                labels=labels,
                name=_docker_name(t, c.name),
                host_config=host_config,
                healthcheck=healthcheck(d),
                stop_timeout=int(d.get("stopTimeout") or DEFAULT_STOP_TIMEOUT),
            )
            with self.agent.lock:
                c.runtime_id = created["Id"]
            self.agent.watch_container(created["Id"], t)

    def _dependencies_met(self, c: ContainerState) -> bool:
        """dependsOn: START, COMPLETE, SUCCESS, HEALTHY."""
        byname = {x.name: x for x in self.task.containers}
        for dep in c.definition.get("dependsOn") or []:
            other = byname.get(dep.get("containerName"))
            if other is None:
                continue
            cond = dep.get("condition", "START")
            if cond == "START" and not other.started:
                return False
            if cond in ("COMPLETE", "SUCCESS"):
                if other.exit_code is None:
                    return False
                if cond == "SUCCESS" and other.exit_code != 0:
                    raise TaskFailure(
                        f"CannotStartContainerError: dependency {other.name} of {c.name} exited with code "
                        f"{other.exit_code}, not SUCCESS",
                        container=c.name,
                    )
            if cond == "HEALTHY" and other.health_status != "HEALTHY":
                return False
        return True

    def _start_containers(self) -> None:
        t = self.task
        api = self.dc.api
        waiting = list(t.containers)
        deadline = time.monotonic() + DEPENDENCY_TIMEOUT
        while waiting and not self._stopping():
            progressed = False
            for c in list(waiting):
                if not self._dependencies_met(c):
                    continue
                try:
                    api.start(c.runtime_id)
                except APIError as e:
                    raise TaskFailure(
                        f"CannotStartContainerError: {e.explanation or e}", container=c.name
                    ) from None
                opts = awslogs.options(c.definition)
                if opts is not None:
                    shipper = awslogs.Shipper(api, c.runtime_id, opts, awslogs.stream_name(opts, c.name, t.id))
                    shipper.start()
                    self.shippers.append(shipper)
                with self.agent.lock:
                    c.started = True
                    c.last_status = "RUNNING"
                    t.version += 1
                waiting.remove(c)
                progressed = True
            if waiting and not progressed:
                if time.monotonic() > deadline:
                    raise TaskFailure(
                        "CannotStartContainerError: timed out waiting for the dependencies of "
                        + ", ".join(c.name for c in waiting)
                    )
                t.wake.wait(0.5)
                t.wake.clear()
                self._refresh()
        if not self._stopping():
            with self.agent.lock:
                t.started_at = now()
                t.set_status(RUNNING)
            log.info("task %s (%s:%s) RUNNING at %s", short(t.id), t.family, t.revision, t.ip)

    def _refresh(self) -> None:
        """Reads the containers' states from docker."""
        t = self.task
        api = self.dc.api
        essential_exit = None
        for c in t.containers:
            if not c.runtime_id or not c.started or c.exit_code is not None:
                continue
            try:
                state = api.inspect_container(c.runtime_id)["State"]
            except NotFound:
                state = {"Status": "exited", "ExitCode": 137, "OOMKilled": False}
            health = (state.get("Health") or {}).get("Status")
            with self.agent.lock:
                if health:
                    new = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}.get(health, "UNKNOWN")
                    if new != c.health_status:
                        c.health_status = new
                        t.version += 1
                if state.get("Status") in ("exited", "dead"):
                    c.exit_code = int(state.get("ExitCode", 0))
                    c.last_status = "STOPPED"
                    if state.get("OOMKilled"):
                        c.reason = "OutOfMemoryError: Container killed due to memory usage"
                    t.version += 1
                    if c.essential:
                        essential_exit = c
        with self.agent.lock:
            checked = [c for c in t.containers if c.essential and c.has_health_check]
            if not checked:
                status = "UNKNOWN"
            elif any(c.health_status == "UNHEALTHY" for c in checked):
                status = "UNHEALTHY"
            elif all(c.health_status == "HEALTHY" for c in checked):
                status = "HEALTHY"
            else:
                status = "UNKNOWN"
            if status != t.health_status:
                t.health_status = status
                t.version += 1
        if essential_exit is not None and not self._stopping():
            log.info("task %s: essential container %s exited with code %s", short(t.id), essential_exit.name,
                     essential_exit.exit_code)
            self.agent.request_stop(
                t, ESSENTIAL_CONTAINER_EXITED, "Essential container in task exited", failure=True
            )

    def _monitor(self) -> None:
        t = self.task
        while not self._stopping():
            self._refresh()
            if self._stopping():
                break
            t.wake.wait(1.0)
            t.wake.clear()

    # ------------------------------------------------------------ stopping

    def _teardown(self) -> None:
        t = self.task
        api = self.dc.api
        with self.agent.lock:
            was_running = t.last_status == RUNNING
            t.stopping_at = t.stopping_at or now()
        if was_running and t.registrations:
            with self.agent.lock:
                t.set_status(DEACTIVATING)
            delay = self.agent.deregister_targets(t)
            # drain: the load balancer sends no new request; in-flight ones finish
            # before SIGTERM. A task that failed (its essential container exited,
            # or it is unhealthy) is not kept up for that.
            if not t.failure:
                self.agent.fast_stop.wait(delay)
        with self.agent.lock:
            t.set_status(STOPPING)
        started = [c for c in t.containers if c.runtime_id]
        fast = self.agent.fast_stop.is_set()

        def stop(c: ContainerState) -> None:
            timeout = int(c.definition.get("stopTimeout") or DEFAULT_STOP_TIMEOUT)
            if fast:
                timeout = min(timeout, self.agent.shutdown_grace)
            try:
                api.stop(c.runtime_id, timeout=timeout)
            except (NotFound, APIError):
                pass

        if started:
            with ThreadPoolExecutor(max_workers=len(started)) as pool:
                list(pool.map(stop, started))
        for shipper in self.shippers:
            shipper.join(10)
        # final states
        for c in started:
            try:
                state = api.inspect_container(c.runtime_id)["State"]
            except NotFound:
                continue
            with self.agent.lock:
                if c.started and c.exit_code is None:
                    c.exit_code = int(state.get("ExitCode", 0))
                    if state.get("OOMKilled"):
                        c.reason = "OutOfMemoryError: Container killed due to memory usage"
                c.last_status = "STOPPED"
        with self.agent.lock:
            t.execution_stopped_at = now()
            t.set_status(DEPROVISIONING)
        for c in started:
            self.agent.unwatch_container(c.runtime_id)
        # the containers are removed after the task reads STOPPED (with vfs a removal takes a while)
        log.info("task %s (%s:%s) STOPPED: %s (%s)", short(t.id), t.family, t.revision, t.stopped_reason,
                 ", ".join(f"{c.name} exit {c.exit_code}" for c in t.containers))

