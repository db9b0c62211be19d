"""Sign-up to first post (issue 21): a confirmed Cognito user with no Cruddur
row gets one on their first authenticated request, from Cognito's GetUser.

Everything here runs against moto's Cognito: a user pool and app client like
Cruddur's, users signed up the way the front end does, and moto's own access
tokens (kid "dummy", verified against moto's JWKS)."""

import threading

import psycopg
import pytest

from conftest import SEED, CognitoPool, free_port


@pytest.fixture
def pool_app(cognito, make_app, db_url):
    return make_app(**cognito.env())


@pytest.fixture
def pclient(pool_app):
    return pool_app.test_client()


def users_with(db_url, **where):
    (column, value), = where.items()
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            f"SELECT handle, display_name, email, cognito_user_id FROM users WHERE {column} = %s", (value,)
        )
        return cur.fetchall()


def post(client, headers, message="my first crud"):
    return client.post("/api/activities", json={"message": message}, headers=headers)


def cruds_of(client, handle):
    return client.get(f"/api/activities/@{handle}").get_json()["profile"]["cruds_count"]


def test_new_user_posts_a_crud_that_shows_in_the_home_feed(cognito, pclient, db_url):
    sub = cognito.sign_up("newbie@example.com", "NewBie", "New Bie")
    assert users_with(db_url, cognito_user_id=sub) == []

    r = post(pclient, cognito.headers("newbie@example.com"), "Hello Cruddur, I just signed up!")
    assert r.status_code == 201, r.get_json()
    crud = r.get_json()
    assert (crud["handle"], crud["display_name"]) == ("newbie", "New Bie")
    assert users_with(db_url, cognito_user_id=sub) == [("newbie", "New Bie", "newbie@example.com", sub)]

    home = pclient.get("/api/activities/home").get_json()
    assert home[0]["uuid"] == crud["uuid"]
    assert (home[0]["handle"], home[0]["message"]) == ("newbie", "Hello Cruddur, I just signed up!")

    # later requests find the row; no second one appears
    assert post(pclient, cognito.headers("newbie@example.com"), "again").status_code == 201
    assert len(users_with(db_url, handle="newbie")) == 1
    assert pclient.get("/api/users/@newbie/short").get_json()["display_name"] == "New Bie"


def test_second_user_cannot_act_as_the_first(cognito, pclient, db_url, moto):
    first = cognito.sign_up("first@example.com", "first", "First One")
    assert post(pclient, cognito.headers("first@example.com")).status_code == 201

    # Someone else claims the same handle in Cognito: refused, and no link to the first.
    other = cognito.sign_up("other@example.com", "first", "Impostor")
    r = post(pclient, cognito.headers("other@example.com"), "I am first now")
    assert r.status_code == 409
    assert r.get_json() == {"error": "the handle @first is already taken by another Cruddur user"}
    assert users_with(db_url, cognito_user_id=other) == []
    assert users_with(db_url, handle="first") == [("first", "First One", "first@example.com", first)]
    assert cruds_of(pclient, "first") == 1

    # With a handle of their own they are themselves, never the first user.
    cognito.sign_up("second@example.com", "second", "Second Two")
    second = cognito.headers("second@example.com")
    r = post(pclient, second, "hello from second")
    assert r.status_code == 201 and r.get_json()["handle"] == "second"
    assert cruds_of(pclient, "first") == 1


def test_new_user_can_message_a_seed_user(cognito, pclient, ddb):
    cognito.sign_up("newbie@example.com", "newbie", "New Bie")
    r = pclient.post(
        "/api/messages", json={"handle": "bayko", "message": "hi!"}, headers=cognito.headers("newbie@example.com")
    )
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["handle"], r.get_json()["display_name"]) == ("newbie", "New Bie")


def test_seed_handle_claimed_at_sign_up_is_409_not_the_seed_user(cognito, pclient, db_url):
    """Issue 14 through the sign-up path: a new Cognito account whose handle is
    a seed user's gets a clear 409, never the seed user."""
    sub = cognito.sign_up("mallory@example.com", "bayko", "Mallory")
    before = cruds_of(pclient, "bayko")
    for _ in range(2):
        r = post(pclient, cognito.headers("mallory@example.com"))
        assert r.status_code == 409
        assert r.get_json() == {"error": "the handle @bayko is already taken by another Cruddur user"}
    assert cruds_of(pclient, "bayko") == before
    assert users_with(db_url, cognito_user_id=sub) == []
    assert users_with(db_url, handle="bayko")[0][3] == SEED["bayko"]["cognito"]


