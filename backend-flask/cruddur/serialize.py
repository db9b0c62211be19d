"""Turn database rows into the JSON shapes of the API."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Mapping


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def activity(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "uuid": str(row["uuid"]),
        "handle": row["handle"],
        "display_name": row["display_name"],
        "message": row["message"],
        "created_at": iso(row["created_at"]),
        "expires_at": iso(row["expires_at"]),
        "likes_count": row["likes_count"],
        "replies_count": row["replies_count"],
        "reposts_count": row["reposts_count"],
        "reply_to_activity_uuid": _str_or_none(row["reply_to_activity_uuid"]),
    }


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
