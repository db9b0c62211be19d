"""Services roll like ECS: deploy, update, logs."""

import time

import docker

from conftest import (
    LOG_GROUP,
    app_container,
    describe,
    deployment,
    http_get,
    primary,
    register,
    task_ip,
    tasks_of,
    wait_for,
)


def create_service(sandbox, cluster, name, td, desired=1, **extra):
    conf = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    conf.update(extra.pop("deploymentConfiguration", {}))
    svc = sandbox.ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td,
        desiredCount=desired,
        launchType="FARGATE",
        platformVersion="LATEST",
        networkConfiguration=sandbox.network_configuration(),
        deploymentConfiguration=conf,
        **extra,
    )["service"]
    return svc["deployments"][0]["id"]


def completed(sandbox, cluster, name, dep_id):
    s = describe(sandbox, cluster, name)
    d = deployment(s, dep_id)
    return s if d and d["status"] == "PRIMARY" and d["rolloutState"] == "COMPLETED" and len(s["deployments"]) == 1 else None


def test_a_deploy_completes_with_one_running_healthy_task_that_serves_and_logs(sandbox, cluster):
    image = f"{sandbox.registry}/sbtest-app:v1"
    td = register(sandbox, "sbtest-deploy", [app_container(sandbox, image=image, env={"APP_LINES": "2"})])
    dep_id = create_service(sandbox, cluster, "web", td)
    service = wait_for(lambda: completed(sandbox, cluster, "web", dep_id), 60, what="COMPLETED")
    assert service["runningCount"] == 1 and service["pendingCount"] == 0
    assert service["taskDefinition"] == td
    d = service["deployments"][0]
    assert (d["desiredCount"], d["runningCount"], d["pendingCount"], d["failedTasks"]) == (1, 1, 0, 0)
    assert d["rolloutStateReason"] == f"ECS deployment {dep_id} completed."
    assert d["launchType"] == "FARGATE" and d["networkConfiguration"] == sandbox.network_configuration()
    messages = [e["message"] for e in service["events"]]
    assert messages[0] == "(service web) has reached a steady state."
    assert f"(service web) (deployment {dep_id}) deployment completed." in messages
    assert any(m.startswith("(service web) has started 1 tasks: (task ") for m in messages)

    [task] = tasks_of(sandbox, cluster, "web")
    assert task["lastStatus"] == "RUNNING" and task["healthStatus"] == "HEALTHY"
    assert task["startedBy"] == dep_id and task["group"] == "service:web"
    for key in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "connectivityAt"):
        assert key in task, key
    [c] = task["containers"]
    assert c["image"] == image and c["healthStatus"] == "HEALTHY" and c["lastStatus"] == "RUNNING"
    assert c["imageDigest"] == sandbox.images[image]
    ip = task_ip(task)
    assert c["networkInterfaces"][0]["privateIpv4Address"] == ip

    # the container docker runs is the one pulled, labelled as the ECS agent labels it
    dc = docker.from_env()
    [container] = dc.containers.list(filters={"label": [f"com.amazonaws.ecs.task-arn={task['taskArn']}",
                                                         "com.amazonaws.ecs.container-name=app"]})
    assert container.id == c["runtimeId"]
    labels = container.labels
    assert labels["com.amazonaws.ecs.cluster"] == cluster
    assert labels["com.amazonaws.ecs.task-definition-family"] == "sbtest-deploy"
    assert labels["com.amazonaws.ecs.task-definition-version"] == td.rsplit(":", 1)[1]
    assert labels["cruddur.sandbox"] == sandbox.info["sandbox_id"]
    assert labels["cruddur.sandbox.service"] == "web" and labels["cruddur.sandbox.deployment"] == dep_id
    assert f"{sandbox.registry}/sbtest-app@{sandbox.images[image]}" in dc.images.get(container.image.id).attrs["RepoDigests"]

    # awsvpc: the task's address answers on the container's port
    assert http_get(f"http://{ip}:8080/") == (200, "version=1\n")

    stream = f"app/app/{task['taskArn'].rsplit('/', 1)[1]}"
    streams = [s["logStreamName"] for s in sandbox.logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]]
    assert stream in streams, streams
    events = wait_for(
        lambda: (lambda ev: ev if len(ev) >= 5 else None)(
            sandbox.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]
        ),
        10,
        what="the start lines in the log stream",
    )
    messages = [e["message"] for e in events]
    assert {"app: starting version 1 as uid 0", "app: line 1", "app: line 2", "app: to stderr",
            "app: serving on port 8080"} <= set(messages)
    # stdout lines in their order (stderr is another pipe: docker may stamp its lines first)
    stdout = [m for m in messages if m != "app: to stderr"]
    assert stdout[:3] == ["app: starting version 1 as uid 0", "app: line 1", "app: line 2"]
    # stamped with the time docker read the line, in order
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps) and abs(stamps[0] / 1000 - time.time()) < 120


