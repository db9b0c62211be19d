"""The repository's own definitions (infra/) run in the sandbox as they are,
but for the backend's image: the X-Ray sidecar from a public registry (its
stand-in, as uid 1337), the SSM secrets the seed made, Service Connect, the
circuit breaker settings, a target group of a load balancer."""

import json
import re

from conftest import REPO, describe, free_port, task_ip, tasks_of, wait_for
from test_lb import health, make_lb


def fill(text: str, values: dict) -> str:
    def sub(m):
        name, default = m.group(1), m.group(3)
        return values.get(name, default if default is not None else m.group(0))

    return re.sub(r"\$\{([A-Z_]+)(:-([^}]*))?\}", sub, text)


def test_the_backend_definitions_from_infra_deploy_and_reach_a_steady_state(sandbox, cluster):
    _, tg = make_lb(sandbox, "sbtest-infra", free_port())
    values = {
        "TARGET_GROUP_ARN": tg["TargetGroupArn"],
        "AWS_ACCOUNT_ID": "123456789012",
        "AWS_REGION": "us-east-1",
        "IMAGE": f"{sandbox.registry}/sbtest-app:v1",
        "CLUSTER": cluster,
        "SECURITY_GROUP": sandbox.security_group,
        "SUBNETS": sandbox.subnets[0],
    }
    td = json.loads(fill((REPO / "infra/task-definitions/backend-flask.json").read_text(), values))
    backend = next(c for c in td["containerDefinitions"] if c["name"] == "backend-flask")
    # the test app stands in for the Flask image: it listens on 8080, its check is busybox's
    backend["environment"].append({"name": "APP_PORT", "value": "4567"})
    backend["healthCheck"] = {
        "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:4567/cgi-bin/health"],
        "interval": 5, "timeout": 2, "retries": 2,
    }
    arn = sandbox.ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]
    svc = json.loads(fill((REPO / "infra/services/backend-flask.json").read_text(), values))
    svc["taskDefinition"] = arn
    dep = sandbox.ecs.create_service(**svc)["service"]["deployments"][0]["id"]

    def steady():
        s = describe(sandbox, cluster, "backend-flask")
        d = s["deployments"][0]
        return s if d["id"] == dep and d["rolloutState"] == "COMPLETED" else None

    service = wait_for(steady, 60, what="COMPLETED")
    assert service["deployments"][0]["serviceConnectConfiguration"]["services"][0]["discoveryName"] == "backend-flask"
    [task] = tasks_of(sandbox, cluster, "backend-flask")
    assert task["healthStatus"] == "HEALTHY"
    names = {c["name"]: c for c in task["containers"]}
    assert names["xray"]["lastStatus"] == "RUNNING" and names["backend-flask"]["healthStatus"] == "HEALTHY"
    assert health(sandbox, tg["TargetGroupArn"]) == [(task_ip(task), "healthy", None)]
    full = sandbox.ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]], include=["TAGS"])["tasks"][0]
    assert {"key": "aws:ecs:serviceName", "value": "backend-flask"} in full["tags"]
    sandbox.ecs.update_service(cluster=cluster, service="backend-flask", desiredCount=0)
