"""Cruddur's sandbox AWS account: moto served in-process, with a local ECS agent
that runs services and tasks as real containers, a local load balancer, and the
account's data stores (PostgreSQL in a container, DynamoDB from moto)."""

__version__ = "0.1.0"

# Before anything imports moto, whose EC2 models parse botocore's files as
# they are imported.
from . import botocore_models  # noqa: E402

botocore_models.parse_once()
