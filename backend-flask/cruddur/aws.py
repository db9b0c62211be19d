"""boto3 clients built from the settings (region, endpoint overrides).

Credentials are never settings: boto3's default chain finds them (on ECS the
task role's, from the container credentials endpoint; locally the
environment's development keys), so no key is stored in a task definition."""

from __future__ import annotations

from typing import Any

from .config import Settings


def make_client(settings: Settings, service: str, *, timeout: float, region: str | None = None):
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "region_name": region or settings.aws_region,
        "config": Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    }
    endpoint = settings.endpoint_url(service)
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    # A session of our own: boto3's default session is not thread-safe to create clients from.
    return boto3.session.Session().client(service, **kwargs)


def cognito_client(settings: Settings):
    # The pool lives in the region its id names, whatever AWS_DEFAULT_REGION says.
    return make_client(settings, "cognito-idp", timeout=settings.cognito_timeout, region=settings.cognito_region)