def test_cognito_username_of_a_seed_user_creates_a_new_user(moto, make_app, db_url):
    """A pool with plain usernames: the token's username is "bayko" (the shape of
    the issue-14 takeover), its sub is not bayko's. The sign-up path creates
    the user the Cognito account describes, never returns bayko."""
    pool = CognitoPool(moto, email_as_username=False)
    sub = pool.sign_up("mallory@example.com", "mallory", "Mallory", username="bayko")
    client = make_app(**pool.env()).test_client()
    before = cruds_of(client, "bayko")
    r = post(client, pool.headers("bayko"))
    assert r.status_code == 201
    assert (r.get_json()["handle"], r.get_json()["display_name"]) == ("mallory", "Mallory")
    assert cruds_of(client, "bayko") == before
    assert users_with(db_url, cognito_user_id=sub)[0][0] == "mallory"


def test_concurrent_first_requests_create_one_user(cognito, pool_app, db_url, live_server_for):
    sub = cognito.sign_up("racer@example.com", "racer", "Race Condition")
    headers = cognito.headers("racer@example.com")
    server = live_server_for(pool_app)
    import json
    import urllib.request

    results = []

    def first_request():
        req = urllib.request.Request(
            f"{server.url}/api/activities",
            data=json.dumps({"message": "at once"}).encode(),
            headers={**headers, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            results.append((resp.status, json.loads(resp.read())["handle"]))

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [(201, "racer")] * 6
    assert len(users_with(db_url, cognito_user_id=sub)) == 1


def test_cognito_unreachable_is_503(cognito, make_app, db_url):
    cognito.sign_up("newbie@example.com", "newbie")
    # Keys still come from moto; GetUser goes nowhere.
    app = make_app(**cognito.env(), AWS_ENDPOINT_URL_COGNITO_IDP=f"http://127.0.0.1:{free_port()}", AWS_COGNITO_TIMEOUT="1")
    client = app.test_client()
    r = post(client, cognito.headers("newbie@example.com"))
    assert r.status_code == 503
    assert r.get_json() == {"error": "cannot reach Cognito to set up your Cruddur user, try again later"}
    assert users_with(db_url, handle="newbie") == []
    # users who have a row are not affected
    assert client.get("/api/activities/home").status_code == 200


def test_disabled_or_signed_out_account_is_401(cognito, pclient, db_url):
    cognito.sign_up("gone@example.com", "gone")
    headers = cognito.headers("gone@example.com")
    cognito.client.admin_disable_user(UserPoolId=cognito.pool_id, Username="gone@example.com")
    r = post(pclient, headers)
    assert r.status_code == 401
    assert r.get_json() == {"error": "Cognito no longer accepts this sign-in (signed out or disabled)"}
    assert users_with(db_url, handle="gone") == []


@pytest.mark.parametrize(
    "handle, message",
    [
        (None, "your account has no handle (preferred_username): cannot create your Cruddur user"),
        ("not a handle!", "your handle 'not a handle!' is not valid (1-64 letters, digits or _)"),
    ],
    ids=["no-handle", "bad-handle"],
)
def test_account_without_a_usable_handle_is_400(cognito, pclient, db_url, handle, message):
    cognito.sign_up("odd@example.com", handle, "Odd One")
    r = post(pclient, cognito.headers("odd@example.com"))
    assert r.status_code == 400
    assert r.get_json() == {"error": message}
    assert users_with(db_url, email="odd@example.com") == []


def test_display_name_defaults_to_the_handle(cognito, pclient):
    cognito.sign_up("quiet@example.com", "quiet", None)
    r = post(pclient, cognito.headers("quiet@example.com"))
    assert r.status_code == 201
    assert r.get_json()["display_name"] == "quiet"


def test_optional_auth_routes_do_not_create_users(cognito, pclient, db_url):
    cognito.sign_up("lurker@example.com", "lurker")
    anonymous = pclient.get("/api/activities/notifications").get_json()
    r = pclient.get("/api/activities/notifications", headers=cognito.headers("lurker@example.com"))
    assert r.status_code == 200 and r.get_json() == anonymous
    assert users_with(db_url, handle="lurker") == []


def test_sign_up_logs_no_token_and_no_email(cognito, pclient, caplog):
    cognito.sign_up("private@example.com", "private_person", "Private Person")
    token = cognito.access_token("private@example.com")
    # The app's own loggers at DEBUG; third parties at INFO, as configure_logging
    # runs them in production (botocore's DEBUG lines carry request bodies).
    with caplog.at_level("INFO"), caplog.at_level("DEBUG", logger="cruddur"):
        r = post(pclient, {"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    assert "created Cruddur user @private_person" in caplog.text
    assert token not in caplog.text and "private@example.com" not in caplog.text
