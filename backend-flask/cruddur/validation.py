"""Request-body validation shared by the routes."""

from __future__ import annotations

from typing import Any

from flask import request

from .errors import BadRequest

ACTIVITY_MAX_LENGTH = 280
MESSAGE_MAX_LENGTH = 1024
HANDLE_MAX_LENGTH = 64


def json_body() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong."""
    if not request.get_data(cache=True):
        raise BadRequest("request body must be a JSON object")
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise BadRequest("request body is not valid JSON")
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, max_length: int) -> str:
    if name not in body or body[name] is None:
        raise BadRequest(f"'{name}' is required")
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    value = value.strip()
    if not value:
        raise BadRequest(f"'{name}' must not be empty")
    if len(value) > max_length:
        raise BadRequest(f"'{name}' is too long ({len(value)} characters, at most {max_length})")
    return value


def optional_string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    value = value.strip()
    return value or None


def normalize_handle(handle: str) -> str:
    handle = handle.strip().lstrip("@").lower()
    return handle
