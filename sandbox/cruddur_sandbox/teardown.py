"""Removing exactly one sandbox's containers and networks (by its label),
never anything else on the daemon."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import docker
from docker.errors import APIError, NotFound

from .labels import LABEL_ROLE, LABEL_SANDBOX

log = logging.getLogger("cruddur_sandbox.teardown")


def remove_sandbox(dc: docker.DockerClient, sandbox: str, grace: float = 0.0) -> tuple[int, int]:
    """Removes every container and network labelled as this sandbox's; nothing
    else. With `grace`, containers get SIGTERM and that long before SIGKILL.
    Returns (containers, networks) removed."""
    containers = dc.containers.list(all=True, filters={"label": f"{LABEL_SANDBOX}={sandbox}"})

    def remove(c) -> None:
        try:
            if grace > 0 and c.status == "running":
                c.stop(timeout=int(grace))
            c.remove(force=True, v=True)
        except NotFound:
            pass
        except APIError as e:
            if "already in progress" not in str(e):
                log.warning("removing container %s: %s", c.name, e)

    # the pause containers last: the others share their network namespace
    apps = [c for c in containers if c.labels.get(LABEL_ROLE) != "pause"]
    pauses = [c for c in containers if c.labels.get(LABEL_ROLE) == "pause"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(remove, apps))
        list(pool.map(remove, pauses))
    networks = dc.networks.list(filters={"label": f"{LABEL_SANDBOX}={sandbox}"})
    return len(containers), sum(1 for net in networks if _remove_network(net))


def _remove_network(net) -> bool:
    for attempt in range(20):
        try:
            net.remove()
            return True
        except NotFound:
            return False
        except APIError as e:
            # endpoints of containers being removed can linger a moment
            if attempt == 19:
                log.warning("removing network %s: %s", net.name, e)
            time.sleep(0.25)
    return False


def remove_role(dc: docker.DockerClient, sandbox: str, role: str) -> int:
    """Removes this sandbox's containers of one role (e.g. its database)."""
    n = 0
    for c in dc.containers.list(all=True, filters={"label": [f"{LABEL_SANDBOX}={sandbox}", f"{LABEL_ROLE}={role}"]}):
        try:
            c.remove(force=True, v=True)
            n += 1
        except (NotFound, APIError):
            pass
    return n
