"""A task's containers start in dependsOn order: a container waits for each
container it depends on to reach its condition (START, COMPLETE, SUCCESS,
HEALTHY), and gives up, stopping the task, when one has not within its own
startTimeout."""

from __future__ import annotations

from .task_failure import TaskFailure
from .task_record import ContainerState, Task

# Without a startTimeout, a dependency is waited for as long as the EC2 agent's
# ECS_CONTAINER_START_TIMEOUT default.
DEFAULT_START_TIMEOUT = 180


def unmet(task: Task, c: ContainerState) -> list[tuple[ContainerState, str]]:
    """The dependencies of `c` not reached yet, with their conditions."""
    byname = {x.name: x for x in task.containers}
    out = []
    for dep in c.definition.get("dependsOn") or []:
        other = byname.get(dep.get("containerName"))
        if other is None:
            continue  # refused at registration; a definition from before is not held to it
        cond = dep.get("condition", "START")
        if cond == "SUCCESS" and other.exit_code not in (None, 0):
            raise TaskFailure(
                f"CannotStartContainerError: dependency {other.name} of {c.name} exited with code "
                f"{other.exit_code}, not SUCCESS",
                container=c.name,
            )
        reached = {
            "START": other.started,
            "COMPLETE": other.exit_code is not None,
            "SUCCESS": other.exit_code == 0,
            "HEALTHY": other.health_status == "HEALTHY",
        }.get(cond, True)
        if not reached:
            out.append((other, cond))
    return out


def give_up_after_start_timeouts(task: Task, waiting: list[ContainerState], waited: float) -> None:
    """A dependency that has not reached its condition within its own
    startTimeout: the container waiting on it gives up, the task stops."""
    for c in waiting:
        for other, cond in unmet(task, c):
            timeout = int(other.definition.get("startTimeout") or DEFAULT_START_TIMEOUT)
            if waited > timeout:
                raise TaskFailure(
                    f"CannotStartContainerError: {c.name} gave up waiting for its dependency {other.name} "
                    f"to reach {cond} (startTimeout {timeout}s)",
                    container=c.name,
                )
