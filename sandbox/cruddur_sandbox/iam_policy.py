"""IAM's identity-based evaluation, as the sandbox applies it: to requests of
task containers (task_gate.py), to what the agent does with a task's
execution role (execution_role.py), and to SimulatePrincipalPolicy
(simulate.py) — one evaluation for all three, so `verify` sees what tasks get.

The principal's policies are read from moto's IAM (inline and attached, of a
role or user; for an assumed-role session, its role's). moto's own evaluator
(moto.iam.access_control.IAMPolicy) is not used for the decision: it treats a
statement with an unmatched Condition as a Deny, a NotResource statement as
matching everything, matches actions case-sensitively and reads `.` in a
pattern as a regex; the rules here are IAM's documented ones:

- an explicit Deny wins, then any Allow, else the request is implicitly denied;
- Action/NotAction match case-insensitively, Resource/NotResource
  case-sensitively, with `*` and `?` wildcards;
- not evaluated (README: What IAM evaluation cannot see): Condition blocks (an
  Allow with a condition counts as allowing, a Deny with one as not denying),
  policy variables, resource-based policies, permission boundaries, session
  policies, SCPs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from moto.iam.models import iam_backends

from .account import ACCOUNT_ID

PARTITION = "aws"

ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"
IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True)
class Decision:
    action: str
    resource: str
    decision: str  # ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY
    statements: tuple[str, ...] = ()  # "policy name" or "policy name: Sid" that decided it

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED

    def denial(self, principal_arn: str) -> str:
        """IAM's AccessDenied message for this decision."""
        why = (
            f"with an explicit deny in an identity-based policy ({', '.join(self.statements)})"
            if self.decision == EXPLICIT_DENY
            else f"because no identity-based policy allows the {self.action} action"
        )
        return (f"User: {principal_arn} is not authorized to perform: {self.action} on resource: "
                f"{self.resource} {why}")


@lru_cache(maxsize=512)
def _pattern(glob: str, case_sensitive: bool) -> re.Pattern:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in glob)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _matches(values: Any, value: str, case_sensitive: bool) -> bool:
    items = values if isinstance(values, list) else [values]
    return any(isinstance(v, str) and _pattern(v, case_sensitive).match(value) for v in items)


def _applies(statement: dict, action: str, resource: str) -> bool:
    if "Action" in statement:
        action_ok = _matches(statement["Action"], action, False)
    else:
        action_ok = "NotAction" in statement and not _matches(statement["NotAction"], action, False)
    if not action_ok:
        return False
    if "Resource" in statement:
        return _matches(statement["Resource"], resource, True)
    return "NotResource" in statement and not _matches(statement["NotResource"], resource, True)


def _statements(document: dict) -> list[dict]:
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def evaluate(policies: list[tuple[str, dict]], action: str, resource: str) -> Decision:
    """The decision of `policies` (name, document) for `action` on `resource`."""
    allows: list[str] = []
    denies: list[str] = []
    for name, document in policies:
        for statement in _statements(document):
            if not isinstance(statement, dict) or not _applies(statement, action, resource):
                continue
            label = f"{name}: {statement['Sid']}" if statement.get("Sid") else name
            if statement.get("Effect") == "Deny":
                if "Condition" not in statement:
                    denies.append(label)
            elif statement.get("Effect") == "Allow":
                allows.append(label)
    if denies:
        return Decision(action, resource, EXPLICIT_DENY, tuple(denies))
    if allows:
        return Decision(action, resource, ALLOWED, tuple(allows))
    return Decision(action, resource, IMPLICIT_DENY)


def _document(text: Any) -> dict:
    if isinstance(text, dict):
        return text
    text = str(text)
    if not text.lstrip().startswith("{"):
        text = unquote(text)
    return json.loads(text)


def _backend():
    return iam_backends[ACCOUNT_ID][PARTITION]


class NoSuchPrincipal(Exception):
    pass


def role_name_of(arn: str) -> str | None:
    """The role of a role ARN (any path) or of an assumed-role session ARN."""
    resource = arn.split(":", 5)[-1] if arn.startswith("arn:") else ""
    if resource.startswith("role/"):
        return resource.rsplit("/", 1)[-1]
    if resource.startswith("assumed-role/"):
        parts = resource.split("/")
        return parts[1] if len(parts) > 2 else None
    return None


def role_policies(role_name: str) -> list[tuple[str, dict]]:
    """A role's inline and attached policies, as (name, document)."""
    be = _backend()
    try:
        be.get_role(role_name)
    except Exception:
        raise NoSuchPrincipal(f"the role {role_name} does not exist") from None
    out = []
    for name in be.list_role_policies(role_name):
        _, document = be.get_role_policy(role_name, name)
        out.append((name, _document(document)))
    attached, _ = be.list_attached_role_policies(role_name)
    for policy in attached:
        out.append((policy.name, _document(_managed_document(policy))))
    return out


def _managed_document(policy) -> Any:
    version = next((v for v in policy.versions if v.is_default), None)
    return version.document if version is not None else policy.document


def user_policies(user_name: str) -> list[tuple[str, dict]]:
    be = _backend()
    try:
        be.get_user(user_name)
    except Exception:
        raise NoSuchPrincipal(f"the user {user_name} does not exist") from None
    out = [(n, _document(be.get_user_policy(user_name, n)["policy_document"]))
           for n in be.list_user_policies(user_name)]
    attached, _ = be.list_attached_user_policies(user_name)
    out += [(p.name, _document(_managed_document(p))) for p in attached]
    for group in be.get_groups_for_user(user_name):
        out += [(n, _document(be.get_group_policy(group.name, n)["policy_document"]))
                for n in be.list_group_policies(group.name)]
        group_attached, _ = be.list_attached_group_policies(group.name)
        out += [(p.name, _document(_managed_document(p))) for p in group_attached]
    return out


def principal_policies(arn: str) -> list[tuple[str, dict]]:
    """The identity-based policies of a role, session or user ARN."""
    role = role_name_of(arn)
    if role is not None:
        return role_policies(role)
    resource = arn.split(":", 5)[-1] if arn.startswith("arn:") else ""
    if resource.startswith("user/"):
        return user_policies(resource.rsplit("/", 1)[-1])
    raise NoSuchPrincipal(f"{arn} is not a role or user the sandbox evaluates")


def trusts_ecs_tasks(role_name: str) -> bool:
    """Whether the role's trust policy lets ECS tasks assume it (what ECS
    needs to hand its credentials to a task)."""
    try:
        document = _document(_backend().get_role(role_name).assume_role_policy_document)
    except Exception:
        return False
    for statement in _statements(document):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        services = (statement.get("Principal") or {}).get("Service") if isinstance(
            statement.get("Principal"), dict) else None
        if _matches(statement.get("Action", []), "sts:AssumeRole", False) and services is not None and (
                _matches(services, "ecs-tasks.amazonaws.com", True)):
            return True
    return False
