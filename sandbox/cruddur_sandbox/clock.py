"""The agent's one clock: timezone-aware UTC, what ECS timestamps are."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)
