"""What issue 31 puts into moto's process before it serves: IAM's
SimulatePrincipalPolicy (simulate.py) and ECR's random registry password
(registry_password.py). The task gate (task_gate.py) and the task endpoint
(task_endpoint.py) are started by `serve` on the network's gateway."""

from __future__ import annotations

from . import registry_password, simulate


def install() -> None:
    simulate.install()
    registry_password.install()
