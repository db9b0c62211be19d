import os
import subprocess
import sys

import psycopg

from conftest import BACKEND_DIR, free_port

from cruddur.dbsetup import setup_database


def counts(url):
    with psycopg.connect(url) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("users", "activities"))


def run_script(name, *args, env=None):
    base = {k: v for k, v in os.environ.items() if k not in ("CONNECTION_URL", "AWS_ENDPOINT_URL")}
    return subprocess.run(
        [sys.executable, str(BACKEND_DIR / "bin" / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
    )


def test_db_setup_is_idempotent(scratch_db):
    setup_database(scratch_db)
    first = counts(scratch_db)
    assert first == (3, 7)
    setup_database(scratch_db)
    assert counts(scratch_db) == first


def test_db_setup_schema_only(scratch_db):
    setup_database(scratch_db, schema_only=True)
    assert counts(scratch_db) == (0, 0)
    setup_database(scratch_db)
    assert counts(scratch_db) == (3, 7)
    setup_database(scratch_db, schema_only=True)  # never deletes what is there
    assert counts(scratch_db) == (3, 7)


def test_seed_has_the_required_rows(scratch_db):
    setup_database(scratch_db)
    with psycopg.connect(scratch_db) as conn:
        users = dict(conn.execute("SELECT handle, display_name FROM users").fetchall())
        assert users == {"andrewbrown": "Andrew Brown", "bayko": "Andrew Bayko", "londo": "Londo Mollari"}
        assert conn.execute("SELECT count(*) FROM users WHERE cognito_user_id <> ''").fetchone()[0] == 3
        assert (
            conn.execute(
                "SELECT count(*) FROM activities WHERE message LIKE '%This was imported as seed data!%'"
            ).fetchone()[0]
            >= 1
        )
        assert (
            conn.execute("SELECT count(*) FROM activities WHERE reply_to_activity_uuid IS NOT NULL").fetchone()[0] >= 1
        )


def test_bin_db_setup(scratch_db):
    where = scratch_db.split("@", 1)[1]
    result = run_script("db-setup", env={"CONNECTION_URL": scratch_db})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"db-setup: {where}: applied 1 migration (0001_users_and_activities); seeded 3 users and 7 activities"
    ]
    assert counts(scratch_db) == (3, 7)
    result = run_script("db-setup", "--schema-only", "--url", scratch_db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"db-setup: {where}: applied 0 migrations (1 already applied); seed not loaded (--schema-only; 3 users there)"
    ]
    assert counts(scratch_db) == (3, 7)


def test_bin_db_setup_errors():
    result = run_script("db-setup")
    assert result.returncode == 2
    assert "CONNECTION_URL is not set" in result.stderr
    port = free_port()
    result = run_script("db-setup", env={"CONNECTION_URL": f"postgresql://postgres:sekrit-pw@127.0.0.1:{port}/x"})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"db-setup: cannot connect to the database 127.0.0.1:{port}/x: ")
    assert "sekrit" not in result.stdout + result.stderr


def test_bin_db_setup_sql_error_is_one_line_and_changes_nothing(scratch_db):
    """A users table of another shape, made by hand: the migration keeps it
    (IF NOT EXISTS), the seed cannot go into it; the whole run is undone."""
    with psycopg.connect(scratch_db) as conn:
        conn.execute("CREATE TABLE users (uuid uuid PRIMARY KEY)")
    result = run_script("db-setup", env={"CONNECTION_URL": scratch_db})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("db-setup: the SQL failed in 127.0.0.1:") and "nothing changed" in line
    with psycopg.connect(scratch_db) as conn:  # one transaction: all or nothing
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        assert tables == [("users",)]


def test_bin_ddb_setup(moto_url):
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DDB_MESSAGE_TABLE": "ddb-setup-test",
    }
    result = run_script("ddb-setup", "--seed", env=env)
    assert result.returncode == 0, result.stderr
    assert "table ddb-setup-test created" in result.stdout and "seeded message group" in result.stdout
    client = ddb_client(moto_url)
    table = client.describe_table(TableName="ddb-setup-test")["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["message-group-sk-index"]
    assert client.scan(TableName="ddb-setup-test", Select="COUNT")["Count"] == 5  # 2 group items + 3 messages
    result = run_script("ddb-setup", "--seed", env=env)
    assert result.returncode == 0 and "table ddb-setup-test exists" in result.stdout
    assert "already have message group" in result.stdout
    assert client.scan(TableName="ddb-setup-test", Select="COUNT")["Count"] == 5
    result = run_script("ddb-setup", "--recreate", env=env)
    assert result.returncode == 0 and "table ddb-setup-test recreated" in result.stdout
    assert client.scan(TableName="ddb-setup-test", Select="COUNT")["Count"] == 0


def ddb_client(moto_url):
    import boto3

    return boto3.session.Session().client(
        "dynamodb", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def test_bin_ddb_setup_refuses_a_table_of_another_schema(moto_url):
    """A table made by an older ddb-setup (on-demand, no index) is reported, not used."""
    client = ddb_client(moto_url)
    client.create_table(
        TableName="ddb-old-schema",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DDB_MESSAGE_TABLE": "ddb-old-schema",
    }
    result = run_script("ddb-setup", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "ddb-setup: table ddb-old-schema exists but it has no index message-group-sk-index: "
        "`bin/ddb-setup --recreate` replaces it (its items are lost)"
    ]
    result = run_script("ddb-setup", "--recreate", env=env)
    assert result.returncode == 0, result.stderr
    table = client.describe_table(TableName="ddb-old-schema")["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["message-group-sk-index"]


def test_bin_ddb_setup_unreachable():
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DDB_TIMEOUT": "1",
    }
    result = run_script("ddb-setup", env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("ddb-setup: http://127.0.0.1:") and "check AWS_ENDPOINT_URL" in line


def test_bin_ddb_setup_twice_keeps_the_table_and_its_items(moto_url):
    """The second run (what `demo` does on every run) finds the table and
    changes nothing: same table, same items; only --recreate empties it."""
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DDB_MESSAGE_TABLE": "ddb-setup-twice",
    }
    assert run_script("ddb-setup", env=env).returncode == 0
    client = ddb_client(moto_url)
    created = client.describe_table(TableName="ddb-setup-twice")["Table"]
    item = {"pk": {"S": "MSG#a-group"}, "sk": {"S": "2026-12-02T10:00:00+00:00"}, "message": {"S": "kept"}}
    client.put_item(TableName="ddb-setup-twice", Item=item)
    result = run_script("ddb-setup", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ddb-setup: table ddb-setup-twice exists at "), result.stdout
    again = client.describe_table(TableName="ddb-setup-twice")["Table"]
    assert (again["TableArn"], again["CreationDateTime"]) == (created["TableArn"], created["CreationDateTime"])
    assert client.scan(TableName="ddb-setup-twice")["Items"] == [item]
    result = run_script("ddb-setup", "--recreate", env=env)
    assert result.returncode == 0 and "table ddb-setup-twice recreated" in result.stdout
    assert client.scan(TableName="ddb-setup-twice", Select="COUNT")["Count"] == 0
