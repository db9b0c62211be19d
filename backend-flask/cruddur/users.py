"""Users."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .errors import NotFound
from .validation import normalize_handle

bp = Blueprint("users", __name__, url_prefix="/api/users")


@bp.get("/@<handle>/short")
def short(handle: str):
    handle = normalize_handle(handle)
    row = current_app.extensions["cruddur"].db.fetch_one(
        "SELECT uuid, handle, display_name FROM users WHERE handle = %(handle)s", {"handle": handle}
    )
    if row is None:
        raise NotFound(f"no user with handle @{handle}")
    return jsonify({"uuid": str(row["uuid"]), "handle": row["handle"], "display_name": row["display_name"]})
