"""bin/db-setup applies only the migrations a database has not recorded and
seeds only an empty one: run twice, or on a database in use, it changes
nothing. bin/db-reset is the one way to start over, and only when told so.
All against the real PostgreSQL of conftest.py."""

import subprocess
import sys
import time

import psycopg
import pytest

from conftest import BACKEND_DIR, free_port

from cruddur import migrations
from cruddur.migrations import MIGRATIONS_DIR, MigrationError

FIRST = "0001_users_and_activities"

# What the old db/01-schema.sql made (without its DROPs), before migrations
# were recorded: databases set up by it must be adopted, rows and all.
OLD_SCHEMA = """
CREATE TABLE public.users (
  uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(), display_name text NOT NULL,
  handle text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9_]{1,64}$'), email text NOT NULL,
  cognito_user_id text NOT NULL UNIQUE, bio text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE public.activities (
  uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_uuid uuid NOT NULL REFERENCES public.users (uuid) ON DELETE CASCADE,
  message text NOT NULL CHECK (char_length(message) BETWEEN 1 AND 280),
  replies_count integer NOT NULL DEFAULT 0, reposts_count integer NOT NULL DEFAULT 0,
  likes_count integer NOT NULL DEFAULT 0,
  reply_to_activity_uuid uuid REFERENCES public.activities (uuid) ON DELETE CASCADE,
  expires_at timestamptz, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX activities_created_at_idx ON public.activities (created_at DESC);
"""


