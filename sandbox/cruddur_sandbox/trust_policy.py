"""A role's trust policy, evaluated for AssumeRoleWithWebIdentity as IAM
evaluates it: an explicit Deny wins, else an Allow whose principal is the
token's OIDC provider, whose action covers sts:AssumeRoleWithWebIdentity and
whose conditions all hold; else the call is refused.

The condition keys a web identity brings are the provider's (`<host/path>:aud`,
`:sub`, `:azp` when the token has one); the string operators below, their
`...IfExists` forms and `Null` are understood. Whatever is not understood
(another operator, `ForAnyValue:`/`ForAllValues:`, `NotAction`,
`NotPrincipal`) never grants: an Allow statement using it does not apply and a
Deny statement using it does. Policy variables (`${...}`) are not expanded."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

ACTION = "sts:AssumeRoleWithWebIdentity"


@dataclass(frozen=True)
class WebIdentity:
    """Who asks: the provider's ARN and the condition keys the token brings."""

    provider_arn: str
    keys: dict[str, str]


class Unsupported(Exception):
    """A policy element the sandbox does not evaluate."""


def _like(value: str, pattern: str) -> bool:
    # IAM's StringLike: `*` any run of characters, `?` one; case-sensitive.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


_STRING_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    # name: (match one value against one pattern, negated)
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, block: dict, keys: dict[str, str]) -> bool:
    """One operator's block: every key in it must hold (AND); a key holds
    when its value matches any of the listed values (OR)."""
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    # Condition key names are case-insensitive; values are not.
    lowered = {k.lower(): v for k, v in keys.items()}
    for key, wanted in block.items():
        have = lowered.get(key.lower())
        if base == "Null":
            if {str(w).lower() for w in as_list(wanted)} != {"true" if have is None else "false"}:
                return False
            continue
        if base not in _STRING_OPERATORS:
            raise Unsupported(f"condition operator {operator}")
        match, negated = _STRING_OPERATORS[base]
        if have is None:
            if if_exists or negated:
                continue
            return False
        hit = any(match(have, str(w)) for w in as_list(wanted))
        if hit == negated:
            return False
    return True


def _covers_action(statement: dict) -> bool:
    if "NotAction" in statement:
        raise Unsupported("NotAction")
    return any(fnmatch.fnmatchcase(ACTION.lower(), str(a).lower()) for a in as_list(statement.get("Action", [])))


def _names_principal(statement: dict, provider_arn: str) -> bool:
    if "NotPrincipal" in statement:
        raise Unsupported("NotPrincipal")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return provider_arn in as_list(principal.get("Federated", []))


def _applies(statement: dict, who: WebIdentity) -> bool:
    if not (_covers_action(statement) and _names_principal(statement, who.provider_arn)):
        return False
    conditions = statement.get("Condition") or {}
    return all(_condition_holds(op, block, who.keys) for op, block in conditions.items())


def allows(document: str | dict, who: WebIdentity, log: Callable[[str], None] = lambda _: None) -> bool:
    """Whether the trust policy `document` lets `who` assume the role."""
    policy = json.loads(document) if isinstance(document, str) else document
    allowed = False
    for statement in as_list(policy.get("Statement", [])):
        effect = statement.get("Effect")
        try:
            applies = _applies(statement, who)
        except Unsupported as e:
            log(f"trust policy statement {statement.get('Sid', '')!r} uses {e}, which the sandbox does not evaluate: "
                f"{'it denies' if effect == 'Deny' else 'it grants nothing'}")
            applies = effect == "Deny"
        if applies and effect == "Deny":
            return False
        allowed |= applies and effect == "Allow"
    return allowed
