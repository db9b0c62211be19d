"""RunTask/StopTask, secrets, stand-ins, the account's database, Service Connect."""

import json

import docker

from conftest import LOG_GROUP, app_container, describe, register, tasks_of, wait_for
from test_service import completed, create_service


def run(sandbox, cluster, td, **kw):
    [t] = sandbox.ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                               networkConfiguration=sandbox.network_configuration(), **kw)["tasks"]
    return t


def stopped(sandbox, cluster, arn, timeout=30):
    return wait_for(lambda: (lambda x: x if x["lastStatus"] == "STOPPED" else None)(
        sandbox.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]), timeout, what="STOPPED")


def test_run_task_runs_to_the_end_and_reports_the_exit_code(sandbox, cluster):
    td = register(sandbox, "sbtest-oneoff", [app_container(sandbox, health=False)])
    t = run(sandbox, cluster, td, startedBy="sbtest", group="oneoffs", overrides={"containerOverrides": [{
        "name": "app",
        "command": ["/bin/sh", "-c", 'echo "one-off sees $GREETING"; exit 3'],
        "environment": [{"name": "GREETING", "value": "hello"}],
    }]})
    assert t["lastStatus"] == "PROVISIONING" and t["desiredStatus"] == "RUNNING"
    assert t["startedBy"] == "sbtest" and t["group"] == "oneoffs"
    arn = t["taskArn"]
    assert arn in sandbox.ecs.list_tasks(cluster=cluster, startedBy="sbtest", desiredStatus="RUNNING")["taskArns"] + \
        sandbox.ecs.list_tasks(cluster=cluster, startedBy="sbtest", desiredStatus="STOPPED")["taskArns"]
    t = stopped(sandbox, cluster, arn)
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    assert t["containers"][0]["exitCode"] == 3
    assert t["overrides"]["containerOverrides"][0]["command"][-1].endswith("exit 3")
    assert arn in sandbox.ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
    assert arn not in sandbox.ecs.list_tasks(cluster=cluster)["taskArns"]
    stream = f"app/app/{arn.rsplit('/', 1)[1]}"
    messages = [e["message"] for e in sandbox.logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]]
    assert messages[-1] == "one-off sees hello"  # nothing lost at exit


def test_stop_task_sends_sigterm_and_records_the_callers_reason(sandbox, cluster):
    td = register(sandbox, "sbtest-stoppable", [app_container(sandbox)])
    t = run(sandbox, cluster, td)
    wait_for(lambda: sandbox.ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"]])["tasks"][0]["healthStatus"]
             == "HEALTHY", 30, what="HEALTHY")
    out = sandbox.ecs.stop_task(cluster=cluster, task=t["taskArn"], reason="enough of that")["task"]
    assert out["desiredStatus"] == "STOPPED"
    t = stopped(sandbox, cluster, t["taskArn"])
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "enough of that"
    assert t["containers"][0]["exitCode"] == 0  # the app's SIGTERM trap
    messages = [e["message"] for e in sandbox.logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=f"app/app/{t['taskArn'].rsplit('/', 1)[1]}")["events"]]
    assert "app: got SIGTERM, exiting" in messages


def test_secrets_resolve_from_ssm_and_the_xray_stand_in_runs_as_1337(sandbox, cluster):
    sandbox.ssm.put_parameter(Name="/sbtest/token", Value="s3cret-value", Type="SecureString", Overwrite=True)
    app = app_container(sandbox, health=False, command=["/bin/sh", "-c", 'test "$TOKEN" = s3cret-value && echo token-ok && sleep 30'])
    app["secrets"] = [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/sbtest/token"}]
    app["dependsOn"] = [{"containerName": "xray", "condition": "START"}]
    xray = {
        "name": "xray",
        "image": "public.ecr.aws/xray/aws-xray-daemon",
        "essential": True,
        "user": "1337",
        "portMappings": [{"name": "xray", "containerPort": 2000, "protocol": "udp"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": LOG_GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "xray"}},
    }
    td = register(sandbox, "sbtest-sidecar", [xray, app])
    t = run(sandbox, cluster, td)
    tid = t["taskArn"].rsplit("/", 1)[1]

    def app_said_ok():
        try:
            ev = sandbox.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=f"app/app/{tid}")["events"]
        except sandbox.logs.exceptions.ResourceNotFoundException:
            return False
        return any(e["message"] == "token-ok" for e in ev)

    wait_for(app_said_ok, 30, what="the app to see its secret")
    xray_lines = [e["message"] for e in sandbox.logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=f"xray/xray/{tid}")["events"]]
    assert any("listening on 0.0.0.0:2000" in m and "uid 1337" in m for m in xray_lines), xray_lines
    [t] = sandbox.ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"]])["tasks"]
    x = next(c for c in t["containers"] if c["name"] == "xray")
    assert x["image"] == "public.ecr.aws/xray/aws-xray-daemon" and x["imageDigest"].startswith("sha256:")
    standin = next(s for s in sandbox.info["standins"] if s["image"] == "public.ecr.aws/xray/aws-xray-daemon")
    assert docker.from_env().images.get(standin["local_image"]).id == x["imageDigest"]
    sandbox.ecs.stop_task(cluster=cluster, task=t["taskArn"])


def test_the_accounts_postgres_is_reachable_by_the_connection_url_secret(sandbox, cluster):
    pg = sandbox.info["postgres"]
    assert pg["host"] == "postgres" and pg["ssm_parameter"] == "/cruddur/backend-flask/CONNECTION_URL"
    url = sandbox.ssm.get_parameter(Name=pg["ssm_parameter"], WithDecryption=True)["Parameter"]
    assert url["Type"] == "SecureString"
    value = url["Value"]
    assert value.startswith("postgresql://postgres:") and value.endswith("@postgres:5432/cruddur")
    password = value.split(":")[2].split("@")[0]
    assert len(password) >= 20
    # never printed: not in the serve log, not in agent.json
    assert password not in (sandbox.state_dir / "serve.log").read_text()
    assert password not in json.dumps(sandbox.info)
    # the server takes that password and no other (the image it runs was made
    # with another one, random and kept nowhere)
    db = docker.from_env().containers.get(pg["container"])

    def login(secret):
        return db.exec_run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "cruddur", "-tAc",
                            "select current_database()"], environment={"PGPASSWORD": secret}, user="postgres")

    ok = login(password)
    assert ok.exit_code == 0 and ok.output.strip() == b"cruddur", ok.output
    refused = login("not-" + password)
    assert refused.exit_code != 0 and b"password authentication failed" in refused.output, refused.output
    assert password.encode() not in db.logs()

    app = app_container(sandbox, health=False, command=["/bin/sh", "-c",
        'case "$CONNECTION_URL" in postgresql://*@postgres:5432/cruddur) ;; *) exit 7;; esac; '
        'nc -w 3 postgres 5432 </dev/null && echo reached-postgres'])
    app["secrets"] = [{"name": "CONNECTION_URL",
                       "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/backend-flask/CONNECTION_URL"}]
    td = register(sandbox, "sbtest-db", [app])
    t = stopped(sandbox, cluster, run(sandbox, cluster, td)["taskArn"])
    assert t["containers"][0]["exitCode"] == 0, t
    # and the task-side AWS endpoint (moto on the gateway, behind the task
    # gate: an unsigned request is refused) answers from inside a task
    endpoint = sandbox.info["task_endpoint"]
    assert endpoint == f"http://{sandbox.info['gateway']}:{sandbox.info['port']}"
    probe = app_container(sandbox, health=False, command=[
        "/bin/sh", "-c", f"wget -O- {endpoint}/ 2>&1 | grep -q '403 Forbidden'"])
    t = stopped(sandbox, cluster, run(sandbox, cluster, register(sandbox, "sbtest-endpoint", [probe]))["taskArn"])
    assert t["containers"][0]["exitCode"] == 0, t


