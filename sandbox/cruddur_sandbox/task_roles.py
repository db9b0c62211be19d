"""A task's two roles as ECS uses them. The execution role is what the agent
acts as for the task (ECR auth and pulls, SSM and Secrets Manager reads, log
groups and streams): each of those is evaluated here (iam_policy.py, real
ARNs) before the agent does it, and a denial fails the task with the
agent's words, naming the action. The task role (the definition's, or
RunTask's `overrides.taskRoleArn`) is what the task's containers get
credentials of (task_endpoint.py). Both must exist and trust
ecs-tasks.amazonaws.com, or ECS cannot assume them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import iam_policy
from .account import ACCOUNT_ID, REGION
from .image_pull import parse_image
from .task_failure import TaskFailure

if TYPE_CHECKING:
    from .task_record import Task

SECRETS_FAILED = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                  "retrieval failed: ")


def unable_to_assume(arn: str) -> str:
    return (f"ECS was unable to assume the role '{arn}' that was provided for this task. Please verify that the "
            "role being passed has the proper trust relationship and permissions and that your IAM user has "
            "permissions to pass this role.")


def task_role_arn(task: "Task") -> str | None:
    return (task.overrides or {}).get("taskRoleArn") or getattr(task.task_definition, "task_role_arn", None)


def execution_role_arn(task: "Task") -> str | None:
    return (task.overrides or {}).get("executionRoleArn") or getattr(task.task_definition, "execution_role_arn",
                                                                     None)


def check_assumable(arn: str | None) -> None:
    """ECS assumes the role: it must exist and trust ECS tasks."""
    if not arn:
        return
    name = iam_policy.role_name_of(arn)
    if name is None or not iam_policy.trusts_ecs_tasks(name):
        raise TaskFailure(unable_to_assume(arn))


def ecr_repository_arn(image: str) -> str:
    ref = parse_image(image)
    host = ref.host or ""
    account, region = ACCOUNT_ID, REGION
    if ".dkr.ecr." in host:
        account, _, rest = host.partition(".dkr.ecr.")
        region = rest.split(".", 1)[0]
    return f"arn:aws:ecr:{region}:{account}:repository/{ref.path}"


def log_group_arn(group: str, region: str) -> str:
    return f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}"


class ExecutionRole:
    """The task's execution role; without one, nothing is checked (ECS then
    pulls and logs without a role, which Fargate's rules already refuse
    where it matters)."""

    def __init__(self, task: "Task"):
        self.arn = execution_role_arn(task)
        name = iam_policy.role_name_of(self.arn) if self.arn else None
        self.session = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/{task.id}"
        self._policies: list | None = None

    def assume(self) -> None:
        check_assumable(self.arn)

    def decide(self, action: str, resource: str) -> iam_policy.Decision | None:
        """IAM's decision, or None without an execution role."""
        if not self.arn:
            return None
        if self._policies is None:
            try:
                self._policies = iam_policy.principal_policies(self.arn)
            except iam_policy.NoSuchPrincipal:
                self._policies = []
        return iam_policy.evaluate(self._policies, action, resource)

    def allows(self, action: str, resource: str) -> bool:
        decision = self.decide(action, resource)
        return decision is None or decision.allowed

    def require(self, action: str, resource: str, reason: str, container: str | None = None) -> None:
        """Fails the task with `reason` + IAM's AccessDenied when denied
        (`reason` has ECS's words up to the service's error)."""
        decision = self.decide(action, resource)
        if decision is not None and not decision.allowed:
            raise TaskFailure(f"{reason}AccessDeniedException: {decision.denial(self.session)} status code: 400",
                              container=container)

    # ------------------------------------------------------------ what the agent does

    def ecr_login(self) -> None:
        self.require("ecr:GetAuthorizationToken", "*",
                     SECRETS_FAILED + "unable to retrieve ecr registry auth: service call has been retried 3 "
                     "time(s): ")

    def ecr_pull(self, image: str, container: str) -> None:
        repository = ecr_repository_arn(image)
        ref = parse_image(image)
        for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
            self.require(action, repository,
                         f"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to "
                         f"resolve ref {image}: pulling from host {ref.host} failed with status code [manifests "
                         f"{ref.digest or ref.tag}]: 403 Forbidden: ", container=container)

    def ssm_parameter(self, parameter_arn: str) -> None:
        self.require("ssm:GetParameters", parameter_arn,
                     SECRETS_FAILED + "unable to retrieve secrets from ssm: service call has been retried 1 "
                     "time(s): ")

    def secret(self, secret_arn: str) -> None:
        self.require("secretsmanager:GetSecretValue", secret_arn,
                     SECRETS_FAILED + "unable to retrieve secret from asm: service call has been retried 1 "
                     f"time(s): failed to fetch secret {secret_arn} from secrets manager: ")

    def log_stream(self, opts: dict[str, str], stream: str, container: str) -> None:
        """What the awslogs driver does at a container's start: CreateLogGroup
        (with awslogs-create-group, every time, as docker's driver does),
        then CreateLogStream."""
        region = opts.get("awslogs-region") or REGION
        group = log_group_arn(opts.get("awslogs-group", ""), region)
        if str(opts.get("awslogs-create-group", "")).lower() == "true":
            self.require("logs:CreateLogGroup", group,
                          "ResourceInitializationError: failed to validate logger args: create log group has "
                          "been retried 1 times: failed to create Cloudwatch log group: ", container=container)
        self.require("logs:CreateLogStream", f"{group}:log-stream:{stream}",
                     "ResourceInitializationError: failed to validate logger args: create stream has been "
                     "retried 1 times: failed to create Cloudwatch log stream: ", container=container)

    def may_put_log_events(self, opts: dict[str, str], stream: str) -> bool:
        region = opts.get("awslogs-region") or REGION
        group = log_group_arn(opts.get("awslogs-group", ""), region)
        return self.allows("logs:PutLogEvents", f"{group}:log-stream:{stream}")
