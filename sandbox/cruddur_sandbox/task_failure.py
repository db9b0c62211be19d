"""Why a task could not start, in the ECS agent's words."""

from __future__ import annotations


class TaskFailure(Exception):
    """Fails the task with stop code TaskFailedToStart and `reason`; the named
    container (or every container) gets `container_reason`, else `reason`."""

    def __init__(self, reason: str, container: str | None = None, container_reason: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.container = container
        self.container_reason = container_reason
