"""The sandbox refuses what ECS refuses, with ECS's exception and words, and
registers or starts nothing when it does (README: "What the sandbox refuses")."""

import pytest
from botocore.exceptions import ClientError

from conftest import LOG_GROUP, app_container, register

EXECUTION_ROLE = "arn:aws:iam::123456789012:role/CruddurServiceExecutionRole"
XRAY = "public.ecr.aws/xray/aws-xray-daemon"


def refused(call, code: str, message: str):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == (code, message)


def revisions(sandbox, family: str) -> list[str]:
    return sandbox.ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]


def definition(sandbox, family: str, containers: list[dict], **fields) -> dict:
    """A valid Fargate task definition, then `fields` changed (None removes one)."""
    td = dict(family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
              executionRoleArn=EXECUTION_ROLE, containerDefinitions=containers)
    td.update(fields)
    return {k: v for k, v in td.items() if v is not None}


def refused_at_registration(sandbox, family: str, containers: list[dict], message: str, **fields):
    before = revisions(sandbox, family)
    refused(lambda: sandbox.ecs.register_task_definition(**definition(sandbox, family, containers, **fields)),
            "ClientException", message)
    assert revisions(sandbox, family) == before, "nothing registered"


def plain(name: str = "side", **extra) -> dict:
    """A container that needs no execution role: a public image, no logs."""
    return {"name": name, "image": XRAY, "essential": True, **extra}


def test_a_cpu_memory_pair_outside_fargates_table_is_refused(sandbox):
    refused_at_registration(
        sandbox, "sbtest-size", [plain()],
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation "
        "for the valid values.", memory="4096")
    refused_at_registration(sandbox, "sbtest-size", [plain()],
                            "Fargate requires that 'cpu' be defined at the task level.", cpu=None)
    arn = sandbox.ecs.register_task_definition(**definition(sandbox, "sbtest-size", [plain()], cpu="1 vCPU",
                                                            memory="3 GB"))["taskDefinition"]["taskDefinitionArn"]
    assert arn.endswith("sbtest-size:1"), "a pair from the table in vCPU and GB is taken"


def test_a_container_asking_more_memory_than_the_task_is_refused(sandbox):
    refused_at_registration(sandbox, "sbtest-bigc", [plain(memory=1024)],
                            "The 'memory' setting for container 'side' is greater than for the task.")


def test_a_network_mode_other_than_awsvpc_is_refused_on_fargate(sandbox):
    refused_at_registration(sandbox, "sbtest-bridge", [plain()],
                            "Fargate only supports network mode \u2018awsvpc\u2019.", networkMode="bridge")


def test_an_ecr_image_awslogs_or_secrets_without_an_execution_role_are_refused(sandbox):
    refused_at_registration(
        sandbox, "sbtest-norole", [plain(image=f"{sandbox.registry}/sbtest-app:v1")],
        "Fargate requires task definition to have execution role ARN to support ECR images.", executionRoleArn=None)
    refused_at_registration(
        sandbox, "sbtest-norole", [plain(image="123456789012.dkr.ecr.us-east-1.amazonaws.com/sbtest-app:v1")],
        "Fargate requires task definition to have execution role ARN to support ECR images.", executionRoleArn=None)
    logged = plain(logConfiguration={"logDriver": "awslogs", "options": {
        "awslogs-group": LOG_GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "side"}})
    refused_at_registration(
        sandbox, "sbtest-norole", [logged],
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
        executionRoleArn=None)
    secret = plain(secrets=[{"name": "T", "valueFrom": "/cruddur/backend-flask/ROLLBAR_ACCESS_TOKEN"}])
    refused_at_registration(
        sandbox, "sbtest-norole", [secret],
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
        executionRoleArn=None)
    # what needs no role registers without one
    sandbox.ecs.register_task_definition(**definition(sandbox, "sbtest-norole", [plain()], executionRoleArn=None))


def test_awslogs_without_a_stream_prefix_is_refused_on_fargate(sandbox):
    c = app_container(sandbox, health=False)
    del c["logConfiguration"]["options"]["awslogs-stream-prefix"]
    refused_at_registration(
        sandbox, "sbtest-noprefix", [c],
        "Fargate requires log configuration options to include awslogs-stream-prefix to support log driver awslogs.")


