"""The local ECS agent and service scheduler, put together.

It owns ECS's service and task layer for the sandbox: the ECS API calls that
moto only ledgers (see ecs_api.py) land here. The work is split by phase:

- deployments.py: CreateService/UpdateService/DeleteService;
- scheduler.py: the service scheduler's loop (rolling, the circuit breaker);
- task_lifecycle.py: tasks made, stopped, listed, forgotten;
- task_runner.py: one task's life as containers;
- lb_registration.py: tasks in their services' target groups;
- service_events.py and ledger.py: what DescribeServices reads.

The Agent holds what they share: the lock, the tasks and services, docker."""

from __future__ import annotations

import logging
import threading
import time

from .account import client
from .deployments import Deployments
from .image_pull import ImagePuller
from .lb_registration import LoadBalancerRegistration
from .network import Network
from .scheduler import Scheduler
from .service_connect import NamespaceNetworks
from .service_record import ScheduledService
from .task_lifecycle import TaskLifecycle
from .task_record import STOPPED, USER_INITIATED, Task

log = logging.getLogger("cruddur_sandbox.agent")


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
        self.pause_image = pause_image
        self.endpoint = endpoint
        self.hold = hold
        self.shutdown_grace = shutdown_grace
        self.lock = threading.RLock()
        self.tasks: dict[str, Task] = {}
        self.runners: dict = {}  # task id -> TaskRunner
        self.services: dict[tuple[str, str], ScheduledService] = {}
        self.containers: dict[str, Task] = {}  # docker id -> task, for docker events
        self.fast_stop = threading.Event()
        self.stop_event = threading.Event()
        self.target_health = None  # set by serve: target_health.TargetHealth
        self.task_endpoint = None  # set by serve: task_endpoint.TaskEndpoint (credentials, metadata)
        self.images = ImagePuller(docker, registry, standins, endpoint)
        self.namespace_networks = NamespaceNetworks(docker, sandbox, network.name)
        self.lifecycle = TaskLifecycle(self)
        self.deployments = Deployments(self)
        self.scheduler = Scheduler(self)
        self.lb = LoadBalancerRegistration(self)
        self._events_stream = None
        self._threads: list[threading.Thread] = []

    def aws(self, service: str):
        return client(service, self.endpoint)

    def start(self) -> None:
        for target, name in ((self.scheduler.run, "scheduler"), (self._watch_docker_events, "docker-events")):
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
                    self.lifecycle.request_stop(t, USER_INITIATED, "The sandbox is shutting down")
            runners = list(self.runners.values())
        deadline = time.monotonic() + wait
        for r in runners:
            r.thread.join(max(0.0, deadline - time.monotonic()))
        if self._events_stream is not None:
            try:
                self._events_stream.close()
            except Exception:
                pass

    # ------------------------------------------------------------ docker events

    def watch_container(self, container_id: str, task: Task) -> None:
        with self.lock:
            self.containers[container_id] = task

    def unwatch_container(self, container_id: str) -> None:
        with self.lock:
            self.containers.pop(container_id, None)

    def _watch_docker_events(self) -> None:
        """docker events for this sandbox's containers wake their task at once
        (the task also looks every few seconds on its own, in case the
        stream missed one: `task_runner.LOOK_AGAIN_SECONDS`)."""
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
