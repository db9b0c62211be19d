"""Activities ("cruds"): feeds, profiles, search, create, show and reply."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from . import serialize
from .auth import optional_user, require_user
from .errors import BadRequest, NotFound
from .validation import ACTIVITY_MAX_LENGTH, json_body, normalize_handle, optional_string, text_field

bp = Blueprint("activities", __name__, url_prefix="/api/activities")

FEED_LIMIT = 100
SEARCH_TERM_MAX_LENGTH = 100

TTLS = {
    "30-days": "30 days",
    "7-days": "7 days",
    "3-days": "3 days",
    "1-day": "1 day",
    "12-hours": "12 hours",
    "3-hours": "3 hours",
    "1-hour": "1 hour",
}

ACTIVITY_COLUMNS = """
    a.uuid, u.handle, u.display_name, a.message, a.created_at, a.expires_at,
    a.likes_count, a.replies_count, a.reposts_count, a.reply_to_activity_uuid
"""

SELECT_ACTIVITIES = f"""
    SELECT {ACTIVITY_COLUMNS}
    FROM activities a
    JOIN users u ON u.uuid = a.user_uuid
    WHERE (a.expires_at IS NULL OR a.expires_at > now())
"""


def _db():
    return current_app.extensions["cruddur"].db


def _activity_uuid(value: str):
    parsed = serialize.parse_uuid(value)
    if parsed is None:
        raise BadRequest("activity id must be a UUID")
    return parsed


@bp.get("/home")
def home():
    rows = _db().fetch_all(
        SELECT_ACTIVITIES + " AND a.reply_to_activity_uuid IS NULL ORDER BY a.created_at DESC LIMIT %(limit)s",
        {"limit": FEED_LIMIT},
    )
    return jsonify([serialize.activity(r) for r in rows])


@bp.get("/notifications")
def notifications():
    user = optional_user()
    if user is None:
        # Anonymous: the most recent activities (not replies).
        sql = SELECT_ACTIVITIES + " AND a.reply_to_activity_uuid IS NULL"
        params = {"limit": FEED_LIMIT}
    else:
        # Signed in: others' replies to the user's activities and others'
        # activities that mention @handle.
        sql = (
            SELECT_ACTIVITIES
            + """
            AND a.user_uuid <> %(user_uuid)s
            AND (
                a.reply_to_activity_uuid IN (SELECT p.uuid FROM activities p WHERE p.user_uuid = %(user_uuid)s)
                OR a.message ~* %(mention)s
            )
            """
        )
        params = {
            "limit": FEED_LIMIT,
            "user_uuid": user["uuid"],
            # @handle as a whole word (handles are [a-z0-9_]).
            "mention": r"(^|[^a-z0-9_])@" + user["handle"] + r"($|[^a-z0-9_])",
        }
    rows = _db().fetch_all(sql + " ORDER BY a.created_at DESC LIMIT %(limit)s", params)
    return jsonify([serialize.activity(r) for r in rows])


@bp.get("/search")
def search():
    term = (request.args.get("term") or "").strip()
    if not term:
        raise BadRequest("query parameter 'term' is required")
    if len(term) > SEARCH_TERM_MAX_LENGTH:
        raise BadRequest(f"search term is too long (at most {SEARCH_TERM_MAX_LENGTH} characters)")
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = _db().fetch_all(
        SELECT_ACTIVITIES + " AND a.message ILIKE %(pattern)s ORDER BY a.created_at DESC LIMIT %(limit)s",
        {"pattern": pattern, "limit": FEED_LIMIT},
    )
    return jsonify([serialize.activity(r) for r in rows])


@bp.get("/@<handle>")
def user_activities(handle: str):
    handle = normalize_handle(handle)
    with _db().connection() as conn:
        profile = conn.execute(
            """
            SELECT u.uuid, u.handle, u.display_name, u.bio,
                   (SELECT count(*) FROM activities a
                     WHERE a.user_uuid = u.uuid
                       AND (a.expires_at IS NULL OR a.expires_at > now())) AS cruds_count
            FROM users u WHERE u.handle = %(handle)s
            """,
            {"handle": handle},
        ).fetchone()
        if profile is None:
            raise NotFound(f"no user with handle @{handle}")
        rows = conn.execute(
            SELECT_ACTIVITIES + " AND a.user_uuid = %(user_uuid)s ORDER BY a.created_at DESC LIMIT %(limit)s",
            {"user_uuid": profile["uuid"], "limit": FEED_LIMIT},
        ).fetchall()
    return jsonify(
        {
            "profile": {
                "uuid": str(profile["uuid"]),
                "handle": profile["handle"],
                "display_name": profile["display_name"],
                "bio": profile["bio"],
                "cruds_count": profile["cruds_count"],
            },
            "activities": [serialize.activity(r) for r in rows],
        }
    )


def _insert_activity(conn, user_uuid, message: str, ttl: str | None, reply_to=None):
    row = conn.execute(
        """
        INSERT INTO activities (user_uuid, message, expires_at, reply_to_activity_uuid)
        VALUES (%(user_uuid)s, %(message)s,
                CASE WHEN %(ttl)s::interval IS NULL THEN NULL ELSE now() + %(ttl)s::interval END,
                %(reply_to)s)
        RETURNING uuid
        """,
        {"user_uuid": user_uuid, "message": message, "ttl": ttl, "reply_to": reply_to},
    ).fetchone()
    return conn.execute(SELECT_ACTIVITIES + " AND a.uuid = %(uuid)s", {"uuid": row["uuid"]}).fetchone()


@bp.post("")
@require_user
def create():
    body = json_body()
    message = text_field(body, "message", ACTIVITY_MAX_LENGTH)
    ttl_name = optional_string(body, "ttl")
    ttl = None
    if ttl_name is not None:
        if ttl_name not in TTLS:
            raise BadRequest("'ttl' must be one of " + ", ".join(TTLS))
        ttl = TTLS[ttl_name]
    with _db().connection() as conn:
        row = _insert_activity(conn, g.user["uuid"], message, ttl)
    return jsonify(serialize.activity(row)), 201


@bp.get("/<activity_uuid>")
def show(activity_uuid: str):
    uuid = _activity_uuid(activity_uuid)
    with _db().connection() as conn:
        row = conn.execute(SELECT_ACTIVITIES + " AND a.uuid = %(uuid)s", {"uuid": uuid}).fetchone()
        if row is None:
            raise NotFound("activity not found")
        replies = conn.execute(
            SELECT_ACTIVITIES + " AND a.reply_to_activity_uuid = %(uuid)s ORDER BY a.created_at ASC LIMIT %(limit)s",
            {"uuid": uuid, "limit": FEED_LIMIT},
        ).fetchall()
    return jsonify({"activity": serialize.activity(row), "replies": [serialize.activity(r) for r in replies]})


@bp.post("/<activity_uuid>/reply")
@require_user
def reply(activity_uuid: str):
    uuid = _activity_uuid(activity_uuid)
    body = json_body()
    message = text_field(body, "message", ACTIVITY_MAX_LENGTH)
    with _db().connection() as conn:
        parent = conn.execute(
            """
            UPDATE activities SET replies_count = replies_count + 1
            WHERE uuid = %(uuid)s AND (expires_at IS NULL OR expires_at > now())
            RETURNING uuid
            """,
            {"uuid": uuid},
        ).fetchone()
        if parent is None:
            raise NotFound("activity not found")
        row = _insert_activity(conn, g.user["uuid"], message, None, reply_to=uuid)
    return jsonify(serialize.activity(row)), 201
