"""Failures are real: exits, health checks, the circuit breaker and rollback."""

import time

from conftest import app_container, describe, deployment, http_get, primary, register, task_ip, tasks_of, wait_for
from test_service import completed, create_service

BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


def test_an_image_that_exits_trips_the_breaker_and_rolls_back_while_the_old_task_serves(sandbox, cluster):
    # With health checks: without any, ECS counts the new task once RUNNING and may stop the old
    # one before the new one exits (test_limits' no-health-check test shows that counting).
    td1 = register(sandbox, "sbtest-breaker", [app_container(sandbox)])
    dep1 = create_service(sandbox, cluster, "cb", td1)
    wait_for(lambda: completed(sandbox, cluster, "cb", dep1), 60, what="first deployment")
    [old] = tasks_of(sandbox, cluster, "cb")
    old_ip = task_ip(old)

    td2 = register(sandbox, "sbtest-breaker", [app_container(sandbox, image=f"{sandbox.registry}/sbtest-app:v2",
                                                             env={"APP_EXIT_CODE": "3"})])
    t0 = time.monotonic()
    dep2 = primary(sandbox.ecs.update_service(cluster=cluster, service="cb", taskDefinition=td2)["service"])["id"]

    def failed():
        s = describe(sandbox, cluster, "cb")
        d = deployment(s, dep2)
        return s if d and d["rolloutState"] == "FAILED" else None

    service = wait_for(failed, 90, what="the circuit breaker")
    tripped_after = time.monotonic() - t0
    d2 = deployment(service, dep2)
    assert d2["rolloutStateReason"] == BREAKER_REASON
    assert d2["failedTasks"] >= 3 and d2["status"] == "ACTIVE"
    # the rollback: a new PRIMARY deployment of the last completed task definition
    p = primary(service)
    assert p["id"] not in (dep1, dep2) and p["taskDefinition"] == td1
    assert p["rolloutState"] in ("IN_PROGRESS", "COMPLETED")
    assert dep1 in p["rolloutStateReason"]
    messages = [e["message"] for e in service["events"]]
    assert f"(service cb) (deployment {dep2}) deployment failed: tasks failed to start." in messages
    assert f"(service cb) rolling back to deployment {dep1}." in messages
    # meanwhile the old task kept serving
    assert http_get(f"http://{old_ip}:8080/") == (200, "version=1\n")
    assert tripped_after < 60, f"the breaker took {tripped_after:.0f}s"

    # the failed tasks say why
    stopped = [t for t in tasks_of(sandbox, cluster, "cb", desired="STOPPED") if t["taskDefinitionArn"] == td2]
    assert len(stopped) >= 3
    t = stopped[0]
    wait_for(lambda: sandbox.ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
             20, what="STOPPED")
    [t] = sandbox.ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"]])["tasks"]
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    assert t["containers"][0]["exitCode"] == 3
    assert t["startedBy"] == dep2
    for key in ("stoppingAt", "stoppedAt", "executionStoppedAt"):
        assert key in t

    # the rollback completes on the old revision, which serves
    rb = p["id"]
    service = wait_for(lambda: completed(sandbox, cluster, "cb", rb), 60, what="the rollback to complete")
    assert service["taskDefinition"] == td1
    [now] = tasks_of(sandbox, cluster, "cb")
    assert now["taskDefinitionArn"] == td1
    assert http_get(f"http://{task_ip(now)}:8080/") == (200, "version=1\n")


