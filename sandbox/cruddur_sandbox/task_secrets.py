"""A task's secrets, fetched as the ECS agent fetches them with the task's
execution role: SSM parameters (name or ARN) and Secrets Manager secrets
(with an optional JSON key), read from moto's backends in this process."""

from __future__ import annotations

import json

from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends

from .account import ACCOUNT_ID, REGION
from .task_failure import TaskFailure
from .task_roles import ExecutionRole


def resolve(value_froms: list[str], role: ExecutionRole) -> dict[str, str]:
    """Every `valueFrom` -> its value, each read only when the execution
    `role` may (else the task fails naming the action); the missing SSM
    parameters are all named, as the agent names them."""
    out: dict[str, str] = {}
    missing: list[str] = []
    for vf in value_froms:
        if vf.startswith("arn:aws:secretsmanager:"):
            role.secret(":".join(vf.split(":")[:7]))
            out[vf] = _secrets_manager(vf)
            continue
        region, name = _ssm_parameter(vf)
        role.ssm_parameter(f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}")
        try:
            param = ssm_backends[ACCOUNT_ID][region].get_parameter(name)
        except Exception:
            param = None
        if param is None:
            missing.append(name)
        else:
            out[vf] = param.decrypt(param.value)
    if missing:
        raise TaskFailure(
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
            "failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): "
            f"invalid ssm parameters: {' '.join(missing)}"
        )
    return out


def _secrets_manager(vf: str) -> str:
    # arn:aws:secretsmanager:region:account:secret:name[:json-key[:version-stage[:version-id]]]
    parts = vf.split(":")
    region, secret_arn = parts[3] or REGION, ":".join(parts[:7])
    json_key, stage, version = (parts[7:] + ["", "", ""])[:3]
    try:
        got = secretsmanager_backends[ACCOUNT_ID][region].get_secret_value(secret_arn, version or None, stage or None)
        value = got["SecretString"]
        if json_key:
            value = json.loads(value)[json_key]
            value = value if isinstance(value, str) else json.dumps(value)
        return value
    except Exception:
        raise TaskFailure(
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
            "retrieval failed: unable to retrieve secret from asm: service call has been retried 1 "
            f"time(s): failed to fetch secret {vf} from secrets manager: ResourceNotFoundException: "
            "Secrets Manager can't find the specified secret."
        ) from None


def _ssm_parameter(vf: str) -> tuple[str, str]:
    """(region, parameter name) of a name or an ARN."""
    if not vf.startswith("arn:aws:ssm:"):
        return REGION, vf
    parts = vf.split(":", 5)
    name = parts[5].removeprefix("parameter")
    if not name.startswith("/") or name.count("/") == 1:
        name = name.lstrip("/")
        if "/" in name:
            name = "/" + name
    return parts[3] or REGION, name
