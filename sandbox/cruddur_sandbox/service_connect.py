"""Service Connect, simply: the names a service's tasks answer to on the
sandbox network (discoveryName, else portName; and clientAliases dnsName)."""

from __future__ import annotations

from .task_record import Task


def discovery_aliases(task: Task) -> list[str]:
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
