"""The one-off commands in the production image (issue 22): bin/db-setup,
bin/db-reset, bin/ddb-setup and bin/update-cognito-user-ids run as `docker run IMAGE bin/X`
(an ECS one-off task's command), as user cruddur, from /backend-flask with
/opt/venv.

Opt-in (it builds Dockerfile.prod: minutes): CRUDDUR_DOCKER_TESTS=1, a docker
daemon, and a base image (PYTHON_IMAGE, default cruddur-base/python:3.11-bookworm,
made offline by the repo's sandbox). The containers use the host's network to
reach the test PostgreSQL and moto on loopback. Secrets go to the container by
`-e NAME` (the value from this process's environment), never in argv.
"""

import os
import subprocess

import psycopg
import pytest

from conftest import BACKEND_DIR, free_port

pytestmark = pytest.mark.skipif(
    os.environ.get("CRUDDUR_DOCKER_TESTS") != "1",
    reason="builds the prod image: set CRUDDUR_DOCKER_TESTS=1 (needs a docker daemon and PYTHON_IMAGE)",
)

IMAGE = os.environ.get("CRUDDUR_TEST_IMAGE", "cruddur-test/backend-flask-prod:pytest")
BASE = os.environ.get("PYTHON_IMAGE", "cruddur-base/python:3.11-bookworm")
SCRIPTS = ["db-setup", "db-reset", "ddb-setup", "update-cognito-user-ids", "health-check"]


@pytest.fixture(scope="module")
def image():
    build = subprocess.run(
        ["docker", "build", "-q", "-f", "Dockerfile.prod", "--build-arg", f"PYTHON_IMAGE={BASE}",
         "--network", "host", "-t", IMAGE, "."],
        cwd=BACKEND_DIR, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    return IMAGE


def run(image, *command, env=None):
    env = env or {}
    args = ["docker", "run", "--rm", "--network", "host"]
    for name in env:
        args += ["-e", name]
    return subprocess.run(
        [*args, image, *command],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def test_scripts_are_executable_and_importable_as_cruddur(image):
    result = run(
        image,
        "sh",
        "-c",
        "id -un; pwd; command -v python3; for f in bin/*; do test -x \"$f\" || echo \"not executable: $f\"; done; "
        "python3 -c 'import cruddur.dbsetup, cruddur.ddbsetup, cruddur.cognitolink, cruddur.wsgi; print(\"imported\")'",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["cruddur", "/backend-flask", "/opt/venv/bin/python3", "imported"]
    for name in SCRIPTS[:4]:
        result = run(image, f"bin/{name}", "--help")
        assert result.returncode == 0 and result.stdout.startswith(f"usage: {name}"), result.stderr


def test_db_setup_sets_up_a_fresh_database(image, scratch_db):
    # host.docker.internal is not needed: --network host shares the loopback.
    result = run(image, "bin/db-setup", env={"CONNECTION_URL": scratch_db})
    assert result.returncode == 0, result.stderr
    where = scratch_db.split("@", 1)[1]
    assert result.stdout.splitlines() == [
        f"db-setup: {where}: applied 1 migration (0001_users_and_activities); seeded 3 users and 7 activities"
    ]
    with psycopg.connect(scratch_db) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 3
    result = run(image, "bin/db-setup", env={"CONNECTION_URL": scratch_db})
    assert result.stdout.splitlines() == [
        f"db-setup: {where}: applied 0 migrations (1 already applied); seed skipped: 3 users already there"
    ]
    result = run(image, "bin/db-reset", env={"CONNECTION_URL": scratch_db})
    assert result.returncode == 2 and "--yes-delete-all-data" in result.stderr


def test_db_setup_failure_is_one_line_and_non_zero(image):
    port = free_port()
    result = run(image, "bin/db-setup", env={"CONNECTION_URL": f"postgresql://postgres:sekrit-pw@127.0.0.1:{port}/x"})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"db-setup: cannot connect to the database 127.0.0.1:{port}/x")
    assert "sekrit" not in result.stdout + result.stderr
    result = run(image, "bin/db-setup")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "db-setup: CONNECTION_URL is not set (or pass --url postgresql://user:pass@host:5432/db)"
    ]


def aws_env(moto_url):
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def test_ddb_setup_creates_and_seeds_the_table(image, moto):
    env = {**aws_env(moto), "DDB_MESSAGE_TABLE": "image-test-messages"}
    result = run(image, "bin/ddb-setup", "--seed", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ddb-setup: table image-test-messages created at {moto}")
    assert lines[1].startswith("ddb-setup: seeded message group ")
    result = run(image, "bin/ddb-setup", env={**aws_env(f"http://127.0.0.1:{free_port()}"), "DDB_TIMEOUT": "1"})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_update_cognito_user_ids_links_users(image, db_url, cognito):
    sub = cognito.sign_up("andrew@example.com", "andrewbrown", "Andrew Brown")
    env = {**aws_env(cognito.moto_url), "CONNECTION_URL": db_url, "AWS_COGNITO_USER_POOL_ID": cognito.pool_id}
    result = run(image, "bin/update-cognito-user-ids", env=env)
    assert result.returncode == 0, result.stderr
    assert f"update-cognito-user-ids: linked @andrewbrown to Cognito user {sub}" in result.stdout.splitlines()
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT cognito_user_id FROM users WHERE handle = 'andrewbrown'").fetchone()[0] == sub