@pytest.mark.parametrize("field,value,lo,hi", [
    ("interval", 4, 5, 300), ("interval", 301, 5, 300), ("timeout", 1, 2, 60), ("timeout", 61, 2, 60),
    ("retries", 0, 1, 10), ("retries", 11, 1, 10), ("startPeriod", -1, 0, 300), ("startPeriod", 301, 0, 300),
])
def test_health_check_values_out_of_ecs_ranges_are_refused(sandbox, field, value, lo, hi):
    c = app_container(sandbox)
    c["healthCheck"][field] = value
    refused_at_registration(
        sandbox, "sbtest-hc", [c],
        f"Invalid '{field}' setting for the health check of container 'app': {value}. Valid values are {lo} to {hi}.")


def test_depends_on_a_missing_or_an_essential_finished_container_is_refused(sandbox):
    app = plain("app", dependsOn=[{"containerName": "migrate", "condition": "START"}])
    refused_at_registration(sandbox, "sbtest-deps", [app],
                            "Cannot depend on container + 'migrate' because it does not exist")
    app = plain("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}])
    refused_at_registration(
        sandbox, "sbtest-deps", [plain("migrate"), app],
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container")


def test_a_start_timeout_outside_fargates_range_is_refused(sandbox):
    refused_at_registration(
        sandbox, "sbtest-startto", [plain(startTimeout=121)],
        "Invalid 'startTimeout' setting for container 'side': 121. Valid values for Fargate are 2 to 120 seconds.")


def test_run_task_and_create_service_refuse_an_ec2_only_definition_on_fargate(sandbox, cluster):
    td = sandbox.ecs.register_task_definition(**definition(
        sandbox, "sbtest-ec2only", [plain(memory=128)], requiresCompatibilities=["EC2"], networkMode="awsvpc",
        cpu=None, memory=None))["taskDefinition"]["taskDefinitionArn"]
    message = "Task definition does not support launch_type FARGATE."
    refused(lambda: sandbox.ecs.run_task(cluster=cluster, taskDefinition=td, launchType="FARGATE",
                                         networkConfiguration=sandbox.network_configuration()),
            "InvalidParameterException", message)
    refused(lambda: sandbox.ecs.create_service(cluster=cluster, serviceName="ec2only", taskDefinition=td,
                                               desiredCount=1, launchType="FARGATE",
                                               networkConfiguration=sandbox.network_configuration()),
            "InvalidParameterException", message)
    assert sandbox.ecs.list_services(cluster=cluster)["serviceArns"] == []
    assert sandbox.ecs.list_tasks(cluster=cluster)["taskArns"] == []


def test_run_task_overrides_must_still_be_a_fargate_size(sandbox, cluster):
    td = register(sandbox, "sbtest-ovr", [app_container(sandbox, health=False)])
    refused(lambda: sandbox.ecs.run_task(
        cluster=cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=sandbox.network_configuration(),
        overrides={"cpu": "256", "memory": "8192"}),
        "ClientException",
        "No Fargate configuration exists for given values: 256 CPU, 8192 memory. See the Amazon ECS documentation "
        "for the valid values.")
    assert sandbox.ecs.list_tasks(cluster=cluster)["taskArns"] == []


def test_list_tasks_takes_started_by_only_alone(sandbox, cluster):
    for other in ({"serviceName": "web"}, {"family": "sbtest"}, {"launchType": "FARGATE"},
                  {"containerInstance": "ci"}):
        refused(lambda: sandbox.ecs.list_tasks(cluster=cluster, startedBy="someone", **other),
                "InvalidParameterException", "cannot specify startedBy with other arguments")
    # alone (and with the status it lists) it is fine
    assert sandbox.ecs.list_tasks(cluster=cluster, startedBy="someone")["taskArns"] == []
    assert sandbox.ecs.list_tasks(cluster=cluster, startedBy="someone", desiredStatus="STOPPED")["taskArns"] == []


def test_service_connect_needs_a_known_namespace_and_a_port_name_of_the_definition(sandbox, cluster):
    td = register(sandbox, "sbtest-scbad", [app_container(sandbox, health=False)])

    def create(conf):
        return lambda: sandbox.ecs.create_service(
            cluster=cluster, serviceName="scbad", taskDefinition=td, desiredCount=1, launchType="FARGATE",
            networkConfiguration=sandbox.network_configuration(), serviceConnectConfiguration=conf)

    refused(create({"enabled": True, "namespace": "nowhere"}), "InvalidParameterException",
            "The namespace nowhere was not found in AWS Cloud Map.")
    refused(create({"enabled": True, "namespace": "cruddur", "services": [
        {"portName": "nope", "clientAliases": [{"port": 80}]}]}), "InvalidParameterException",
        "The portName nope of serviceConnectConfiguration.services does not match the name of a port mapping in the "
        "task definition.")
    assert sandbox.ecs.list_services(cluster=cluster)["serviceArns"] == []
