"""What an AWS API request asks IAM for: the actions and the real ARNs of the
resources it touches, read from the request's own parameters, as IAM's
Service Authorization Reference lists them for the calls tasks make. One
request may need several: DynamoDB's TransactWriteItems is PutItem,
DeleteItem, UpdateItem or ConditionCheckItem on each item's table (there is no
TransactWriteItems action). An operation without a rule here is checked on
`*`, which only a statement allowing `*` allows (README: the list of rules)."""

from __future__ import annotations

from typing import Any

from .account import ACCOUNT_ID

Needs = list[tuple[str, str]]  # (action, resource ARN)

# Operations AWS answers without SigV4 credentials (the caller proves itself
# otherwise, e.g. with a Cognito access token): IAM is not asked.
PUBLIC_OPERATIONS = {
    "cognito-idp": {
        "InitiateAuth", "RespondToAuthChallenge", "SignUp", "ConfirmSignUp", "ResendConfirmationCode",
        "ForgotPassword", "ConfirmForgotPassword", "GetUser", "ChangePassword", "GlobalSignOut", "RevokeToken",
        "UpdateUserAttributes", "DeleteUser", "VerifyUserAttribute", "GetUserAttributeVerificationCode",
        "AssociateSoftwareToken", "VerifySoftwareToken", "SetUserMFAPreference", "ListDevices",
    },
    "sts": {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"},
}

# Operations IAM always allows (GetCallerIdentity needs no permission).
ALWAYS_ALLOWED = {("sts", "GetCallerIdentity")}

_DYNAMODB_TRANSACT = {"Put": "PutItem", "Delete": "DeleteItem", "Update": "UpdateItem",
                      "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def arn(service: str, region: str, resource: str, account: str = ACCOUNT_ID) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _listify(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dynamodb(op: str, p: dict, region: str) -> Needs:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else arn("dynamodb", region, f"table/{name}")

    if op in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for item in p.get("TransactItems") or []:
            for kind, body in item.items():
                out.append((f"dynamodb:{_DYNAMODB_TRANSACT.get(kind, kind)}", table(body.get("TableName", ""))))
        return out
    if op in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{op}", table(name)) for name in (p.get("RequestItems") or {})]
    if op in ("ListTables", "DescribeLimits", "DescribeEndpoints"):
        return [(f"dynamodb:{op}", "*")]
    if "TableName" in p:
        resource = table(p["TableName"])
        if p.get("IndexName"):
            resource += f"/index/{p['IndexName']}"
        return [(f"dynamodb:{op}", resource)]
    return [(f"dynamodb:{op}", "*")]


def _ssm(op: str, p: dict, region: str) -> Needs:
    def parameter(name: str) -> str:
        if name.startswith("arn:"):
            return name
        return arn("ssm", region, "parameter/" + name.lstrip("/"))

    names = _listify(p.get("Names")) or _listify(p.get("Name")) or _listify(p.get("Path"))
    if not names or op == "DescribeParameters":
        return [(f"ssm:{op}", "*")]
    return [(f"ssm:{op}", parameter(n)) for n in names]


def _logs(op: str, p: dict, region: str) -> Needs:
    group = p.get("logGroupName")
    if group is None and p.get("logGroupIdentifier"):
        group = p["logGroupIdentifier"]
    if not group:
        return [(f"logs:{op}", "*")]
    if group.startswith("arn:"):
        group = group.split(":log-group:", 1)[-1].removesuffix(":*")
    base = arn("logs", region, f"log-group:{group}")
    stream = p.get("logStreamName")
    return [(f"logs:{op}", f"{base}:log-stream:{stream}" if stream else base)]


def _cognito(op: str, p: dict, region: str) -> Needs:
    pool = p.get("UserPoolId")
    return [(f"cognito-idp:{op}", arn("cognito-idp", region, f"userpool/{pool}") if pool else "*")]


def _ecr(op: str, p: dict, region: str) -> Needs:
    repo = p.get("repositoryName")
    account = p.get("registryId") or ACCOUNT_ID
    return [(f"ecr:{op}", arn("ecr", region, f"repository/{repo}", account) if repo else "*")]


def _sts(op: str, p: dict, region: str) -> Needs:
    return [(f"sts:{op}", p.get("RoleArn") or "*")]


def _iam(op: str, p: dict, region: str) -> Needs:
    for key, kind in (("RoleName", "role"), ("UserName", "user"), ("GroupName", "group")):
        if p.get(key):
            return [(f"iam:{op}", f"arn:aws:iam::{ACCOUNT_ID}:{kind}/{p[key]}")]
    for key in ("PolicySourceArn", "PolicyArn", "RoleArn"):
        if p.get(key):
            return [(f"iam:{op}", p[key])]
    return [(f"iam:{op}", "*")]


def _secretsmanager(op: str, p: dict, region: str) -> Needs:
    secret = p.get("SecretId")
    if not secret:
        return [(f"secretsmanager:{op}", "*")]
    if not secret.startswith("arn:"):
        from moto.secretsmanager.models import secretsmanager_backends

        try:
            secret = secretsmanager_backends[ACCOUNT_ID][region].describe_secret(secret).arn
        except Exception:
            secret = arn("secretsmanager", region, f"secret:{secret}")
    return [(f"secretsmanager:{op}", secret)]


def _ecs(op: str, p: dict, region: str) -> Needs:
    cluster = p.get("cluster") or "default"
    cluster_arn = cluster if cluster.startswith("arn:") else arn("ecs", region, f"cluster/{cluster}")
    cluster_name = cluster_arn.rsplit("/", 1)[-1]
    if op in ("RunTask", "StartTask") and p.get("taskDefinition"):
        td = p["taskDefinition"]
        return [(f"ecs:{op}", td if td.startswith("arn:") else arn("ecs", region, f"task-definition/{td}"))]
    if p.get("service"):
        name = str(p["service"]).rsplit("/", 1)[-1]
        return [(f"ecs:{op}", arn("ecs", region, f"service/{cluster_name}/{name}"))]
    if op in ("DescribeTasks", "StopTask") and p.get("task" if op == "StopTask" else "tasks"):
        tasks = _listify(p.get("task") or p.get("tasks"))
        return [(f"ecs:{op}", t if t.startswith("arn:") else arn("ecs", region, f"task/{cluster_name}/{t}"))
                for t in tasks]
    if op in ("DescribeClusters", "ListServices", "ListTasks", "UpdateCluster", "DeleteCluster"):
        return [(f"ecs:{op}", cluster_arn)]
    return [(f"ecs:{op}", "*")]


def _elbv2(op: str, p: dict, region: str) -> Needs:
    for key in ("TargetGroupArn", "LoadBalancerArn", "ListenerArn", "RuleArn"):
        if p.get(key):
            return [(f"elasticloadbalancing:{op}", p[key])]
    return [(f"elasticloadbalancing:{op}", "*")]


_RULES = {
    "dynamodb": _dynamodb,
    "ssm": _ssm,
    "logs": _logs,
    "cognito-idp": _cognito,
    "ecr": _ecr,
    "sts": _sts,
    "iam": _iam,
    "secretsmanager": _secretsmanager,
    "ecs": _ecs,
    "elasticloadbalancing": _elbv2,
}

SERVICES_WITH_RULES = sorted(_RULES)


def needs(service: str, operation: str, params: dict, region: str) -> Needs:
    """The (action, ARN) pairs IAM must allow for `operation` of `service`
    (its signing name) with `params`."""
    rule = _RULES.get(service)
    if rule is None:
        return [(f"{service}:{operation}", "*")]
    return rule(operation, params, region)