def script(name, *args, url=None):
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    if url:
        env["CONNECTION_URL"] = url
    return subprocess.run(
        [sys.executable, str(BACKEND_DIR / "bin" / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def start(name, *args, url):
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "CONNECTION_URL": url}
    return subprocess.Popen(
        [sys.executable, str(BACKEND_DIR / "bin" / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def snapshot(url):
    """Every row of every table, schema_migrations (applied_at included) too."""
    with psycopg.connect(url) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {t: conn.execute(f"SELECT * FROM public.{t} ORDER BY 1").fetchall() for t in tables}


def execute(url, *statements):
    with psycopg.connect(url) as conn:
        for statement in statements:
            conn.execute(statement)


def line(result):
    assert result.returncode == 0, result.stderr
    (only,) = result.stdout.splitlines()
    return only


def where(url):
    return url.split("@", 1)[1]


NEW_USER = (
    "INSERT INTO users (handle, display_name, email, cognito_user_id) "
    "VALUES ('newcomer', 'New Comer', 'new@example.com', 'sub-newcomer')"
)
NEW_ACTIVITY = (
    "INSERT INTO activities (user_uuid, message) SELECT uuid, 'posted after the set-up' FROM users "
    "WHERE handle = 'newcomer'"
)


def test_db_setup_twice_changes_nothing_the_second_time(scratch_db):
    first = line(script("db-setup", url=scratch_db))
    assert first == f"db-setup: {where(scratch_db)}: applied 1 migration ({FIRST}); seeded 3 users and 7 activities"
    before = snapshot(scratch_db)
    assert [row[:2] for row in before["schema_migrations"]] == [("0001", FIRST)]
    second = line(script("db-setup", url=scratch_db))
    assert second == (
        f"db-setup: {where(scratch_db)}: applied 0 migrations (1 already applied); seed skipped: 3 users already there"
    )
    assert snapshot(scratch_db) == before


def test_db_setup_keeps_the_rows_of_a_database_in_use(scratch_db):
    line(script("db-setup", url=scratch_db))
    execute(
        scratch_db,
        NEW_USER,
        NEW_ACTIVITY,
        "UPDATE users SET bio = 'edited' WHERE handle = 'bayko'",
        "DELETE FROM activities WHERE message LIKE 'Health checks green%'",
    )
    before = snapshot(scratch_db)
    assert line(script("db-setup", url=scratch_db)).endswith("seed skipped: 4 users already there")
    assert snapshot(scratch_db) == before


def test_db_setup_adopts_a_database_made_before_migrations(scratch_db):
    execute(scratch_db, OLD_SCHEMA, (BACKEND_DIR / "db" / "seed.sql").read_text(), NEW_USER, NEW_ACTIVITY)
    rows = snapshot(scratch_db)
    out = line(script("db-setup", url=scratch_db))
    assert out == f"db-setup: {where(scratch_db)}: applied 1 migration ({FIRST}); seed skipped: 4 users already there"
    after = snapshot(scratch_db)
    assert [row[:2] for row in after.pop("schema_migrations")] == [("0001", FIRST)]
    assert after == rows


def test_the_seed_goes_only_into_an_empty_database(scratch_db):
    out = line(script("db-setup", "--schema-only", url=scratch_db))
    assert out.endswith(f"applied 1 migration ({FIRST}); seed not loaded (--schema-only; 0 users there)")
    execute(scratch_db, NEW_USER)
    assert line(script("db-setup", url=scratch_db)).endswith("seed skipped: 1 user already there")
    assert {t: len(rows) for t, rows in snapshot(scratch_db).items()} == {
        "activities": 0,
        "schema_migrations": 1,
        "users": 1,
    }
    execute(scratch_db, "DELETE FROM users")
    assert line(script("db-setup", url=scratch_db)).endswith("seeded 3 users and 7 activities")


def test_db_reset_without_its_flag_exits_2_and_changes_nothing(scratch_db):
    line(script("db-setup", url=scratch_db))
    execute(scratch_db, NEW_USER)
    before = snapshot(scratch_db)
    result = script("db-reset", url=scratch_db)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"db-reset: refusing to delete every table of {where(scratch_db)} (its users and activities) without "
        "--yes-delete-all-data: run `bin/db-reset --yes-delete-all-data` to start over; "
        "`bin/db-setup` sets up a database without deleting anything"
    ]
    assert snapshot(scratch_db) == before
    # It refuses before connecting: an unreachable database gives the same answer.
    result = script("db-reset", url=f"postgresql://postgres:sekrit@127.0.0.1:{free_port()}/x")
    assert result.returncode == 2 and "refusing" in result.stderr and "sekrit" not in result.stderr


def test_db_reset_with_its_flag_starts_over(scratch_db):
    line(script("db-setup", url=scratch_db))
    execute(scratch_db, NEW_USER, NEW_ACTIVITY)
    out = line(script("db-reset", "--yes-delete-all-data", url=scratch_db))
    assert out == (
        f"db-reset: {where(scratch_db)}: deleted 4 users and 8 activities (3 tables dropped); "
        f"applied 1 migration ({FIRST}); seeded 3 users and 7 activities"
    )
    after = snapshot(scratch_db)
    assert {t: len(rows) for t, rows in after.items()} == {"activities": 7, "schema_migrations": 1, "users": 3}
    assert "newcomer" not in {row[2] for row in after["users"]}


def test_a_migration_changed_after_it_was_applied_is_refused(scratch_db):
    line(script("db-setup", url=scratch_db))
    execute(scratch_db, "UPDATE schema_migrations SET checksum = repeat('0', 64)")
    before = snapshot(scratch_db)
    result = script("db-setup", url=scratch_db)
    assert result.returncode == 1
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"db-setup: {where(scratch_db)}: migration {FIRST} was changed after it was applied")
    assert error.endswith("put the change in a new migration instead; nothing changed")
    assert snapshot(scratch_db) == before


def test_a_migration_this_backend_does_not_know_is_refused(scratch_db):
    line(script("db-setup", url=scratch_db))
    execute(
        scratch_db,
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ('0099', '0099_from_a_newer_backend', 'x')",
    )
    result = script("db-setup", url=scratch_db)
    assert result.returncode == 1
    assert "has migration 0099_from_a_newer_backend, which this backend does not have" in result.stderr


def test_a_failing_migration_leaves_nothing_behind(scratch_db, tmp_path):
    (tmp_path / f"{FIRST}.sql").write_bytes((MIGRATIONS_DIR / f"{FIRST}.sql").read_bytes())
    (tmp_path / "0002_likes.sql").write_text("CREATE TABLE public.likes (id int);\nSELECT 1 / 0;\n")
    with psycopg.connect(scratch_db) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            migrations.setup(conn, directory=tmp_path)
    assert snapshot(scratch_db) == {}
    (tmp_path / "0002_likes.sql").write_text("CREATE TABLE public.likes (id int);\n")
    with psycopg.connect(scratch_db) as conn:
        outcome = migrations.setup(conn, directory=tmp_path)
    assert outcome.applied == [FIRST, "0002_likes"] and outcome.seeded == (3, 7)
    with psycopg.connect(scratch_db) as conn:
        assert migrations.setup(conn, directory=tmp_path).applied == []


@pytest.mark.parametrize("name", ["2_short.sql", "0002-dash.sql", "0002_Upper.sql", "notes.txt"])
def test_a_misnamed_migration_file_is_an_error(tmp_path, name):
    (tmp_path / f"{FIRST}.sql").write_text("SELECT 1;\n")
    (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="is not named NNNN_name.sql"):
        migrations.load(tmp_path)


def test_two_migrations_with_one_version_are_an_error(tmp_path):
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="share the version 0001"):
        migrations.load(tmp_path)


def test_two_set_ups_at_once_apply_each_migration_once(scratch_db):
    """Two one-off tasks at once. The test holds schema_migrations locked
    until both are waiting, so they really overlap: the advisory lock makes
    the second wait for the first and then find everything applied (without
    it both would apply 0001 and one would fail on the duplicate record)."""
    execute(scratch_db, migrations.CREATE_TABLE)
    holder = psycopg.connect(scratch_db)
    holder.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
    procs = [start("db-setup", url=scratch_db) for _ in range(2)]
    try:
        with psycopg.connect(scratch_db, autocommit=True) as watcher:
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'scratch' AND wait_event_type = 'Lock'"
            deadline = time.monotonic() + 60
            while watcher.execute(waiting).fetchone()[0] < 2:
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < deadline, "the two set-ups never both waited"
                time.sleep(0.05)
    finally:
        holder.close()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert sorted(out.strip() for out, _ in results) == sorted(
        [
            f"db-setup: {where(scratch_db)}: applied 1 migration ({FIRST}); seeded 3 users and 7 activities",
            f"db-setup: {where(scratch_db)}: applied 0 migrations (1 already applied); "
            "seed skipped: 3 users already there",
        ]
    )
    assert {t: len(rows) for t, rows in snapshot(scratch_db).items()} == {
        "activities": 7,
        "schema_migrations": 1,
        "users": 3,
    }
