"""A container's exit as ECS reports it: the code, and the reason it gives an
out-of-memory kill."""

from __future__ import annotations

import time

OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"


def settled(api, container_id: str, state: dict) -> dict:
    """docker marks OOMKilled when containerd's OOM event comes in, which on a
    busy machine can be after the exit already shows: an exit 137 not marked
    yet is read again for up to 2 s before it counts as a plain kill."""
    deadline = time.monotonic() + 2
    while (state.get("Status") in ("exited", "dead") and state.get("ExitCode") == 137
           and not state.get("OOMKilled") and time.monotonic() < deadline):
        time.sleep(0.2)
        state = api.inspect_container(container_id)["State"]
    return state


def reason(state: dict) -> str | None:
    return OOM_REASON if state.get("OOMKilled") else None
