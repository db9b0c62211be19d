"""IAM SimulatePrincipalPolicy, which moto does not have, answered with the
sandbox's evaluation (iam_policy.py): what `verify` asks of the execution and
task roles is decided exactly as the agent and the task gate decide it.

The answer has AWS's shape: one EvaluationResult per action and resource,
EvalDecision `allowed`, `explicitDeny` or `implicitDeny`, and the statements
that decided it. Context entries are taken and ignored (conditions are not
evaluated; README)."""

from __future__ import annotations

import json

from moto.core.responses import ActionResult
from moto.iam.exceptions import InvalidInput, NoSuchEntity
from moto.iam.responses import IamResponse

from . import iam_policy

MAX_RESULTS = 1000


def _evaluation(decision: iam_policy.Decision) -> dict:
    return {
        "EvalActionName": decision.action,
        "EvalResourceName": decision.resource,
        "EvalDecision": decision.decision,
        "MatchedStatements": [
            {"SourcePolicyId": s.split(":", 1)[0], "SourcePolicyType": "IAM Policy"} for s in decision.statements
        ],
        "MissingContextValues": [],
    }


def simulate(source_arn: str, actions: list[str], resources: list[str], extra: list[str]) -> list[dict]:
    """The results for every action on every resource (`*` without any)."""
    try:
        policies = iam_policy.principal_policies(source_arn)
    except iam_policy.NoSuchPrincipal as e:
        raise NoSuchEntity(f"{e}: {source_arn}") from None
    for i, text in enumerate(extra):
        try:
            policies.append((f"PolicyInputList.{i + 1}", json.loads(text)))
        except ValueError:
            raise InvalidInput(f"PolicyInputList.{i + 1} is not a JSON policy document") from None
    return [
        _evaluation(iam_policy.evaluate(policies, action, resource))
        for action in actions
        for resource in (resources or ["*"])
    ]


def simulate_principal_policy(self: IamResponse) -> ActionResult:
    source = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames") or []
    if not source or not actions:
        raise InvalidInput("PolicySourceArn and ActionNames are required.")
    results = simulate(source, list(actions), list(self._get_param("ResourceArns") or []),
                       list(self._get_param("PolicyInputList") or []))
    return ActionResult({"EvaluationResults": results[:MAX_RESULTS], "IsTruncated": len(results) > MAX_RESULTS})


def install() -> None:
    """Gives moto's IAM the operation (before the server starts)."""
    IamResponse.simulate_principal_policy = simulate_principal_policy
