import time

import pytest

from conftest import SEED_ACTIVITY, free_port

DB_ROUTES = [
    ("get", "/api/activities/home", None),
    ("get", "/api/activities/notifications", None),
    ("get", "/api/activities/@andrewbrown", None),
    ("get", "/api/activities/search?term=seed", None),
    ("get", f"/api/activities/{SEED_ACTIVITY}", None),
    ("get", "/api/users/@bayko/short", None),
    ("post", "/api/activities", {"message": "hello"}),
    ("post", f"/api/activities/{SEED_ACTIVITY}/reply", {"message": "hello"}),
]


@pytest.fixture(scope="module")
def db_down_client(base_env):
    from cruddur import create_app

    env = {
        **base_env,
        "CONNECTION_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/cruddur",
        "DB_POOL_TIMEOUT": "1",
        "DB_CONNECT_TIMEOUT": "1",
    }
    app = create_app(env, json_logs=False)
    yield app.test_client()
    app.extensions["cruddur"].db.close()


@pytest.mark.parametrize("method, url, body", DB_ROUTES, ids=[f"{m} {u}" for m, u, _ in DB_ROUTES])
def test_database_down_is_503(db_down_client, jwks, method, url, body):
    started = time.monotonic()
    r = getattr(db_down_client, method)(url, json=body, headers=jwks.headers())
    assert r.status_code == 503
    assert r.get_json() == {"error": "database unavailable"}
    # a bound on a hang, not a performance assertion
    assert time.monotonic() - started < 15


def test_health_check_answers_while_database_is_down(db_down_client):
    r = db_down_client.get("/api/health-check")
    assert r.status_code == 200
    assert r.get_json() == {"success": True, "ver": 1}


def test_connection_url_unset_is_503(make_app):
    client = make_app(CONNECTION_URL="").test_client()
    r = client.get("/api/activities/home")
    assert r.status_code == 503 and r.get_json() == {"error": "database unavailable"}


def test_unexpected_error_is_json_500(make_app):
    app = make_app()

    @app.get("/api/boom")
    def boom():
        raise RuntimeError("kaboom with a secret")

    r = app.test_client().get("/api/boom")
    assert r.status_code == 500
    assert r.get_json() == {"error": "internal server error"}
