"""Link Cruddur users to their Cognito accounts (``bin/update-cognito-user-ids``).

The original Cruddur's ``update_cognito_user_ids`` step: for each row of
``users`` find the Cognito user whose ``preferred_username`` is its handle and
store that user's ``sub`` in ``users.cognito_user_id``.  Sign-in matches on
``sub`` only, so this explicit, logged step is the one way an existing row (the
seed users) gets a Cognito account; nothing links accounts at sign-in.

Why ``preferred_username``: it is the handle the sign-up form collects and what
the original step matched on, so a developer who signs up as ``andrewbrown``
with their own email gets the seed user without editing the seed's emails.
Because anyone can sign up with any ``preferred_username``, the step refuses
anything but one clear match: an ambiguous handle, an unconfirmed or disabled
Cognito user, a ``sub`` already linked to another row, or a row already linked
to another live Cognito user are skipped with the reason.  Run it right after
signing up the accounts meant for those users, and read its output.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Iterable

from .aws import cognito_client
from .cli import one_line, password_of
from .config import Settings

PROG = "update-cognito-user-ids"


@dataclass(frozen=True)
class CognitoUser:
    sub: str
    handle: str | None  # preferred_username, lower case
    status: str
    enabled: bool


@dataclass(frozen=True)
class Decision:
    handle: str
    user_uuid: str
    current: str  # the row's cognito_user_id now
    sub: str | None  # the sub to link, or None (skipped)
    reason: str = ""


def _attribute(user: dict[str, Any], name: str) -> str | None:
    for attr in user.get("Attributes", []):
        if attr.get("Name") == name:
            return attr.get("Value")
    return None


def list_cognito_users(client, pool_id: str) -> list[CognitoUser]:
    users = []
    for page in client.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for raw in page.get("Users", []):
            sub = _attribute(raw, "sub")
            if not sub:
                continue
            handle = _attribute(raw, "preferred_username")
            users.append(
                CognitoUser(
                    sub=sub,
                    handle=handle.strip().lower() if handle else None,
                    status=raw.get("UserStatus", "UNKNOWN"),
                    enabled=bool(raw.get("Enabled", True)),
                )
            )
    return users


def decide(rows: Iterable[dict[str, Any]], cognito_users: list[CognitoUser]) -> list[Decision]:
    """What to do for each Cruddur user (rows: uuid, handle, cognito_user_id)."""
    rows = list(rows)
    by_sub = {u.sub: u for u in cognito_users}
    linked_to = {str(r["cognito_user_id"]): r["handle"] for r in rows}
    decisions = []
    for row in rows:
        handle, current = row["handle"], str(row["cognito_user_id"])

        def skip(reason: str) -> Decision:
            return Decision(handle, str(row["uuid"]), current, None, reason)  # noqa: B023

        candidates = [u for u in cognito_users if u.handle == handle]
        if current in by_sub:
            if any(u.sub == current for u in candidates):
                decisions.append(skip(f"already linked to Cognito user {current}"))
            else:
                # A working sign-in is never re-pointed at another account.
                decisions.append(skip(f"already linked to another Cognito user ({current})"))
            continue
        if not candidates:
            decisions.append(skip(f"no Cognito user has preferred_username {handle}"))
            continue
        if len(candidates) > 1:
            subs = ", ".join(sorted(u.sub for u in candidates))
            decisions.append(
                skip(f"{len(candidates)} Cognito users have preferred_username {handle} ({subs}); link it by hand")
            )
            continue
        match = candidates[0]
        if match.status != "CONFIRMED":
            decisions.append(skip(f"Cognito user {match.sub} is {match.status}"))
        elif not match.enabled:
            decisions.append(skip(f"Cognito user {match.sub} is disabled"))
        elif match.sub in linked_to:
            decisions.append(skip(f"Cognito user {match.sub} is already linked to @{linked_to[match.sub]}"))
        else:
            decisions.append(Decision(handle, str(row["uuid"]), current, match.sub))
    return decisions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Set users.cognito_user_id to the sub of the Cognito user whose preferred_username is the "
            "user's handle (CONNECTION_URL, AWS_COGNITO_USER_POOL_ID). One line per user."
        ),
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be linked, change nothing")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    url = settings.connection_url
    if not url:
        print(f"{PROG}: CONNECTION_URL is not set", file=sys.stderr)
        return 2
    pool_id = settings.cognito_user_pool_id
    if not pool_id:
        print(f"{PROG}: AWS_COGNITO_USER_POOL_ID is not set", file=sys.stderr)
        return 2

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cognito_users = list_cognito_users(cognito_client(settings), pool_id)
    except (BotoCoreError, ClientError) as exc:
        print(f"{PROG}: cannot list the users of Cognito user pool {pool_id}: {one_line(exc)}", file=sys.stderr)
        return 1

    import psycopg
    from psycopg.rows import dict_row

    secret = password_of(url)
    lines: list[str] = []
    linked = skipped = 0
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(settings.db_connect_timeout)), row_factory=dict_row) as conn:
            with conn.transaction():
                # FOR UPDATE: a sign-up creating a row meanwhile cannot take a sub we link.
                rows = conn.execute("SELECT uuid, handle, cognito_user_id FROM users ORDER BY handle FOR UPDATE").fetchall()
                for d in decide(rows, cognito_users):
                    if d.sub is None:
                        skipped += 1
                        lines.append(f"{PROG}: skipped @{d.handle}: {d.reason}")
                        continue
                    linked += 1
                    if args.dry_run:
                        lines.append(f"{PROG}: would link @{d.handle} to Cognito user {d.sub}")
                        continue
                    conn.execute(
                        "UPDATE users SET cognito_user_id = %(sub)s WHERE uuid = %(uuid)s",
                        {"sub": d.sub, "uuid": d.user_uuid},
                    )
                    lines.append(f"{PROG}: linked @{d.handle} to Cognito user {d.sub}")
    except psycopg.OperationalError as exc:
        print(f"{PROG}: cannot connect to the database: {one_line(exc, secret)}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"{PROG}: updating users failed, nothing changed: {one_line(exc, secret)}", file=sys.stderr)
        return 1
    # Printed once committed, so a "linked" line is never a change that was rolled back.
    for line in lines:
        print(line)
    if args.dry_run:
        print(f"{PROG}: dry run, {linked} to link, {skipped} skipped, nothing changed")
    else:
        print(f"{PROG}: {linked} linked, {skipped} skipped")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
