"""Settings read from the environment.

Every setting comes from an environment variable (the generated ``backend-flask.env``
carries them).  An empty string counts as "not set", so a template can always
write every key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None:
        return default
    value = value.strip()
    return value if value else default


def _switched_off(value: str | None) -> str | None:
    """A secret that an ECS task definition references must exist in SSM, and
    SSM holds no empty value: `off` there means "not used"."""
    return None if value is not None and value.lower() == "off" else value


def _get_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def _get_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    frontend_url: str | None = None
    backend_url: str | None = None

    # PostgreSQL
    connection_url: str | None = None
    db_connect_timeout: float = 3.0  # seconds for one connection attempt
    db_pool_timeout: float = 3.0  # seconds a request waits for a pooled connection
    db_pool_min_size: int = 1
    db_pool_max_size: int = 4

    # AWS (DynamoDB for direct messages)
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    # Per-service endpoints (the AWS SDKs' own names), over aws_endpoint_url:
    # a developer may point DynamoDB at DynamoDB local and keep the real Cognito.
    aws_endpoint_url_dynamodb: str | None = None
    aws_endpoint_url_cognito_idp: str | None = None
    ddb_message_table: str = "cruddur-messages"
    ddb_timeout: float = 3.0

    # Cognito
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_jwks_url: str | None = None
    cognito_timeout: float = 3.0  # seconds for one call to Cognito (key set, GetUser)

    # Optional integrations
    otel_service_name: str = "backend-flask"
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_headers: str | None = None
    xray_url: str | None = None
    xray_daemon_address: str | None = None
    rollbar_access_token: str | None = None
    rollbar_environment: str = "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        threads = _get_int(env, "GUNICORN_THREADS", 4)
        return cls(
            frontend_url=_get(env, "FRONTEND_URL"),
            backend_url=_get(env, "BACKEND_URL"),
            connection_url=_get(env, "CONNECTION_URL"),
            db_connect_timeout=_get_float(env, "DB_CONNECT_TIMEOUT", 3.0),
            db_pool_timeout=_get_float(env, "DB_POOL_TIMEOUT", 3.0),
            db_pool_min_size=_get_int(env, "DB_POOL_MIN_SIZE", 1),
            db_pool_max_size=_get_int(env, "DB_POOL_MAX_SIZE", max(threads, 1)),
            aws_region=_get(env, "AWS_DEFAULT_REGION") or _get(env, "AWS_REGION") or "us-east-1",
            aws_endpoint_url=_get(env, "AWS_ENDPOINT_URL"),
            aws_endpoint_url_dynamodb=_get(env, "AWS_ENDPOINT_URL_DYNAMODB"),
            aws_endpoint_url_cognito_idp=_get(env, "AWS_ENDPOINT_URL_COGNITO_IDP"),
            ddb_message_table=_get(env, "DDB_MESSAGE_TABLE", "cruddur-messages"),
            ddb_timeout=_get_float(env, "DDB_TIMEOUT", 3.0),
            cognito_user_pool_id=_get(env, "AWS_COGNITO_USER_POOL_ID"),
            cognito_client_id=_get(env, "AWS_COGNITO_USER_POOL_CLIENT_ID"),
            cognito_jwks_url=_get(env, "AWS_COGNITO_JWKS_URL"),
            cognito_timeout=_get_float(env, "AWS_COGNITO_TIMEOUT", 3.0),
            otel_service_name=_get(env, "OTEL_SERVICE_NAME", "backend-flask"),
            otel_exporter_otlp_endpoint=_get(env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
            otel_exporter_otlp_headers=_get(env, "OTEL_EXPORTER_OTLP_HEADERS"),
            xray_url=_get(env, "AWS_XRAY_URL"),
            xray_daemon_address=_get(env, "AWS_XRAY_DAEMON_ADDRESS"),
            rollbar_access_token=_switched_off(_get(env, "ROLLBAR_ACCESS_TOKEN")),
            rollbar_environment=_get(env, "ROLLBAR_ENVIRONMENT", "production"),
        )

    @property
    def cors_origins(self) -> list[str]:
        return [u.rstrip("/") for u in (self.frontend_url, self.backend_url) if u]

    def endpoint_url(self, service: str) -> str | None:
        """The endpoint override for an AWS service ("dynamodb", "cognito-idp")."""
        specific = {
            "dynamodb": self.aws_endpoint_url_dynamodb,
            "cognito-idp": self.aws_endpoint_url_cognito_idp,
        }.get(service)
        return specific or self.aws_endpoint_url

    @property
    def cognito_region(self) -> str:
        # A pool id looks like "us-east-1_AbCdEf123": its region is its prefix.
        pool = self.cognito_user_pool_id or ""
        if "_" in pool:
            return pool.split("_", 1)[0]
        return self.aws_region

    @property
    def cognito_issuer(self) -> str | None:
        if not self.cognito_user_pool_id:
            return None
        return f"https://cognito-idp.{self.cognito_region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def jwks_url(self) -> str | None:
        if self.cognito_jwks_url:
            return self.cognito_jwks_url
        issuer = self.cognito_issuer
        return f"{issuer}/.well-known/jwks.json" if issuer else None

    @property
    def auth_configured(self) -> bool:
        return bool(self.cognito_user_pool_id and self.cognito_client_id)
