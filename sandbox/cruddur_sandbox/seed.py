"""Seeds a moto server with what a real AWS account already has and Cruddur
needs: subnets of the default VPC, a security group for the services, the IAM
roles the task definitions name, the log group, the SSM parameters the backend
reads its secrets from, the service connect namespace, a Cognito user pool
with an app client as the original Cruddur's (sign-in by email, `name` and
`preferred_username` attributes, SRP), and, with $SANDBOX_TLS_DIR, the load
balancer's certificate in ACM. Idempotent.

Prints one JSON object: subnets, security group, and the registry password
moto's ECR GetAuthorizationToken hands out (written as a bcrypt htpasswd entry
to --htpasswd, never printed)."""

import argparse
import base64
import json
import os
import pathlib
import sys

import bcrypt
import boto3
from botocore.exceptions import ClientError

from .oidc_issuer import seed as seed_web_identity

SECURITY_GROUP = "cruddur-srv-sg"
LOG_GROUP = "cruddur"
NAMESPACE = "cruddur"
SSM_PREFIX = "/cruddur/backend-flask/"
SSM_SECRETS = [
    "CONNECTION_URL",
    "ROLLBAR_ACCESS_TOKEN",
    "OTEL_EXPORTER_OTLP_HEADERS",
]


def client(name, endpoint):
    return boto3.client(
        name,
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "sandbox"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "sandbox"),
    )


def ensure_security_group(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        sys.exit("moto has no default VPC")
    vpc_id = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    found = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [SECURITY_GROUP]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    if found:
        group_id = found[0]["GroupId"]
    else:
        group_id = ec2.create_security_group(
            GroupName=SECURITY_GROUP, Description="Cruddur services", VpcId=vpc_id
        )["GroupId"]
        for port in (4567, 3000):
            ec2.authorize_security_group_ingress(
                GroupId=group_id, IpProtocol="tcp", FromPort=port, ToPort=port, CidrIp="0.0.0.0/0"
            )
    return vpc_id, sorted(s["SubnetId"] for s in subnets)[:3], group_id


# role, its trust policy, its permissions (infra/policies/): the execution
# role, the backend's task role, and the one-off set-up tasks' role.
ROLES = [
    ("CruddurServiceExecutionRole", "ecs-tasks-trust.json", "service-execution-policy.json"),
    ("CruddurTaskRole", "ecs-tasks-trust.json", "task-policy.json"),
    ("CruddurSetupTaskRole", "ecs-tasks-trust.json", "setup-task-policy.json"),
]


def ensure_roles(iam, policies):
    for role, trust_file, policy_file in ROLES:
        trust = (policies / trust_file).read_text()
        try:
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, Path="/")
        except ClientError as e:
            if e.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
        iam.put_role_policy(
            RoleName=role, PolicyName=policy_file.removesuffix(".json"), PolicyDocument=(policies / policy_file).read_text()
        )


def ensure_log_group(logs):
    try:
        logs.create_log_group(logGroupName=LOG_GROUP)
        logs.put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=1)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise


def ensure_parameters(ssm):
    """Placeholders for the backend's secrets; a value already there (the
    agent's CONNECTION_URL for its PostgreSQL, or one a user set) is kept."""
    for name in SSM_SECRETS:
        # Rollbar and Honeycomb are off in the sandbox (nothing leaves the machine).
        value = "off" if name in ("ROLLBAR_ACCESS_TOKEN", "OTEL_EXPORTER_OTLP_HEADERS") else f"sandbox-{name.lower()}"
        try:
            ssm.put_parameter(Name=SSM_PREFIX + name, Value=value, Type="SecureString")
        except ClientError as e:
            if e.response["Error"]["Code"] != "ParameterAlreadyExists":
                raise


def ensure_namespace(sd):
    names = [n["Name"] for n in sd.list_namespaces()["Namespaces"]]
    if NAMESPACE not in names:
        sd.create_http_namespace(Name=NAMESPACE, Description="Cruddur service connect")


USER_POOL = "cruddur-user-pool"
USER_POOL_CLIENT = "cruddur"
CLIENT_READ_ATTRIBUTES = ["email", "email_verified", "name", "preferred_username"]


