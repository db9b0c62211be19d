"""What Fargate gives a task, the sandbox gives it: memory as docker's hard
(and soft) limits, cpu as shares, RunTask's overrides, an OOM kill that
stops the task with ECS's reason, each container's startTimeout."""

import docker

from conftest import app_container, describe, register, tasks_of, wait_for
from test_service import completed, create_service
from test_tasks import run, stopped

MIB = 1024 * 1024
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"


def host_config(task: dict, name: str = "app") -> dict:
    c = next(c for c in task["containers"] if c["name"] == name)
    return docker.from_env().api.inspect_container(c["runtimeId"])["HostConfig"]


def running(sandbox, cluster, arn):
    return wait_for(lambda: (lambda x: x if x["lastStatus"] == "RUNNING" else None)(
        sandbox.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]), 30, what="RUNNING")


def test_memory_is_a_hard_limit_reservation_a_soft_one_and_cpu_a_weight(sandbox, cluster):
    app = app_container(sandbox, health=False, memory=128, memoryReservation=64, cpu=128)
    sidecar = app_container(sandbox, name="side", health=False, command=["/bin/sh", "-c", "sleep 60"],
                            portMappings=[])
    td = register(sandbox, "sbtest-limits", [app, sidecar])
    t = running(sandbox, cluster, run(sandbox, cluster, td)["taskArn"])
    hc = host_config(t)
    assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"]) == (128 * MIB, 128 * MIB, 64 * MIB)
    assert hc["CpuShares"] == 128 and not hc.get("NanoCpus") and not hc.get("CpuQuota"), "a weight, not a quota"
    side = host_config(t, "side")
    assert (side["Memory"], side["CpuShares"]) == (512 * MIB, 256), "no container limit: the task's"
    sandbox.ecs.stop_task(cluster=cluster, task=t["taskArn"])


def test_run_task_overrides_cpu_memory_and_the_task_role(sandbox, cluster):
    td = register(sandbox, "sbtest-override", [app_container(sandbox, health=False)])
    role = "arn:aws:iam::123456789012:role/CruddurTaskRole"
    t = run(sandbox, cluster, td, overrides={"cpu": "512", "memory": "1024", "taskRoleArn": role,
                                             "containerOverrides": [{"name": "app", "memoryReservation": 256}]})
    assert (t["cpu"], t["memory"]) == ("512", "1024")
    assert t["overrides"]["taskRoleArn"] == role and t["overrides"]["cpu"] == "512"
    t = running(sandbox, cluster, t["taskArn"])
    hc = host_config(t)
    assert (hc["Memory"], hc["MemoryReservation"], hc["CpuShares"]) == (1024 * MIB, 256 * MIB, 512)
    sandbox.ecs.stop_task(cluster=cluster, task=t["taskArn"])


def test_a_container_over_its_memory_is_oom_killed_and_stops_the_task_with_ecs_reason(sandbox, cluster):
    # the shell keeps an endless output in a variable: over its 16 MiB soon
    hog = app_container(sandbox, health=False, memory=16, command=[
        "/bin/sh", "-c", "echo filling; x=$(/bin/busybox tr '\\0' a </dev/zero); echo survived"])
    t = stopped(sandbox, cluster, run(sandbox, cluster, register(sandbox, "sbtest-oom", [hog]))["taskArn"], 60)
    [c] = t["containers"]
    assert t["stopCode"] == "EssentialContainerExited", t
    assert t["stoppedReason"] == "Essential container in task exited"
    assert (c["exitCode"], c["reason"]) == (137, OOM_REASON), c


def test_a_dependency_that_misses_its_start_timeout_stops_the_task(sandbox, cluster):
    # the sidecar's first health check comes after 5 s: never HEALTHY within its 2 s
    side = app_container(sandbox, name="side", startTimeout=2, portMappings=[])
    app = app_container(sandbox, health=False, dependsOn=[{"containerName": "side", "condition": "HEALTHY"}])
    t = stopped(sandbox, cluster, run(sandbox, cluster, register(sandbox, "sbtest-startto", [side, app]))["taskArn"])
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "app gave up waiting for its dependency side to reach HEALTHY (startTimeout 2s)" in t["stoppedReason"]
    assert "startedAt" not in t


def test_a_task_without_a_health_check_counts_once_running(sandbox, cluster):
    td = register(sandbox, "sbtest-nocheck", [app_container(sandbox, health=False)])
    dep = create_service(sandbox, cluster, "nocheck", td)
    service = wait_for(lambda: completed(sandbox, cluster, "nocheck", dep), 60, what="COMPLETED")
    [task] = tasks_of(sandbox, cluster, "nocheck")
    # ECS: RUNNING with its essential containers started is ready; its health is UNKNOWN
    assert (task["lastStatus"], task["healthStatus"]) == ("RUNNING", "UNKNOWN")
    assert service["deployments"][0]["runningCount"] == 1
    events = describe(sandbox, cluster, "nocheck")["events"]
    assert events[0]["message"] == "(service nocheck) has reached a steady state."
