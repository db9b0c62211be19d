"""``bin/db-setup`` and ``bin/db-reset``: Cruddur's PostgreSQL database set up
from ``db/migrations`` and ``db/seed.sql`` (see ``cruddur.migrations``).

db-setup applies only the migrations the database has not recorded and loads
the seed only into a database without users: it never drops or deletes
anything, so it is safe to run on every deploy, and a second run changes
nothing.  db-reset deletes everything and starts over; it refuses (exit 2,
nothing touched, not even a connection) unless told ``--yes-delete-all-data``.
Each prints one line saying what it did.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import migrations
from .cli import describe_database, one_line, password_of
from .migrations import DB_DIR, MigrationError, Outcome

RESET_FLAG = "--yes-delete-all-data"


def setup_database(connection_url: str, schema_only: bool = False, connect_timeout: int = 5) -> Outcome:
    """The missing migrations, then the seed into an empty database (not with schema_only)."""
    import psycopg

    with psycopg.connect(connection_url, connect_timeout=connect_timeout) as conn:
        return migrations.setup(conn, seed=not schema_only)


def reset_database(connection_url: str, schema_only: bool = False, connect_timeout: int = 5) -> Outcome:
    """Every table dropped, the migrations and (unless schema_only) the seed loaded again."""
    import psycopg

    with psycopg.connect(connection_url, connect_timeout=connect_timeout) as conn:
        return migrations.reset(conn, seed=not schema_only)


def count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def describe(outcome: Outcome, schema_only: bool) -> str:
    """The one line: what was deleted, applied and seeded."""
    parts = []
    if outcome.deleted is not None:
        users, activities = outcome.deleted
        parts.append(
            f"deleted {count(users, 'user', 'users')} and {count(activities, 'activity', 'activities')} "
            f"({count(len(outcome.dropped), 'table', 'tables')} dropped)"
        )
    applied = f"applied {count(len(outcome.applied), 'migration', 'migrations')}"
    if outcome.applied:
        applied += f" ({', '.join(outcome.applied)})"
    elif outcome.already:
        applied += f" ({outcome.already} already applied)"
    parts.append(applied)
    if outcome.seeded is not None:
        users, activities = outcome.seeded
        parts.append(f"seeded {count(users, 'user', 'users')} and {count(activities, 'activity', 'activities')}")
    elif schema_only:
        parts.append(f"seed not loaded (--schema-only; {count(outcome.users, 'user', 'users')} there)")
    else:
        parts.append(f"seed skipped: {count(outcome.users, 'user', 'users')} already there")
    return "; ".join(parts)


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--schema-only", action="store_true", help="load no seed data")
    parser.add_argument(
        "--url",
        default=None,
        help="PostgreSQL URL (default: the CONNECTION_URL environment variable; prefer it: argv is visible to others)",
    )
    return parser


def _url(prog: str, args: argparse.Namespace) -> str | None:
    url = args.url or (os.environ.get("CONNECTION_URL") or "").strip()
    if not url:
        print(f"{prog}: CONNECTION_URL is not set (or pass --url postgresql://user:pass@host:5432/db)", file=sys.stderr)
    return url or None


def _run(prog: str, url: str, action, schema_only: bool) -> int:
    """Runs ``action(url, schema_only)`` and prints its line, or one error line."""
    try:
        import psycopg
    except ImportError:
        print(f"{prog}: psycopg is not installed: pip install -r requirements.txt", file=sys.stderr)
        return 1
    secret, where = password_of(url), describe_database(url)
    try:
        outcome = action(url, schema_only=schema_only)
    except MigrationError as exc:
        print(f"{prog}: {where}: {exc}; nothing changed", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"{prog}: cannot connect to the database {where}: {one_line(exc, secret)}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"{prog}: the SQL failed in {where}, nothing changed: {one_line(exc, secret)}", file=sys.stderr)
        return 1
    print(f"{prog}: {where}: {describe(outcome, schema_only)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``bin/db-setup``."""
    parser = _parser(
        "db-setup",
        "Apply the migrations (db/migrations) CONNECTION_URL's database has not recorded, and load the seed data "
        "(db/seed.sql) if it has no users. Never drops or deletes anything; running it again changes nothing.",
    )
    args = parser.parse_args(argv)
    url = _url("db-setup", args)
    if url is None:
        return 2
    return _run("db-setup", url, setup_database, args.schema_only)


def reset_main(argv: list[str] | None = None) -> int:
    """``bin/db-reset``."""
    parser = _parser(
        "db-reset",
        f"DELETE every table of CONNECTION_URL's database, then apply the migrations and load the seed data. "
        f"Refuses without {RESET_FLAG}.",
    )
    parser.add_argument(RESET_FLAG, dest="confirmed", action="store_true", help="yes: delete every user and activity")
    args = parser.parse_args(argv)
    url = args.url or (os.environ.get("CONNECTION_URL") or "").strip()
    if not args.confirmed:
        where = describe_database(url) if url else "the database of CONNECTION_URL"
        print(
            f"db-reset: refusing to delete every table of {where} (its users and activities) without {RESET_FLAG}: "
            f"run `bin/db-reset {RESET_FLAG}` to start over; "
            "`bin/db-setup` sets up a database without deleting anything",
            file=sys.stderr,
        )
        return 2
    url = _url("db-reset", args)
    if url is None:
        return 2
    return _run("db-reset", url, reset_database, args.schema_only)


__all__ = ["DB_DIR", "main", "reset_main", "reset_database", "setup_database"]