def ensure_user_pool(cognito):
    """The original's pool: users sign in with their email, give a name and a
    handle (preferred_username); the app client uses SRP and has no secret."""
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((p["Id"] for p in pools if p["Name"] == USER_POOL), None)
    if pool_id is None:
        pool_id = cognito.create_user_pool(
            PoolName=USER_POOL,
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            Schema=[
                {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                {"Name": "name", "AttributeDataType": "String", "Required": True, "Mutable": True},
                {"Name": "preferred_username", "AttributeDataType": "String", "Required": True, "Mutable": True},
            ],
        )["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == USER_POOL_CLIENT), None)
    settings = dict(
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        # AWS puts every readable attribute in the ID token when none are
        # named; moto only the named ones, and the front end reads the name and
        # handle from the ID token.
        ReadAttributes=CLIENT_READ_ATTRIBUTES,
    )
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName=USER_POOL_CLIENT, GenerateSecret=False, **settings
        )["UserPoolClient"]["ClientId"]
    else:
        current = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        if sorted(current.get("ReadAttributes", [])) != sorted(CLIENT_READ_ATTRIBUTES):
            cognito.update_user_pool_client(
                UserPoolId=pool_id, ClientId=client_id, ClientName=USER_POOL_CLIENT, **settings
            )
    return pool_id, client_id


# The Cruddur seed users (backend-flask/db/seed.sql), as Cognito users of the
# sandbox's pool so they can sign in once `bin/update-cognito-user-ids` linked
# them; the sandbox-only password is in the README.
SEED_USERS = [
    ("andrewbrown", "Andrew Brown", "andrew@exampro.co"),
    ("bayko", "Andrew Bayko", "bayko@exampro.co"),
    ("londo", "Londo Mollari", "lmollari@centari.com"),
]
SEED_PASSWORD = "Cruddur-Sandbox-1!"


def ensure_seed_users(cognito, pool_id):
    existing = {
        a["Value"]
        for u in cognito.list_users(UserPoolId=pool_id)["Users"]
        for a in u.get("Attributes", [])
        if a["Name"] == "email"
    }
    for handle, name, email in SEED_USERS:
        if email in existing:
            continue
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "name", "Value": name},
                {"Name": "preferred_username", "Value": handle},
            ],
        )
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=SEED_PASSWORD, Permanent=True)


# The load balancer's certificate, made by `cargo xtask sandbox up` (signed by
# the sandbox's own CA, whose key never comes here) and imported into ACM as an
# account's certificate would be: the HTTPS listener names its ARN and the
# proxy serves it (listeners.py). Tagged so a second seed re-imports it under
# the same ARN instead of adding another.
TLS_DIR_VARIABLE = "SANDBOX_TLS_DIR"
CERTIFICATE_TAG = {"Key": "cruddur:sandbox", "Value": "load-balancer"}


def ensure_certificate(acm, tls_dir):
    """Imports certificate.pem, private-key.pem and chain.pem of `tls_dir`;
    returns the certificate's ARN (None without a directory)."""
    if not tls_dir:
        return None
    folder = pathlib.Path(tls_dir)
    parts = dict(
        Certificate=(folder / "certificate.pem").read_bytes(),
        PrivateKey=(folder / "private-key.pem").read_bytes(),
        CertificateChain=(folder / "chain.pem").read_bytes(),
    )
    for summary in acm.list_certificates()["CertificateSummaryList"]:
        arn = summary["CertificateArn"]
        if CERTIFICATE_TAG in acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", []):
            acm.import_certificate(CertificateArn=arn, **parts)
            # AWS keeps a re-imported certificate's tags; moto drops them.
            acm.add_tags_to_certificate(CertificateArn=arn, Tags=[CERTIFICATE_TAG])
            return arn
    return acm.import_certificate(Tags=[CERTIFICATE_TAG], **parts)["CertificateArn"]


def registry_password(ecr):
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    return user, password


def seed(endpoint, policies, htpasswd, password_override=None):
    """Seeds moto at `endpoint`; writes the registry's htpasswd entry. Returns
    the subnets, security group and registry user (never the password)."""
    ec2 = client("ec2", endpoint)
    vpc_id, subnets, group_id = ensure_security_group(ec2)
    ensure_roles(client("iam", endpoint), pathlib.Path(policies))
    deploy = seed_web_identity(client("iam", endpoint), pathlib.Path(policies))
    ensure_log_group(client("logs", endpoint))
    ensure_parameters(client("ssm", endpoint))
    ensure_namespace(client("servicediscovery", endpoint))
    cognito = client("cognito-idp", endpoint)
    user_pool_id, user_pool_client_id = ensure_user_pool(cognito)
    ensure_seed_users(cognito, user_pool_id)
    certificate_arn = ensure_certificate(client("acm", endpoint), os.environ.get(TLS_DIR_VARIABLE))
    user, password = registry_password(client("ecr", endpoint))
    # Tests of wrong credentials give the registry another password than ECR hands out.
    password = password_override or password
    if htpasswd is not None:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        fd = os.open(htpasswd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{user}:{hashed}\n")
    return {
        "vpc_id": vpc_id,
        "subnets": subnets,
        "security_group": group_id,
        "user_pool_id": user_pool_id,
        "user_pool_client_id": user_pool_client_id,
        "certificate_arn": certificate_arn,
        "registry_user": user,
        **deploy,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cruddur_sandbox seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--policies", required=True, type=pathlib.Path)
    parser.add_argument("--htpasswd", required=True, type=pathlib.Path)
    args = parser.parse_args(argv)
    out = seed(args.endpoint, args.policies, args.htpasswd, os.environ.get("SANDBOX_REGISTRY_PASSWORD"))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
