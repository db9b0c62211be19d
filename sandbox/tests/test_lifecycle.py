"""`serve` starts and stops cleanly, touching nothing of anyone else's;
`cleanup` removes what a killed one left; `status` reads the sandbox."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import boto3
import docker
import pytest

from conftest import SANDBOX_DIR, start_serve, stop_serve, wait_for

XRAY = "public.ecr.aws/xray/aws-xray-daemon"


def clients(info):
    kw = dict(endpoint_url=info["endpoint"], region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return boto3.client("ecs", **kw), boto3.client("ec2", **kw)


def start_standin_service(info, name="side", desired=1):
    """A service of the X-Ray stand-in: runs with no registry at all."""
    ecs, ec2 = clients(info)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ecs.create_cluster(clusterName="life")
    ecs.register_task_definition(family="life", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                      cpu="256", memory="512", containerDefinitions=[
                                          {"name": "xray", "image": XRAY, "essential": True, "user": "1337"}])
    ecs.create_service(cluster="life", serviceName=name, taskDefinition="life", desiredCount=desired,
                       launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})
    wait_for(lambda: ecs.describe_services(cluster="life", services=[name])["services"][0]["deployments"][0]
             ["rolloutState"] == "COMPLETED", 60, what="COMPLETED")
    return ecs


def labelled(dc, sid):
    return dc.containers.list(all=True, filters={"label": f"cruddur.sandbox={sid}"})


def test_serve_shutdown_removes_its_containers_and_network_and_nothing_else(sandbox, tmp_path):
    dc = docker.from_env()
    # someone else's container on the daemon, and the session sandbox's, must survive
    other = dc.containers.create("cruddur-sandbox/pause:" + sandbox_pause_tag(dc), name=f"not-ours-{uuid.uuid4().hex[:6]}",
                                 command=["/bin/busybox", "true"])
    session_db = dc.containers.get(sandbox.info["postgres"]["container"])
    net = f"sblife-{uuid.uuid4().hex[:6]}"
    proc = None
    try:
        proc, info = start_serve(tmp_path, "127.0.0.1:9", net, "--no-postgres")
        assert info["network"] == net and info["label"] == f"cruddur.sandbox={info['sandbox_id']}"
        assert info["sandbox_id"] != sandbox.info["sandbox_id"]
        start_standin_service(info)
        ours = labelled(dc, info["sandbox_id"])
        assert {c.labels["cruddur.sandbox.role"] for c in ours} == {"pause", "task"}

        # a second serve on the same state dir is refused
        second = subprocess.run(
            [sys.executable, "-m", "cruddur_sandbox", "serve", "--port", "0", "--state-dir", str(tmp_path),
             "--registry", "127.0.0.1:9", "--network", net + "x", "--no-postgres"],
            capture_output=True, text=True, cwd=SANDBOX_DIR, env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR)),
            timeout=60,
        )
        assert second.returncode == 2 and "another `serve` uses" in second.stderr
        # moto's port taken: a clear refusal, nothing left behind
        other_dir = tmp_path / "other"
        third = subprocess.run(
            [sys.executable, "-m", "cruddur_sandbox", "serve", "--port", str(info["port"]), "--state-dir",
             str(other_dir), "--registry", "127.0.0.1:9", "--network", net + "y", "--no-postgres"],
            capture_output=True, text=True, cwd=SANDBOX_DIR, env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR)),
            timeout=60,
        )
        assert third.returncode == 2 and f"moto cannot listen on 127.0.0.1:{info['port']}" in third.stderr
        assert not dc.networks.list(names=[net + "y"])

        status = subprocess.run([sys.executable, "-m", "cruddur_sandbox", "status", "--state-dir", str(tmp_path)],
                                capture_output=True, text=True, cwd=SANDBOX_DIR,
                                env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR)), timeout=60)
        assert status.returncode == 0, status.stderr
        assert "service side ACTIVE life:1 desired 1 running 1" in status.stdout
        assert "RUNNING/RUNNING" in status.stdout and "xray=sha256:" in status.stdout
        assert f"{XRAY} -> cruddur-sandbox/xray-daemon-standin" in status.stdout

        t0 = time.monotonic()
        assert stop_serve(proc) == 0
        took = time.monotonic() - t0
        assert took < 15, f"shutdown took {took:.1f}s"
        assert labelled(dc, info["sandbox_id"]) == []
        assert not dc.networks.list(names=[net])
        assert not (tmp_path / "agent.json").exists()
        assert dc.containers.get(other.id)  # still there
        session_db.reload()
        assert session_db.status == "running"  # the other sandbox's database lives on
        assert dc.networks.list(names=[sandbox.info["network"]])
    finally:
        other.remove(force=True)
        if proc is not None:
            stop_serve(proc)


def test_cleanup_removes_what_a_killed_serve_left(sandbox, tmp_path):
    dc = docker.from_env()
    net = f"sbkill-{uuid.uuid4().hex[:6]}"
    proc, info = start_serve(tmp_path, "127.0.0.1:9", net, "--no-postgres")
    try:
        start_standin_service(info)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert labelled(dc, info["sandbox_id"])  # left behind
    out = subprocess.run([sys.executable, "-m", "cruddur_sandbox", "cleanup", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=SANDBOX_DIR,
                         env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR)), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "removed 2 containers and 1 networks" in out.stdout, out.stdout
    assert labelled(dc, info["sandbox_id"]) == []
    assert not dc.networks.list(names=[net])


def test_a_listener_port_that_cannot_be_bound_is_refused_clearly(sandbox):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        elb = sandbox.elbv2
        lb = elb.create_load_balancer(Name="sbtest-taken", Subnets=sandbox.subnets[:2])["LoadBalancers"][0]
        vpc = sandbox.ec2.describe_subnets(SubnetIds=sandbox.subnets[:1])["Subnets"][0]["VpcId"]
        tg = elb.create_target_group(Name="sbtest-taken-tg", Protocol="HTTP", Port=80, VpcId=vpc,
                                     TargetType="ip")["TargetGroups"][0]
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        log = sandbox.state_dir / "serve.log"
        wait_for(lambda: f"listener port {port} cannot be bound on 127.0.0.1" in log.read_text(), 10,
                 what="the refusal in the log")
    finally:
        taken.close()


def test_ecs_running_0_holds_tasks_before_they_start(tmp_path):
    proc, info = start_serve(tmp_path, "127.0.0.1:9", f"sbhold-{uuid.uuid4().hex[:6]}", "--no-postgres",
                             "--ecs-running", "0")
    try:
        ecs, ec2 = clients(info)
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        ecs.create_cluster(clusterName="hold")
        ecs.register_task_definition(family="hold", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                     cpu="256", memory="512",
                                     containerDefinitions=[{"name": "xray", "image": XRAY}])
        ecs.create_service(cluster="hold", serviceName="held", taskDefinition="hold", desiredCount=1,
                           launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}})
        wait_for(lambda: ecs.describe_services(cluster="hold", services=["held"])["services"][0]["pendingCount"] == 1,
                 30, what="a pending task")
        time.sleep(3)
        s = ecs.describe_services(cluster="hold", services=["held"])["services"][0]
        assert s["runningCount"] == 0 and s["deployments"][0]["rolloutState"] == "IN_PROGRESS"
        [arn] = ecs.list_tasks(cluster="hold", serviceName="held")["taskArns"]
        assert ecs.describe_tasks(cluster="hold", tasks=[arn])["tasks"][0]["lastStatus"] == "PENDING"
    finally:
        assert stop_serve(proc) == 0


def sandbox_pause_tag(dc) -> str:
    for image in dc.images.list(name="cruddur-sandbox/pause"):
        for tag in image.tags:
            return tag.split(":", 1)[1]
    pytest.skip("no pause image")


def test_another_sandboxs_network_is_taken_over_when_idle_and_refused_while_in_use(tmp_path):
    dc = docker.from_env()
    net = f"sbleft-{uuid.uuid4().hex[:6]}"
    # what a sandbox whose machine restarted under it leaves: its network, nothing running on it
    dc.networks.create(net, driver="bridge", labels={"cruddur.sandbox": "sb-gone"})
    proc, info = start_serve(tmp_path, "127.0.0.1:9", net, "--no-postgres")
    try:
        assert dc.networks.get(net).attrs["Labels"]["cruddur.sandbox"] == info["sandbox_id"]
        assert f"removed docker network {net} that sandbox sb-gone (None) left" in (tmp_path / "serve.log").read_text()
        # while that sandbox's serve runs (nothing else on the network), another is refused and removes nothing
        other = tmp_path / "other"
        other.mkdir()
        refused = subprocess.run(
            [sys.executable, "-m", "cruddur_sandbox", "serve", "--port", "0", "--state-dir", str(other),
             "--registry", "127.0.0.1:9", "--network", net, "--no-postgres"],
            capture_output=True, text=True, cwd=SANDBOX_DIR, env=dict(os.environ, PYTHONPATH=str(SANDBOX_DIR)),
            timeout=60,
        )
        assert refused.returncode != 0
        assert f"belongs to sandbox {info['sandbox_id']} ({tmp_path}), which is running" in refused.stderr, refused.stderr
        assert dc.networks.get(net).attrs["Labels"]["cruddur.sandbox"] == info["sandbox_id"]
    finally:
        stop_serve(proc)
        for leftover in dc.networks.list(names=[net]):
            leftover.remove()