def test_a_health_check_that_never_passes_fails_a_first_deployment_which_stalls(sandbox, cluster):
    td = register(sandbox, "sbtest-unhealthy", [app_container(sandbox, env={"APP_HEALTH": "fail"})])
    dep = create_service(sandbox, cluster, "sick", td)

    def failed():
        s = describe(sandbox, cluster, "sick")
        return s if s["deployments"][0]["rolloutState"] == "FAILED" else None

    service = wait_for(failed, 90, what="FAILED")
    d = service["deployments"][0]
    assert d["id"] == dep and d["status"] == "PRIMARY" and d["rolloutStateReason"] == BREAKER_REASON
    # nothing COMPLETED to roll back to: no new deployment, no new task
    assert len(service["deployments"]) == 1
    stopped = tasks_of(sandbox, cluster, "sick", desired="STOPPED")
    assert len(stopped) >= 3
    for t in stopped:
        assert t["stoppedReason"] == "Task failed container health checks"
        assert t["stopCode"] == "ServiceSchedulerInitiated"
    unhealthy = [c for t in stopped for c in t["containers"] if c["healthStatus"] == "UNHEALTHY"]
    assert unhealthy
    time.sleep(3)
    assert not [t for t in tasks_of(sandbox, cluster, "sick") if t["lastStatus"] != "STOPPED"]


def test_without_the_circuit_breaker_failing_tasks_are_replaced_forever(sandbox, cluster):
    td = register(sandbox, "sbtest-crashloop", [app_container(sandbox, env={"APP_EXIT_CODE": "1"}, health=False)])
    dep = create_service(sandbox, cluster, "loop", td,
                         deploymentConfiguration={"deploymentCircuitBreaker": {"enable": False, "rollback": False}})
    service = wait_for(
        lambda: (lambda s: s if s["deployments"][0]["failedTasks"] >= 5 else None)(describe(sandbox, cluster, "loop")),
        90,
        what="five failed tasks",
    )
    d = service["deployments"][0]
    assert d["id"] == dep and d["rolloutState"] != "FAILED"
    assert len(tasks_of(sandbox, cluster, "loop", desired="STOPPED")) >= 5
    sandbox.ecs.update_service(cluster=cluster, service="loop", desiredCount=0)


def test_a_missing_secret_fails_the_task_naming_the_parameter(sandbox, cluster):
    missing = "/sbtest/not-there"
    c = app_container(sandbox, health=False)
    c["secrets"] = [
        {"name": "THERE", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/backend-flask/ROLLBAR_ACCESS_TOKEN"},
        {"name": "GONE", "valueFrom": f"arn:aws:ssm:us-east-1:123456789012:parameter{missing}"},
    ]
    td = register(sandbox, "sbtest-missing-secret", [c])
    [t] = sandbox.ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                               networkConfiguration=sandbox.network_configuration())["tasks"]
    t = wait_for(lambda: (lambda x: x if x["lastStatus"] == "STOPPED" else None)(
        sandbox.ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"]])["tasks"][0]), 30, what="STOPPED")
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets or registry auth: ")
    assert missing in t["stoppedReason"]
    assert "/cruddur/backend-flask/ROLLBAR_ACCESS_TOKEN" not in t["stoppedReason"]
    assert "startedAt" not in t
    assert "exitCode" not in t["containers"][0]


def test_an_image_that_cannot_be_pulled_fails_the_task_naming_the_image(sandbox, cluster):
    for image, words in (
        (f"{sandbox.registry}/sbtest-app:no-such-tag", ["manifest unknown", "not found"]),
        ("docker.io/library/nginx:1.27", ["reaches no registry"]),
    ):
        td = register(sandbox, "sbtest-nopull", [app_container(sandbox, image=image, health=False)])
        [t] = sandbox.ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                                   networkConfiguration=sandbox.network_configuration())["tasks"]
        t = wait_for(lambda: (lambda x: x if x["lastStatus"] == "STOPPED" else None)(
            sandbox.ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"]])["tasks"][0]), 30, what="STOPPED")
        assert t["stopCode"] == "TaskFailedToStart"
        assert t["stoppedReason"].startswith("CannotPullContainerError: ")
        assert image in t["stoppedReason"]
        assert any(w in t["stoppedReason"].lower() for w in words), t["stoppedReason"]
        assert t["containers"][0]["reason"] == t["stoppedReason"]
