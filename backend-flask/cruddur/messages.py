"""Direct messages (stored in DynamoDB, users from PostgreSQL)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from . import serialize
from .auth import require_user
from .errors import BadRequest, NotFound
from .validation import MESSAGE_MAX_LENGTH, json_body, normalize_handle, optional_string, text_field

bp = Blueprint("messages", __name__, url_prefix="/api")


def _store():
    return current_app.extensions["cruddur"].messages


def _group_uuid(value: str) -> str:
    parsed = serialize.parse_uuid(value)
    if parsed is None:
        raise BadRequest("message group id must be a UUID")
    return str(parsed)


def _member_group(group: str) -> dict:
    membership = _store().group_of(str(g.user["uuid"]), group)
    if membership is None:
        raise NotFound("message group not found")
    return membership


@bp.get("/message_groups")
@require_user
def message_groups():
    return jsonify(_store().message_groups(str(g.user["uuid"])))


@bp.get("/messages/<message_group_uuid>")
@require_user
def messages(message_group_uuid: str):
    group = _group_uuid(message_group_uuid)
    _member_group(group)
    return jsonify(_store().messages(group))


@bp.post("/messages")
@require_user
def create_message():
    body = json_body()
    message = text_field(body, "message", MESSAGE_MAX_LENGTH)
    group_value = optional_string(body, "message_group_uuid")
    handle = optional_string(body, "handle")
    if group_value is not None:
        group = _group_uuid(group_value)
        membership = _member_group(group)
        result = _store().send(g.user, group, membership["other_user_uuid"], message)
        return jsonify(result), 201
    if handle is None:
        raise BadRequest("either 'message_group_uuid' or 'handle' is required")
    handle = normalize_handle(handle)
    recipient = current_app.extensions["cruddur"].db.fetch_one(
        "SELECT uuid, handle, display_name FROM users WHERE handle = %(handle)s", {"handle": handle}
    )
    if recipient is None:
        raise NotFound(f"no user with handle @{handle}")
    if recipient["uuid"] == g.user["uuid"]:
        raise BadRequest("you cannot send a message to yourself")
    return jsonify(_store().start_conversation(g.user, recipient, message)), 201
