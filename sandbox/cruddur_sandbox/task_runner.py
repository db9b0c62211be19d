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
from typing import TYPE_CHECKING

from docker.errors import APIError, NotFound

from . import awslogs, container_dependencies, container_exit, container_spec, helper_images, service_connect
from . import task_roles, task_secrets
from .clock import now
from .ids import short
from .task_failure import TaskFailure
from .task_record import (
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

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger("cruddur_sandbox.task")
# How long a task goes without reading its containers' states when docker's
# events (the agent's watch: every exit, health change and health check wakes
# the task at once) say nothing: a second made each running task inspect its
# containers every second, a quarter of a sandbox's CPU in a deploy test.
LOOK_AGAIN_SECONDS = 5.0


class TaskRunner:
    """Drives one task in its own thread."""

    def __init__(self, agent: "Agent", task: Task):
        self.agent = agent
        self.api = agent.docker.api
        self.task = task
        self.pause_id: str | None = None
        self.shippers: list[awslogs.Shipper] = []
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"task-{short(task.id)}")
        self.env: dict[str, list[str]] = {}
        self.run_images: dict[str, str] = {}
        self.forwarder_ids: list[str] = []
        self.execution = task_roles.ExecutionRole(task)

    def start(self) -> None:
        self.thread.start()

    def _stopping(self) -> bool:
        return self.task.stop_requested.is_set()

    def _stop(self, code: str, reason: str, failure: bool = False) -> None:
        self.agent.lifecycle.request_stop(self.task, code, reason, failure=failure)

    # ------------------------------------------------------------ phases

    def _run(self) -> None:
        t = self.task
        try:
            for phase in (self._provision, self._pull_and_create, self._start_containers, self._monitor):
                if self._stopping():
                    break
                phase()
        except TaskFailure as f:
            self._stop(TASK_FAILED_TO_START, f.reason, failure=True)
            with self.agent.lock:
                for c in t.containers:
                    if f.container is None or c.name == f.container:
                        c.reason = f.container_reason or f.reason
        except Exception as e:  # a bug or a docker hiccup: the task fails, the agent lives
            log.exception("task %s failed inside the agent", short(t.id))
            self._stop(TASK_FAILED_TO_START, f"InternalError: {e}", failure=True)
        try:
            self._teardown()
        except Exception:
            log.exception("tearing down task %s", short(t.id))
        finally:
            if self.agent.task_endpoint is not None:
                self.agent.task_endpoint.forget(t)
            self._mark_stopped()
        self._remove_containers()

    def _mark_stopped(self) -> None:
        t = self.task
        with self.agent.lock:
            t.last_status = STOPPED
            t.stopped_at = t.stopped_at or now()
            t.execution_stopped_at = t.execution_stopped_at or t.stopped_at
            for c in t.containers:
                c.last_status = "STOPPED"
            t.version += 1
        self.agent.lifecycle.runner_done(t)

    def _remove_containers(self) -> None:
        started = [c.runtime_id for c in self.task.containers if c.runtime_id]
        leftovers = started + self.forwarder_ids + [self.pause_id]
        for container_id in filter(None, leftovers):
            try:
                self.api.remove_container(container_id, force=True, v=True)
            except (NotFound, APIError):
                pass

    def _provision(self) -> None:
        t = self.task
        td = t.task_definition
        # ECS assumes both roles; then, as the execution role, it logs in to
        # ECR and reads the secrets (all missing ones are named), each only
        # when that role may (task_roles.py)
        self.execution.assume()
        role_arn = task_roles.task_role_arn(t)
        task_roles.check_assumable(role_arn)
        if any(self.agent.images.is_ecr(c.image) for c in t.containers):
            self.execution.ecr_login()
        wanted = [s["valueFrom"] for cd in td.container_definitions for s in cd.get("secrets") or []]
        secrets = task_secrets.resolve(wanted, self.execution) if wanted else {}
        endpoint = self.agent.task_endpoint
        platform = endpoint.register(t, role_arn) if endpoint is not None else {}
        for cdef in td.container_definitions:
            self.env[cdef["name"]] = container_spec.environment(t, cdef, secrets, platform.get(cdef["name"]))
        for c in t.containers:
            opts = awslogs.options(c.definition)
            if opts is not None:
                stream = awslogs.stream_name(opts, c.name, t.id)
                self.execution.log_stream(opts, stream, c.name)
                try:
                    awslogs.prepare(opts, stream)
                except awslogs.LogGroupMissing as e:
                    raise TaskFailure(str(e)) from None
        self._start_network_namespace()
        if self.agent.hold:
            # --ecs-running 0: tasks are provisioned but never started
            t.stop_requested.wait()

    def _start_network_namespace(self) -> None:
        """The task's ENI: a pause container on the sandbox network whose
        namespace every container of the task joins; on its Service Connect
        namespace's network too, with the names it serves."""
        t = self.task
        sc = service_connect.endpoints(t)
        net = self.agent.network.name
        api = self.api
        task_endpoint = self.agent.task_endpoint
        container = api.create_container(
            image=self.agent.pause_image,
            command=helper_images.pause_command(self.agent.network.gateway if task_endpoint else None),
            name=container_spec.docker_name(t, "internalecspause"),
            labels=container_spec.labels(self.agent.sandbox, t, "pause"),
            # the route to the task endpoint: only this busybox gets
            # NET_ADMIN, never the task's containers
            host_config=api.create_host_config(network_mode=net, init=False,
                                               cap_add=["NET_ADMIN"] if task_endpoint is not None else None),
            stop_timeout=2,
        )
        self.pause_id = container["Id"]
        if sc is not None:
            namespace_net = self.agent.namespace_networks.network_for(sc.namespace)
            api.connect_container_to_network(self.pause_id, namespace_net, aliases=sc.dns_names or None)
        api.start(self.pause_id)
        endpoint = api.inspect_container(self.pause_id)["NetworkSettings"]["Networks"][net]
        with self.agent.lock:
            t.ip = endpoint["IPAddress"]
            t.mac = endpoint.get("MacAddress")
            t.connectivity_at = now()
            t.set_status(PENDING)
        if sc is not None:
            self._start_forwarders(sc)
        log.info("task %s (%s:%s) has address %s%s", short(t.id), t.family, t.revision, t.ip,
                 f" and, in namespace {sc.namespace}, names {sc.dns_names}" if sc else "")

    def _start_forwarders(self, sc: service_connect.TaskEndpoints) -> None:
        """A client alias whose port is not the container's: what ECS's proxy
        does, a forwarder in the task's namespace from one to the other."""
        api = self.api
        for alias in sc.aliases:
            if alias.port == alias.container_port:
                continue
            created = api.create_container(
                image=self.agent.pause_image,
                command=service_connect.forwarder_command(alias),
                name=container_spec.docker_name(self.task, f"ecs-service-connect-{alias.port}"),
                labels=container_spec.labels(self.agent.sandbox, self.task, "service-connect"),
                host_config=api.create_host_config(network_mode=f"container:{self.pause_id}"),
                stop_timeout=1,
            )
            self.forwarder_ids.append(created["Id"])
            api.start(created["Id"])

    def _pull_and_create(self) -> None:
        t = self.task
        with self.agent.lock:
            t.pull_started_at = now()
        for c in t.containers:
            if self._stopping():
                return
            try:
                if self.agent.images.is_ecr(c.image):
                    self.execution.ecr_pull(c.image, c.name)
                run_image, digest = self.agent.images.pull(c.image)
            except TaskFailure as f:
                f.container = c.name
                raise
            with self.agent.lock:
                c.image_digest = digest
            self.run_images[c.name] = run_image
        with self.agent.lock:
            t.pull_stopped_at = now()
        for c in t.containers:
            args = container_spec.create_args(self.api, self.agent.sandbox, t, c, image=self.run_images[c.name],
                                              pause_id=self.pause_id, env=self.env.get(c.name) or [])
            created = self.api.create_container(**args)
            with self.agent.lock:
                c.runtime_id = created["Id"]
            self.agent.watch_container(created["Id"], t)

    def _start_containers(self) -> None:
        t = self.task
        waiting = list(t.containers)
        started_at = time.monotonic()
        while waiting and not self._stopping():
            progressed = False
            for c in list(waiting):
                if not container_dependencies.unmet(t, c):
                    self._start_container(c)
                    waiting.remove(c)
                    progressed = True
            if waiting and not progressed:
                container_dependencies.give_up_after_start_timeouts(t, waiting, time.monotonic() - started_at)
                t.wake.wait(0.5)
                t.wake.clear()
                self._refresh()
        if not self._stopping():
            with self.agent.lock:
                t.started_at = now()
                t.set_status(RUNNING)
            log.info("task %s (%s:%s) RUNNING at %s", short(t.id), t.family, t.revision, t.ip)

    def _start_container(self, c: ContainerState) -> None:
        t = self.task
        try:
            self.api.start(c.runtime_id)
        except APIError as e:
            raise TaskFailure(f"CannotStartContainerError: {e.explanation or e}", container=c.name) from None
        opts = awslogs.options(c.definition)
        stream = awslogs.stream_name(opts, c.name, t.id) if opts is not None else ""
        if opts is not None and not self.execution.may_put_log_events(opts, stream):
            # as docker's awslogs driver: the container runs, its lines are lost
            log.warning("task %s: the execution role may not logs:PutLogEvents to %s: %s's lines are dropped",
                        short(t.id), stream, c.name)
        elif opts is not None:
            shipper = awslogs.Shipper(self.api, c.runtime_id, opts, stream)
            shipper.start()
            self.shippers.append(shipper)
        with self.agent.lock:
            c.started = True
            c.last_status = "RUNNING"
            t.version += 1

    def _refresh(self) -> None:
        """Reads the containers' states from docker."""
        t = self.task
        essential_exit = None
        for c in t.containers:
            if not c.runtime_id or not c.started or c.exit_code is not None:
                continue
            try:
                state = container_exit.settled(self.api, c.runtime_id,
                                                self.api.inspect_container(c.runtime_id)["State"])
            except NotFound:
                state = {"Status": "exited", "ExitCode": 137, "OOMKilled": False}
            with self.agent.lock:
                if self._read_state(c, state) and c.essential:
                    essential_exit = c
        with self.agent.lock:
            status = task_health(t.containers)
            if status != t.health_status:
                t.health_status = status
                t.version += 1
        if essential_exit is not None and not self._stopping():
            log.info("task %s: essential container %s exited with code %s", short(t.id), essential_exit.name,
                     essential_exit.exit_code)
            self._stop(ESSENTIAL_CONTAINER_EXITED, "Essential container in task exited", failure=True)

    def _read_state(self, c: ContainerState, state: dict) -> bool:
        """Applies docker's view of one container; True when it has exited."""
        t = self.task
        health = (state.get("Health") or {}).get("Status")
        if health:
            new = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}.get(health, "UNKNOWN")
            if new != c.health_status:
                c.health_status = new
                t.version += 1
        if state.get("Status") not in ("exited", "dead"):
            return False
        c.exit_code = int(state.get("ExitCode", 0))
        c.last_status = "STOPPED"
        c.reason = container_exit.reason(state) or c.reason
        t.version += 1
        return True

    def _monitor(self) -> None:
        t = self.task
        while not self._stopping():
            self._refresh()
            if self._stopping():
                break
            t.wake.wait(LOOK_AGAIN_SECONDS)
            t.wake.clear()

    # ------------------------------------------------------------ stopping

    def _teardown(self) -> None:
        t = self.task
        with self.agent.lock:
            was_running = t.last_status == RUNNING
            t.stopping_at = t.stopping_at or now()
        if was_running and t.registrations:
            with self.agent.lock:
                t.set_status(DEACTIVATING)
            delay = self.agent.lb.deregister(t)
            # drain: the load balancer sends no new request; in-flight ones finish
            # before SIGTERM. A task that failed (its essential container exited,
            # or it is unhealthy) is not kept up for that.
            if not t.failure:
                self.agent.fast_stop.wait(delay)
        with self.agent.lock:
            t.set_status(STOPPING)
        started = [c for c in t.containers if c.runtime_id]
        self._stop_containers(started)
        for shipper in self.shippers:
            shipper.join(10)
        self._final_states(started)
        with self.agent.lock:
            t.execution_stopped_at = now()
            t.set_status(DEPROVISIONING)
        for c in started:
            self.agent.unwatch_container(c.runtime_id)
        # the containers are removed after the task reads STOPPED (with vfs a removal takes a while)
        log.info("task %s (%s:%s) STOPPED: %s (%s)", short(t.id), t.family, t.revision, t.stopped_reason,
                 ", ".join(f"{c.name} exit {c.exit_code}" for c in t.containers))

    def _stop_containers(self, started: list[ContainerState]) -> None:
        """SIGTERM to all at once, SIGKILL after each one's stopTimeout."""
        fast = self.agent.fast_stop.is_set()

        def stop(c: ContainerState) -> None:
            timeout = container_spec.stop_timeout(c.definition)
            if fast:
                timeout = min(timeout, self.agent.shutdown_grace)
            try:
                self.api.stop(c.runtime_id, timeout=timeout)
            except (NotFound, APIError):
                pass

        if started:
            with ThreadPoolExecutor(max_workers=len(started)) as pool:
                list(pool.map(stop, started))

    def _final_states(self, started: list[ContainerState]) -> None:
        for c in started:
            try:
                state = self.api.inspect_container(c.runtime_id)["State"]
            except NotFound:
                continue
            with self.agent.lock:
                if c.started and c.exit_code is None:
                    c.exit_code = int(state.get("ExitCode", 0))
                    c.reason = container_exit.reason(state) or c.reason
                c.last_status = "STOPPED"


def task_health(containers: list[ContainerState]) -> str:
    """The task's healthStatus from its essential containers with a check."""
    checked = [c for c in containers if c.essential and c.has_health_check]
    if not checked:
        return "UNKNOWN"
    if any(c.health_status == "UNHEALTHY" for c in checked):
        return "UNHEALTHY"
    if all(c.health_status == "HEALTHY" for c in checked):
        return "HEALTHY"
    return "UNKNOWN"
