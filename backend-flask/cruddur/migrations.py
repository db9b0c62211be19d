"""Cruddur's PostgreSQL schema as ordered migrations recorded in the database.

``db/migrations/NNNN_name.sql`` are applied in order, each once: a row of
``schema_migrations`` (version, name, checksum, applied_at) says it was.
``db/seed.sql`` is loaded only into a database without users.  Nothing here
drops a table except ``reset``, which ``bin/db-reset`` runs only when told
``--yes-delete-all-data``.

Why a runner of our own instead of a migration tool: the schema is a few plain
SQL files applied in name order, and this is about a hundred lines on the
psycopg the app already has.  Alembic would add SQLAlchemy and Mako to the
production image and wants its migrations as Python; yoyo-migrations or sqitch
would be another dependency (sqitch: Perl) for what these functions do.  What a
tool would give and a hand-written loop easily forgets is here:

* an advisory lock, so two set-up tasks at once apply each migration once;
* every missing migration and the seed in one transaction: all or nothing;
* a checksum per migration: a recorded migration whose file changed, or one
  this code does not know (a newer backend applied it), is refused, not
  silently skipped or re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

DB_DIR = Path(__file__).resolve().parent.parent / "db"
MIGRATIONS_DIR = DB_DIR / "migrations"
SEED_FILE = DB_DIR / "seed.sql"

NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# pg_advisory_xact_lock's key: any constant that no other code of this database uses.
LOCK_KEY = 0x43525544_44555231  # "CRUDDUR1"

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
  version    text        PRIMARY KEY,
  name       text        NOT NULL,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(Exception):
    """The migrations on disk and those recorded in the database disagree."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str  # the file name without .sql
    sql: str
    checksum: str  # sha256 of the file


@dataclass
class Outcome:
    """What one run did, for the one line the commands print."""

    applied: list[str] = field(default_factory=list)
    already: int = 0  # migrations recorded before this run
    users: int = 0  # rows in users before the seed was considered
    seeded: tuple[int, int] | None = None  # (users, activities) loaded by the seed
    deleted: tuple[int, int] | None = None  # (users, activities) a reset deleted
    dropped: list[str] = field(default_factory=list)  # tables a reset dropped


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, in order. Any other file there is an
    error (a misnamed migration must not be skipped quietly)."""
    migrations = []
    for path in sorted(directory.iterdir()):
        match = NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name} in {directory.name}/ is not named NNNN_name.sql (e.g. 0002_add_likes.sql)"
            )
        data = path.read_bytes()
        migrations.append(
            Migration(match.group(1), path.stem, data.decode("utf-8"), hashlib.sha256(data).hexdigest())
        )
    versions = [m.version for m in migrations]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise MigrationError(f"two migrations share the version {', '.join(duplicates)} in {directory.name}/")
    return migrations


def _table_exists(conn, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",)).fetchone()[0]


def _count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM public.{table}").fetchone()[0] if _table_exists(conn, table) else 0


def _check_recorded(recorded: dict[str, tuple[str, str]], migrations: list[Migration]) -> None:
    known = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(recorded.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {name}, which this backend does not have "
                "(a newer backend applied it): set it up with that backend"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied to this database "
                f"(recorded sha256 {checksum[:12]}, file {migration.checksum[:12]}): "
                "put the change in a new migration instead"
            )


def migrate(conn, migrations: list[Migration], outcome: Outcome) -> None:
    """Applies the migrations the database has not recorded, in order, inside
    the caller's transaction (which holds the lock)."""
    conn.execute(CREATE_TABLE)
    rows = conn.execute("SELECT version, name, checksum FROM public.schema_migrations").fetchall()
    recorded = {version: (name, checksum) for version, name, checksum in rows}
    _check_recorded(recorded, migrations)
    outcome.already = len(recorded)
    for migration in migrations:
        if migration.version in recorded:
            continue
        # No parameters: psycopg sends the file as one simple query, so it may
        # hold many statements.
        conn.execute(migration.sql)
        conn.execute(
            "INSERT INTO public.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (migration.version, migration.name, migration.checksum),
        )
        outcome.applied.append(migration.name)


def seed_if_empty(conn, outcome: Outcome, seed_file: Path = SEED_FILE) -> None:
    """Loads the seed data when there is no user yet. The table lock keeps a
    sign-up from adding one between the count and the seed."""
    conn.execute("LOCK TABLE public.users IN SHARE ROW EXCLUSIVE MODE")
    outcome.users = _count(conn, "users")
    if outcome.users or _count(conn, "activities"):
        return
    conn.execute(seed_file.read_text(encoding="utf-8"))
    outcome.seeded = (_count(conn, "users"), _count(conn, "activities"))


def setup(conn, *, seed: bool = True, directory: Path = MIGRATIONS_DIR) -> Outcome:
    """``bin/db-setup``: the missing migrations, then the seed into an empty
    database; one transaction, never a drop."""
    migrations = load(directory)
    outcome = Outcome()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        migrate(conn, migrations, outcome)
        if seed:
            seed_if_empty(conn, outcome)
        else:
            outcome.users = _count(conn, "users")
    return outcome


def reset(conn, *, seed: bool = True, directory: Path = MIGRATIONS_DIR) -> Outcome:
    """``bin/db-reset``: drops every table of the public schema (the
    migrations' tables and schema_migrations: the migrations only ever create
    tables and their indexes), then sets up as ``setup`` does; one transaction."""
    from psycopg import sql

    migrations = load(directory)
    outcome = Outcome()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        outcome.deleted = (_count(conn, "users"), _count(conn, "activities"))
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        if tables:
            names = sql.SQL(", ").join(sql.Identifier("public", t) for t in tables)
            conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(names))
        outcome.dropped = tables
        migrate(conn, migrations, outcome)
        if seed:
            seed_if_empty(conn, outcome)
    return outcome
