"""`python -m cruddur_sandbox status`: the sandbox's services, tasks, load
balancers and stand-ins, read through the ordinary AWS APIs."""

from __future__ import annotations

import json
from pathlib import Path

from .account import client
from .state_dir import READY_FILE


def _client(info: dict, service: str):
    return client(service, info["endpoint"], info["region"])


def _tasks(ecs, cluster: str, arns: list[str]) -> list[dict]:
    out = []
    for i in range(0, len(arns), 100):
        out += ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100])["tasks"]
    return out


def _all(ecs, op: str, key: str, **kw) -> list[str]:
    return [x for page in ecs.get_paginator(op).paginate(**kw) for x in page[key]]


def _task_line(t: dict) -> str:
    tid = t["taskArn"].rsplit("/", 1)[-1]
    ip = next(
        (d["value"] for a in t.get("attachments", []) for d in a.get("details", []) if d["name"] == "privateIPv4Address"),
        "-",
    )
    digests = ",".join(
        f"{c['name']}={c.get('imageDigest', '-')[:19]}" for c in t.get("containers", [])
    )
    rev = t["taskDefinitionArn"].rsplit("/", 1)[-1]
    line = f"    task {tid} {rev} {t['lastStatus']}/{t['desiredStatus']} health {t.get('healthStatus', '-')} {ip} {digests}"
    if t.get("stoppedReason"):
        codes = ",".join(f"{c['name']}:{c.get('exitCode', '-')}" for c in t.get("containers", []))
        line += f" [{t.get('stopCode', '-')}: {t['stoppedReason']}; exit {codes}]"
    return line


def status(state_dir: Path, stopped: int = 3) -> int:
    path = Path(state_dir) / READY_FILE
    if not path.exists():
        print(f"sandbox not running ({path} missing)")
        return 1
    info = json.loads(path.read_text())
    print(f"sandbox {info['sandbox_id']} (pid {info['pid']}): moto {info['endpoint']}, tasks reach it at "
          f"{info['task_endpoint']}; network {info['network']} ({info['subnet']}); registry {info['registry']}")
    pg = info.get("postgres")
    if pg:
        print(f"postgres: {pg['container']} as {pg['host']}:{pg['port']} (database {pg['database']}, "
              f"URL in SSM {pg['ssm_parameter']})")
    ecs = _client(info, "ecs")
    for cluster_arn in _all(ecs, "list_clusters", "clusterArns"):
        cluster = cluster_arn.rsplit("/", 1)[-1]
        print(f"cluster {cluster}")
        arns = _all(ecs, "list_services", "serviceArns", cluster=cluster)
        in_services = set()
        for i in range(0, len(arns), 10):
            for s in ecs.describe_services(cluster=cluster, services=arns[i : i + 10])["services"]:
                print(f"  service {s['serviceName']} {s['status']} {s.get('taskDefinition', '').rsplit('/', 1)[-1]} "
                      f"desired {s['desiredCount']} running {s['runningCount']} pending {s['pendingCount']}")
                for d in s.get("deployments", []):
                    print(f"    deployment {d['id']} {d['status']} {d['taskDefinition'].rsplit('/', 1)[-1]} "
                          f"{d.get('rolloutState', '-')} running {d['runningCount']}/{d['desiredCount']} "
                          f"pending {d['pendingCount']} failed {d['failedTasks']}")
                running = _all(ecs, "list_tasks", "taskArns", cluster=cluster, serviceName=s["serviceName"])
                gone = _all(ecs, "list_tasks", "taskArns", cluster=cluster, serviceName=s["serviceName"],
                            desiredStatus="STOPPED")
                in_services.update(running + gone)
                for t in _tasks(ecs, cluster, running) + _tasks(ecs, cluster, gone[:stopped]):
                    print(_task_line(t))
        others = [
            a for a in _all(ecs, "list_tasks", "taskArns", cluster=cluster)
            + _all(ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus="STOPPED")[:stopped]
            if a not in in_services
        ]
        if others:
            print("  standalone tasks (RunTask)")
            for t in _tasks(ecs, cluster, others):
                print(_task_line(t))
    elbv2 = _client(info, "elbv2")
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            print(f"load balancer {lb['LoadBalancerName']}: http://{lb['DNSName']}:{listener['Port']}/")
        for tg in elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]:
            health = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
            states = ", ".join(
                f"{h['Target']['Id']}:{h['Target']['Port']} {h['TargetHealth']['State']}" for h in health
            ) or "no targets"
            print(f"  target group {tg['TargetGroupName']}: {states}")
    print("stand-ins (images from public registries the sandbox runs locally instead):")
    for s in info.get("standins") or []:
        print(f"  {s['image']} -> {s['local_image']}: {s['description']}")
    return 0
