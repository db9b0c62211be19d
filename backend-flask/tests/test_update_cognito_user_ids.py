"""bin/update-cognito-user-ids: the explicit step that links Cruddur users
(the seed users) to their Cognito accounts, against moto's Cognito and the
test PostgreSQL."""

import os
import subprocess
import sys

import psycopg
import pytest

from conftest import BACKEND_DIR, SEED, free_port

SCRIPT = BACKEND_DIR / "bin" / "update-cognito-user-ids"


def run_script(*args, env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CONNECTION_URL"))}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env={**base, **env}
    )


def script_env(db_url, cognito):
    return {
        "CONNECTION_URL": db_url,
        "AWS_COGNITO_USER_POOL_ID": cognito.pool_id,
        "AWS_ENDPOINT_URL": cognito.moto_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def cognito_ids(db_url):
    with psycopg.connect(db_url) as conn:
        return dict(conn.execute("SELECT handle, cognito_user_id FROM users").fetchall())


def post(client, headers, message="linked!"):
    return client.post("/api/activities", json={"message": message}, headers=headers)


def test_links_seed_users_by_preferred_username(db_url, cognito, make_app):
    andrew = cognito.sign_up("andrew@example.com", "andrewbrown", "Andrew Brown")
    bayko = cognito.sign_up("bayko@example.com", "Bayko", "Andrew Bayko")  # handles are lower case
    cognito.sign_up("newbie@example.com", "newbie", "New Bie")  # no Cruddur row: not this script's job
    client = make_app(**cognito.env()).test_client()

    # Before the explicit step, a Cognito account named like a seed user is not that user.
    r = post(client, cognito.headers("andrew@example.com"))
    assert r.status_code == 409, r.get_json()
    assert r.get_json() == {"error": "the handle @andrewbrown is already taken by another Cruddur user"}
    assert cognito_ids(db_url)["andrewbrown"] == SEED["andrewbrown"]["cognito"]

    result = run_script(env=script_env(db_url, cognito))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"update-cognito-user-ids: linked @andrewbrown to Cognito user {andrew}" in lines
    assert f"update-cognito-user-ids: linked @bayko to Cognito user {bayko}" in lines
    assert "update-cognito-user-ids: skipped @londo: no Cognito user has preferred_username londo" in lines
    assert lines[-1] == "update-cognito-user-ids: 2 linked, 1 skipped"
    ids = cognito_ids(db_url)
    assert (ids["andrewbrown"], ids["bayko"]) == (andrew, bayko)
    assert ids["londo"] == SEED["londo"]["cognito"]
    assert "newbie" not in ids

    r = post(client, cognito.headers("andrew@example.com"))
    assert r.status_code == 201 and r.get_json()["handle"] == "andrewbrown"
    r = post(client, cognito.headers("bayko@example.com"))
    assert r.status_code == 201 and r.get_json()["handle"] == "bayko"

    # Running it again changes nothing and says so.
    result = run_script(env=script_env(db_url, cognito))
    assert result.returncode == 0, result.stderr
    assert f"update-cognito-user-ids: skipped @andrewbrown: already linked to Cognito user {andrew}" in result.stdout
    assert result.stdout.splitlines()[-1] == "update-cognito-user-ids: 0 linked, 3 skipped"
    assert cognito_ids(db_url) == ids


def test_dry_run_changes_nothing(db_url, cognito):
    andrew = cognito.sign_up("andrew@example.com", "andrewbrown")
    result = run_script("--dry-run", env=script_env(db_url, cognito))
    assert result.returncode == 0, result.stderr
    assert f"update-cognito-user-ids: would link @andrewbrown to Cognito user {andrew}" in result.stdout
    assert cognito_ids(db_url)["andrewbrown"] == SEED["andrewbrown"]["cognito"]


def test_ambiguous_unconfirmed_and_taken_accounts_are_skipped(db_url, cognito):
    first = cognito.sign_up("one@example.com", "bayko")
    second = cognito.sign_up("two@example.com", "bayko")
    cognito.sign_up("pending@example.com", "londo", confirm=False)
    result = run_script(env=script_env(db_url, cognito))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "skipped @bayko: 2 Cognito users have preferred_username bayko" in out
    assert first in out and second in out
    assert "skipped @londo: Cognito user" in out and "is UNCONFIRMED" in out
    assert cognito_ids(db_url) == {h: s["cognito"] for h, s in SEED.items()}

    # A user already linked to a live Cognito account is never re-pointed to another one.
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE users SET cognito_user_id = %s WHERE handle = 'andrewbrown'", (first,))
    cognito.sign_up("andrew@example.com", "andrewbrown")
    result = run_script(env=script_env(db_url, cognito))
    assert f"skipped @andrewbrown: already linked to another Cognito user ({first})" in result.stdout
    assert cognito_ids(db_url)["andrewbrown"] == first


def test_settings_and_failures_are_one_clear_line(db_url, cognito):
    env = script_env(db_url, cognito)
    result = run_script(env={**env, "AWS_COGNITO_USER_POOL_ID": ""})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["update-cognito-user-ids: AWS_COGNITO_USER_POOL_ID is not set"]

    result = run_script(env={k: v for k, v in env.items() if k != "CONNECTION_URL"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["update-cognito-user-ids: CONNECTION_URL is not set"]

    result = run_script(env={**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("update-cognito-user-ids: cannot list the users of Cognito user pool")

    secret_url = f"postgresql://postgres:sekrit-pw@127.0.0.1:{free_port()}/cruddur"
    cognito.sign_up("andrew@example.com", "andrewbrown")
    result = run_script(env={**env, "CONNECTION_URL": secret_url})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("update-cognito-user-ids: cannot connect to the database")
    assert "sekrit" not in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["update-cognito-user-ids", "db-setup", "db-reset", "ddb-setup"])
def test_scripts_are_executable(name):
    path = BACKEND_DIR / "bin" / name
    assert os.access(path, os.X_OK), f"bin/{name} is not executable"
    assert path.read_text().startswith("#!/usr/bin/env python3\n")
