"""Cruddur's sandbox AWS account: moto served in-process, with a local ECS agent
that runs services and tasks as real containers, a local load balancer, and the
account's data stores (PostgreSQL in a container, DynamoDB from moto)."""

__version__ = "0.1.0"