def exec_in(task: dict, script: str) -> tuple[int, str]:
    app = next(c for c in task["containers"] if c["name"] == "app")
    code, out = docker.from_env().containers.get(app["runtimeId"]).exec_run(["/bin/sh", "-c", script])
    return code, out.decode()


def test_service_connect_names_resolve_in_the_namespace_only_and_the_alias_port_answers(sandbox, cluster):
    backend = register(sandbox, "sbtest-sc-backend",
                       [app_container(sandbox, image=f"{sandbox.registry}/sbtest-app:v2", health=False)])
    plain = register(sandbox, "sbtest-sc-plain", [app_container(sandbox, health=False)])
    # the alias port (80) is not the container's (8080): ECS's proxy takes one to the other
    b = create_service(sandbox, cluster, "sc-backend", backend, serviceConnectConfiguration={
        "enabled": True, "namespace": "cruddur",
        "services": [{"portName": "app", "discoveryName": "sbtest-backend", "clientAliases": [{"port": 80}]}],
    })
    f = create_service(sandbox, cluster, "sc-frontend", plain,
                       serviceConnectConfiguration={"enabled": True, "namespace": "cruddur"})
    o = create_service(sandbox, cluster, "sc-outside", plain)
    for name, dep in (("sc-backend", b), ("sc-frontend", f), ("sc-outside", o)):
        wait_for(lambda: completed(sandbox, cluster, name, dep), 60, what=name)
    svc = describe(sandbox, cluster, "sc-backend")
    assert svc["deployments"][0]["serviceConnectConfiguration"]["services"][0]["discoveryName"] == "sbtest-backend"
    [ft] = tasks_of(sandbox, cluster, "sc-frontend")

    # a client task of the namespace: the alias's default dnsName, discoveryName.namespace, on the alias port
    code, text = exec_in(ft, "wget -q -O- http://sbtest-backend.cruddur/ && nslookup sbtest-backend.cruddur")
    assert code == 0 and "version=2" in text, text
    # the bare name is not a Service Connect name
    code, text = exec_in(ft, "nslookup sbtest-backend")
    assert code != 0, text

    # outside the namespace: a service without Service Connect, a RunTask task
    [ot] = tasks_of(sandbox, cluster, "sc-outside")
    code, text = exec_in(ot, "nslookup sbtest-backend.cruddur")
    assert code != 0, text
    one_off = app_container(sandbox, health=False, command=[
        "/bin/sh", "-c", "nslookup sbtest-backend.cruddur && exit 0; exit 9"])
    t = stopped(sandbox, cluster, run(sandbox, cluster, register(sandbox, "sbtest-sc-oneoff", [one_off]))["taskArn"])
    assert t["containers"][0]["exitCode"] == 9, t


def test_secrets_manager_secrets_resolve_with_a_json_key(sandbox, cluster):
    import boto3

    sm = boto3.client("secretsmanager", **sandbox.kw)
    arn = sm.create_secret(Name="sbtest/db", SecretString='{"password": "pw-from-asm", "user": "u"}')["ARN"]
    app = app_container(sandbox, health=False, command=["/bin/sh", "-c", 'test "$DB_PASSWORD" = pw-from-asm'])
    app["secrets"] = [{"name": "DB_PASSWORD", "valueFrom": f"{arn}:password::"}]
    t = stopped(sandbox, cluster, run(sandbox, cluster, register(sandbox, "sbtest-asm", [app]))["taskArn"])
    assert t["containers"][0]["exitCode"] == 0, t
