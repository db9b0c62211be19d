"""Service Connect as a task sees it on ECS. Each Cloud Map namespace a service
uses is a docker network of its own; the tasks of services with Service
Connect in that namespace join it, and only they: a client alias's `dnsName`
(default `discoveryName.namespace`, else `portName.namespace`) resolves there
to the tasks of the service that declares it, and its `port` answers (a
forwarder in the serving task takes the alias port to the container port when
they differ, where ECS's proxy would). RunTask tasks and services without
Service Connect in the namespace resolve none of these names, as on ECS."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from moto.ecs.exceptions import InvalidParameterException

from .account import ACCOUNT_ID, REGION
from .labels import LABEL_SANDBOX

if TYPE_CHECKING:
    from .task_record import Task

log = logging.getLogger("cruddur_sandbox.service_connect")

LABEL_NAMESPACE = "cruddur.sandbox.namespace"


@dataclass
class ClientAlias:
    dns_name: str
    port: int  # what clients connect to
    container_port: int  # where the serving container listens


@dataclass
class TaskEndpoints:
    """A task's part in one namespace: it resolves the namespace's names, and
    answers to `aliases` (none for a client-only service)."""

    namespace: str
    aliases: list[ClientAlias] = field(default_factory=list)

    @property
    def dns_names(self) -> list[str]:
        return sorted({a.dns_name for a in self.aliases})


def _namespaces():
    from moto.servicediscovery.models import servicediscovery_backends

    return servicediscovery_backends[ACCOUNT_ID][REGION].namespaces.values()


def namespace_name(conf: dict, cluster_defaults: dict | None) -> str:
    """The Cloud Map namespace (name or ARN in the configuration, else the
    cluster's serviceConnectDefaults), by name; it must exist."""
    given = conf.get("namespace") or (cluster_defaults or {}).get("namespace")
    if not given:
        raise InvalidParameterException(
            "Service Connect needs a namespace: serviceConnectConfiguration.namespace, or the cluster's "
            "serviceConnectDefaults."
        )
    for ns in _namespaces():
        if given in (ns.name, ns.arn, ns.id):
            return ns.name
    raise InvalidParameterException(f"The namespace {given} was not found in AWS Cloud Map.")


def cluster_defaults(cluster_name: str) -> dict | None:
    from moto.ecs.models import ecs_backends

    cluster = ecs_backends[ACCOUNT_ID][REGION].clusters.get(cluster_name)
    return getattr(cluster, "service_connect_defaults", None)


def client_aliases(conf: dict, namespace: str, td) -> list[ClientAlias]:
    """The aliases `conf` declares; each portName must name a port mapping of
    the task definition."""
    ports = {pm.get("name"): pm.get("containerPort")
             for cd in td.container_definitions for pm in cd.get("portMappings") or [] if pm.get("name")}
    out = []
    for s in conf.get("services") or []:
        port_name = s.get("portName")
        if port_name not in ports:
            raise InvalidParameterException(
                f"The portName {port_name} of serviceConnectConfiguration.services does not match the name of a "
                "port mapping in the task definition."
            )
        default = f"{s.get('discoveryName') or port_name}.{namespace}"
        for alias in s.get("clientAliases") or []:
            out.append(ClientAlias(alias.get("dnsName") or default, int(alias["port"]), int(ports[port_name])))
    return out


def validate(conf: dict | None, td, cluster_defaults: dict | None) -> None:
    """CreateService/UpdateService: what ECS checks of serviceConnectConfiguration."""
    if conf and conf.get("enabled"):
        client_aliases(conf, namespace_name(conf, cluster_defaults), td)


def endpoints(task: "Task") -> TaskEndpoints | None:
    """The task's Service Connect part: its deployment's configuration."""
    svc = task.service
    if svc is None:
        return None
    dep = next((d for d in svc.deployments if d.id == task.deployment_id), None)
    conf = (dep.service_connect_configuration if dep else svc.service_connect_configuration) or {}
    if not conf.get("enabled"):
        return None
    namespace = namespace_name(conf, cluster_defaults(task.cluster_name))
    return TaskEndpoints(namespace, client_aliases(conf, namespace, task.task_definition))


def forwarder_command(alias: ClientAlias) -> list[str]:
    """busybox's nc as a TCP forwarder, one child per connection."""
    return ["/bin/busybox", "nc", "-ll", "-p", str(alias.port), "-e",
            "/bin/busybox", "nc", "127.0.0.1", str(alias.container_port)]


class NamespaceNetworks:
    """One docker network per namespace, made when a task first needs it and
    removed with the sandbox (it carries the sandbox's label)."""

    def __init__(self, docker, sandbox: str, base_name: str):
        self.docker = docker
        self.sandbox = sandbox
        self.base_name = base_name
        self.lock = threading.Lock()
        self.names: dict[str, str] = {}

    def network_for(self, namespace: str) -> str:
        with self.lock:
            if namespace not in self.names:
                name = f"{self.base_name}-sc-{re.sub(r'[^A-Za-z0-9_.-]', '-', namespace)}"
                found = self.docker.networks.list(names=[name])
                ours = [n for n in found if n.name == name
                        and (n.attrs.get("Labels") or {}).get(LABEL_SANDBOX) == self.sandbox]
                if not ours:
                    self.docker.networks.create(
                        name, driver="bridge", check_duplicate=True,
                        labels={LABEL_SANDBOX: self.sandbox, LABEL_NAMESPACE: namespace},
                    )
                    log.info("Service Connect namespace %s: docker network %s", namespace, name)
                self.names[namespace] = name
            return self.names[namespace]
