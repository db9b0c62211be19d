"""The sandbox's docker network: every task's address (awsvpc) is on it, and
the host reaches the tasks there directly."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import NotFound

from .labels import LABEL_SANDBOX, LABEL_STATE_DIR
from .state_dir import state_dir_in_use

log = logging.getLogger("cruddur_sandbox.network")


def client() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@dataclass
class Network:
    name: str
    id: str
    subnet: str
    gateway: str


def ensure_network(dc: docker.DockerClient, name: str, sandbox: str, state_dir: Path) -> Network:
    """The sandbox's own network, labelled with its id and state directory. An
    existing network of that name that is another sandbox's is removed when
    that sandbox is gone (a machine restarted under it leaves one) and refused
    while its `serve` runs; one that is no sandbox's is never touched."""
    try:
        net = dc.networks.get(name)
        owner = (net.attrs.get("Labels") or {}).get(LABEL_SANDBOX)
        if owner != sandbox:
            net = _take_over_leftover(dc, net, name, sandbox, state_dir)
    except NotFound:
        net = _create(dc, name, sandbox, state_dir)
    config = (net.attrs.get("IPAM") or {}).get("Config") or [{}]
    subnet, gateway = config[0].get("Subnet", ""), config[0].get("Gateway", "")
    if not gateway:
        raise SystemExit(f"docker network {name!r} has no gateway address (IPAM: {config})")
    return Network(name=name, id=net.id, subnet=subnet, gateway=gateway)


def _create(dc: docker.DockerClient, name: str, sandbox: str, state_dir: Path):
    labels = {LABEL_SANDBOX: sandbox, LABEL_STATE_DIR: str(state_dir)}
    net = dc.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)
    net.reload()
    return net


def _take_over_leftover(dc: docker.DockerClient, net, name: str, sandbox: str, state_dir: Path):
    labels = net.attrs.get("Labels") or {}
    owner, owner_dir = labels.get(LABEL_SANDBOX), labels.get(LABEL_STATE_DIR)
    if owner is None:
        raise SystemExit(f"docker network {name!r} exists and belongs to no sandbox (no {LABEL_SANDBOX} label): "
                         "pick another --network")
    running = sorted((c.get("Name") or cid[:12]) for cid, c in (net.attrs.get("Containers") or {}).items())
    if running or (owner_dir and state_dir_in_use(Path(owner_dir))):
        what = f"still runs {', '.join(running)} on it" if running else "is running"
        raise SystemExit(f"docker network {name!r} belongs to sandbox {owner} ({owner_dir or 'state dir unknown'}), "
                         f"which {what}: stop that sandbox (`cargo xtask sandbox down` in its checkout) "
                         "or pick another --network")
    net.remove()
    log.info("removed docker network %s that sandbox %s (%s) left; nothing runs on it", name, owner, owner_dir)
    return _create(dc, name, sandbox, state_dir)
