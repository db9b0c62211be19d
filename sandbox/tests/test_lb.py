"""The load balancer: target health, the listener proxy, a deploy that drops nothing."""

import http.client
import threading
import time

from conftest import app_container, describe, free_port, http_get, primary, register, task_ip, tasks_of, wait_for
from test_service import completed, create_service


def make_lb(sandbox, name, port, interval=2, healthy=2, unhealthy=2, delay=2):
    elb = sandbox.elbv2
    vpc = sandbox.ec2.describe_subnets(SubnetIds=sandbox.subnets[:1])["Subnets"][0]["VpcId"]
    lb = elb.create_load_balancer(Name=name, Subnets=sandbox.subnets[:2], SecurityGroups=[sandbox.security_group],
                                  Scheme="internet-facing", Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name=f"{name}-tg", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
        HealthCheckPath="/cgi-bin/health", HealthCheckIntervalSeconds=interval, HealthCheckTimeoutSeconds=1,
        HealthyThresholdCount=healthy, UnhealthyThresholdCount=unhealthy, Matcher={"HttpCode": "200"},
    )["TargetGroups"][0]
    elb.modify_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}])
    empty = elb.create_target_group(Name=f"{name}-empty", Protocol="HTTP", Port=8080, VpcId=vpc,
                                    TargetType="ip")["TargetGroups"][0]
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])["Listeners"][0]
    elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=10,
                    Conditions=[{"Field": "path-pattern", "Values": ["/fixed*"]}],
                    Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
                        "StatusCode": "418", "ContentType": "text/plain", "MessageBody": "teapot"}}])
    elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=5,
                    Conditions=[{"Field": "path-pattern", "Values": ["/nobody/*"]}],
                    Actions=[{"Type": "forward", "TargetGroupArn": empty["TargetGroupArn"]}])
    return lb, tg


def health(sandbox, tg_arn):
    return [(h["Target"]["Id"], h["TargetHealth"]["State"], h["TargetHealth"].get("Reason"))
            for h in sandbox.elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]]


def test_a_load_balanced_service_serves_through_the_proxy_and_deploys_without_dropping_a_request(sandbox, cluster):
    port = free_port()
    lb, tg = make_lb(sandbox, "sbtest-lb", port)
    assert lb["DNSName"] == "127.0.0.1"
    base = f"http://{lb['DNSName']}:{port}"
    # the load balancer's health checks decide; no container health check
    td1 = register(sandbox, "sbtest-lb-app", [app_container(sandbox, health=False)])
    dep1 = create_service(sandbox, cluster, "lbweb", td1, loadBalancers=[
        {"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 8080}])
    service = wait_for(lambda: completed(sandbox, cluster, "lbweb", dep1), 60, what="COMPLETED")
    assert service["loadBalancers"][0]["targetGroupArn"] == tg["TargetGroupArn"]
    [task] = tasks_of(sandbox, cluster, "lbweb")
    ip = task_ip(task)
    assert health(sandbox, tg["TargetGroupArn"]) == [(ip, "healthy", None)]
    messages = [e["message"] for e in service["events"]]
    assert f"(service lbweb) registered 1 targets in (target-group {tg['TargetGroupArn']})" in messages

    assert http_get(base + "/") == (200, "version=1\n")
    code, env = http_get(base + "/cgi-bin/env")
    assert code == 200 and "HTTP_X_FORWARDED_FOR=127.0.0.1" in env
    assert "HTTP_X_FORWARDED_PROTO=http" in env and f"HTTP_X_FORWARDED_PORT={port}" in env
    assert http_get(base + "/fixed-thing") == (418, "teapot")
    assert http_get(base + "/nobody/here")[0] == 503
    # a request body goes through, the response streams back
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    body = b"x" * 200_000
    conn.request("POST", "/cgi-bin/echo", body=body, headers={"Content-Type": "application/octet-stream"})
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.status == 200 and "method=POST" in text and "length=200000" in text
    import hashlib
    assert hashlib.md5(body).hexdigest() in text
    # keep-alive: several requests on one client connection
    for _ in range(3):
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"version=1\n")
    conn.close()

    # a rolling update while a client polls through the proxy: nothing fails
    results = {"ok": 0, "failed": [], "versions": set()}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                code, text = http_get(base + "/", timeout=5)
                if code == 200:
                    results["ok"] += 1
                    results["versions"].add(text.strip())
                else:
                    results["failed"].append(code)
            except Exception as e:  # connection errors count too
                results["failed"].append(repr(e))
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        time.sleep(1)
        td2 = register(sandbox, "sbtest-lb-app", [app_container(sandbox, image=f"{sandbox.registry}/sbtest-app:v2",
                                                                health=False)])
        dep2 = primary(sandbox.ecs.update_service(cluster=cluster, service="lbweb", taskDefinition=td2)["service"])["id"]
        # while the old target drains, DescribeTargetHealth says so
        saw_draining = False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (ip, "draining", "Target.DeregistrationInProgress") in health(sandbox, tg["TargetGroupArn"]):
                saw_draining = True
            if completed(sandbox, cluster, "lbweb", dep2):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the update did not complete")
        time.sleep(1)
    finally:
        stop.set()
        poller.join()
    assert results["failed"] == [], results["failed"][:5]
    assert results["ok"] > 50
    assert results["versions"] == {"version=1", "version=2"}
    assert saw_draining
    [new] = tasks_of(sandbox, cluster, "lbweb")
    assert health(sandbox, tg["TargetGroupArn"]) == [(task_ip(new), "healthy", None)]
    messages = [e["message"] for e in describe(sandbox, cluster, "lbweb")["events"]]
    assert "(service lbweb) has begun draining connections on 1 tasks." in messages
    assert f"(service lbweb) deregistered 1 targets in (target-group {tg['TargetGroupArn']})" in messages


def test_a_task_unhealthy_in_its_target_group_is_replaced(sandbox, cluster):
    port = free_port()
    lb, tg = make_lb(sandbox, "sbtest-lb2", port)
    # no container health check: only the load balancer sees the app is sick
    td = register(sandbox, "sbtest-lb-sick", [app_container(sandbox, env={"APP_HEALTH": "fail"}, health=False)])
    create_service(sandbox, cluster, "lbsick", td, loadBalancers=[
        {"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 8080}],
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": False, "rollback": False}})
    # Reason and description from the one answer that showed it unhealthy: the
    # service replaces that target soon after, and a second read may miss it.
    unhealthy = wait_for(lambda: [d["TargetHealth"] for d in sandbox.elbv2.describe_target_health(
        TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "unhealthy"],
                         30, what="an unhealthy target")
    assert unhealthy[0]["Reason"] == "Target.ResponseCodeMismatch"
    assert unhealthy[0]["Description"] == "Health checks failed with these codes: [500]"
    # the service stops it and starts another; nothing is served meanwhile
    stopped = wait_for(lambda: tasks_of(sandbox, cluster, "lbsick", desired="STOPPED"), 30, what="a stopped task")
    assert stopped[0]["stoppedReason"] == f"Task failed ELB health checks in (target-group {tg['TargetGroupArn']})"
    service = describe(sandbox, cluster, "lbsick")
    assert service["deployments"][0]["failedTasks"] >= 1
    assert any("is unhealthy in (target-group" in e["message"] and "Health checks failed with these codes: [500]"
               in e["message"] for e in service["events"])
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 503