def test_an_update_rolls_new_task_healthy_before_the_old_one_stops(sandbox, cluster):
    td1 = register(sandbox, "sbtest-roll", [app_container(sandbox)])
    dep1 = create_service(sandbox, cluster, "roll", td1)
    wait_for(lambda: completed(sandbox, cluster, "roll", dep1), 60, what="first deployment")
    [old] = tasks_of(sandbox, cluster, "roll")

    td2 = register(sandbox, "sbtest-roll", [app_container(sandbox, image=f"{sandbox.registry}/sbtest-app:v2")])
    t0 = time.monotonic()
    out = sandbox.ecs.update_service(cluster=cluster, service="roll", taskDefinition=td2)["service"]
    dep2 = primary(out)["id"]
    assert dep2 != dep1 and primary(out)["taskDefinition"] == td2
    assert deployment(out, dep1)["status"] == "ACTIVE"

    # both deployments are visible while the new task comes up; the old keeps running
    seen_both = False
    new_healthy_at = old_stopping_at = None
    while time.monotonic() - t0 < 60:
        s = describe(sandbox, cluster, "roll")
        if deployment(s, dep1) and deployment(s, dep2):
            seen_both = True
        running = {t["taskArn"]: t for t in tasks_of(sandbox, cluster, "roll")}
        new = [t for t in running.values() if t["taskDefinitionArn"] == td2]
        if new and new[0]["healthStatus"] == "HEALTHY" and new_healthy_at is None:
            new_healthy_at = time.monotonic()
        if old["taskArn"] not in running and old_stopping_at is None:
            old_stopping_at = time.monotonic()
            # the old task was stopped only after the new one was healthy
            assert new_healthy_at is not None, "the old task stopped before the new one was healthy"
        if completed(sandbox, cluster, "roll", dep2):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the update did not complete in 60s")
    assert seen_both
    [gone] = sandbox.ecs.describe_tasks(cluster=cluster, tasks=[old["taskArn"]])["tasks"]
    wait_for(lambda: sandbox.ecs.describe_tasks(cluster=cluster, tasks=[old["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
             20, what="the old task STOPPED")
    [gone] = sandbox.ecs.describe_tasks(cluster=cluster, tasks=[old["taskArn"]])["tasks"]
    assert gone["stopCode"] == "ServiceSchedulerInitiated"
    assert gone["stoppedReason"] == f"Scaling activity initiated by (deployment {dep2})"
    assert gone["containers"][0]["exitCode"] == 0  # it took SIGTERM and exited
    messages = [e["message"] for e in describe(sandbox, cluster, "roll")["events"]]
    assert f"(service roll) has stopped 1 running tasks: (task {old['taskArn'].rsplit('/', 1)[1]})." in messages
    [new] = tasks_of(sandbox, cluster, "roll")
    assert http_get(f"http://{task_ip(new)}:8080/") == (200, "version=2\n")


def test_desired_count_alone_scales_the_primary_deployment(sandbox, cluster):
    td = register(sandbox, "sbtest-scale", [app_container(sandbox, health=False)])
    dep = create_service(sandbox, cluster, "scale", td)
    wait_for(lambda: completed(sandbox, cluster, "scale", dep), 60, what="deployment")
    out = sandbox.ecs.update_service(cluster=cluster, service="scale", desiredCount=2)["service"]
    assert [d["id"] for d in out["deployments"]] == [dep]
    wait_for(lambda: (lambda s: s if s["runningCount"] == 2 and s["deployments"][0]["runningCount"] == 2 else None)(
        describe(sandbox, cluster, "scale")), 60, what="two running")
    assert len(tasks_of(sandbox, cluster, "scale")) == 2
    sandbox.ecs.update_service(cluster=cluster, service="scale", desiredCount=0)
    wait_for(lambda: not tasks_of(sandbox, cluster, "scale"), 30, what="scaled to zero")
    stopped = tasks_of(sandbox, cluster, "scale", desired="STOPPED")
    assert len(stopped) == 2
