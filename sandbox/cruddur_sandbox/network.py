"""The sandbox's docker network: every task's address (awsvpc) is on it, and
the host reaches the tasks there directly."""

from __future__ import annotations

from dataclasses import dataclass

import docker
from docker.errors import NotFound

from .labels import LABEL_SANDBOX


def client() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@dataclass
class Network:
    name: str
    id: str
    subnet: str
    gateway: str


def ensure_network(dc: docker.DockerClient, name: str, sandbox: str) -> Network:
    """The sandbox's own network, labelled with its id. An existing network of
    that name that is not this sandbox's is refused, never reused or removed."""
    try:
        net = dc.networks.get(name)
        labels = net.attrs.get("Labels") or {}
        if labels.get(LABEL_SANDBOX) != sandbox:
            raise SystemExit(
                f"docker network {name!r} exists and is not this sandbox's (label {LABEL_SANDBOX}={sandbox}): "
                "pick another --network, or remove it yourself if it is a leftover"
            )
    except NotFound:
        net = dc.networks.create(name, driver="bridge", labels={LABEL_SANDBOX: sandbox}, check_duplicate=True)
        net.reload()
    config = (net.attrs.get("IPAM") or {}).get("Config") or [{}]
    subnet, gateway = config[0].get("Subnet", ""), config[0].get("Gateway", "")
    if not gateway:
        raise SystemExit(f"docker network {name!r} has no gateway address (IPAM: {config})")
    return Network(name=name, id=net.id, subnet=subnet, gateway=gateway)
