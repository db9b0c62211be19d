"""Load ``db/01-schema.sql`` then ``db/02-seed.sql`` into a PostgreSQL database.

Used by ``bin/db-setup`` and by the tests.  The schema drops and recreates the
tables, so running it again resets the database.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .cli import describe_database, one_line, password_of

DB_DIR = Path(__file__).resolve().parent.parent / "db"
SCHEMA_FILE = DB_DIR / "01-schema.sql"
SEED_FILE = DB_DIR / "02-seed.sql"


def sql_files(schema_only: bool = False) -> list[Path]:
    return [SCHEMA_FILE] if schema_only else [SCHEMA_FILE, SEED_FILE]


def setup_database(connection_url: str, schema_only: bool = False, connect_timeout: int = 5) -> list[Path]:
    """Run the SQL files in one transaction; returns the files loaded."""
    import psycopg

    files = sql_files(schema_only)
    with psycopg.connect(connection_url, connect_timeout=connect_timeout) as conn:
        with conn.transaction():
            for path in files:
                # No parameters: psycopg sends the file as one simple query, so
                # it may hold many statements.
                conn.execute(path.read_text(encoding="utf-8"))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="db-setup",
        description="(Re)create Cruddur's tables and load the seed data into CONNECTION_URL.",
    )
    parser.add_argument("--schema-only", action="store_true", help="create the tables, load no seed data")
    parser.add_argument(
        "--url",
        default=None,
        help="PostgreSQL URL (default: the CONNECTION_URL environment variable; prefer it: argv is visible to others)",
    )
    args = parser.parse_args(argv)
    url = args.url or (os.environ.get("CONNECTION_URL") or "").strip()
    if not url:
        print(
            "db-setup: CONNECTION_URL is not set (or pass --url postgresql://user:pass@host:5432/db)", file=sys.stderr
        )
        return 2
    try:
        import psycopg
    except ImportError:
        print("db-setup: psycopg is not installed: pip install -r requirements.txt", file=sys.stderr)
        return 1
    secret, where = password_of(url), describe_database(url)
    try:
        files = setup_database(url, schema_only=args.schema_only)
        with psycopg.connect(url, connect_timeout=5) as conn:
            users, activities = (
                conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("users", "activities")
            )
    except psycopg.OperationalError as exc:
        print(f"db-setup: cannot connect to the database {where}: {one_line(exc, secret)}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"db-setup: loading the SQL into {where} failed, nothing changed: {one_line(exc, secret)}", file=sys.stderr)
        return 1
    for path in files:
        print(f"db-setup: loaded {path.relative_to(DB_DIR.parent)}")
    what = "schema only" if args.schema_only else "schema and seed data"
    print(f"db-setup: {where} is ready ({what}: {users} users, {activities} activities)")
    return 0
