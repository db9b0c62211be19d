import pytest

from conftest import SEED, free_port

from cruddur.ddb import group_uuid_for
from cruddur.ddbsetup import SEED_ANDREW, SEED_BAYKO, seed_conversation

MESSAGE_KEYS = {"uuid", "handle", "display_name", "message", "created_at", "message_group_uuid"}
GROUP_KEYS = {"uuid", "handle", "display_name", "message", "created_at"}


@pytest.fixture
def mclient(client, ddb):
    return client


def test_no_message_groups_yet(mclient, jwks):
    r = mclient.get("/api/message_groups", headers=jwks.headers("andrewbrown"))
    assert r.status_code == 200
    assert r.get_json() == []


def test_conversation_round_trip(mclient, jwks):
    andrew, bayko, londo = jwks.headers("andrewbrown"), jwks.headers("bayko"), jwks.headers("londo")

    r = mclient.post("/api/messages", json={"handle": "@Bayko", "message": "Hi Bayko"}, headers=andrew)
    assert r.status_code == 201
    first = r.get_json()
    assert set(first) == MESSAGE_KEYS
    assert first["handle"] == "andrewbrown" and first["display_name"] == "Andrew Brown"
    group = first["message_group_uuid"]
    assert group == group_uuid_for(SEED["andrewbrown"]["uuid"], SEED["bayko"]["uuid"])

    r = mclient.post("/api/messages", json={"message_group_uuid": group, "message": "Hi Andrew"}, headers=bayko)
    assert r.status_code == 201
    # starting "again" by handle lands in the same group
    r = mclient.post("/api/messages", json={"handle": "andrewbrown", "message": "Third"}, headers=bayko)
    assert r.status_code == 201 and r.get_json()["message_group_uuid"] == group

    r = mclient.get(f"/api/messages/{group}", headers=andrew)
    assert r.status_code == 200
    messages = r.get_json()
    assert [m["message"] for m in messages] == ["Hi Bayko", "Hi Andrew", "Third"]
    assert [m["handle"] for m in messages] == ["andrewbrown", "bayko", "bayko"]
    assert all(set(m) == MESSAGE_KEYS for m in messages)

    groups = mclient.get("/api/message_groups", headers=andrew).get_json()
    assert groups == [
        {
            "uuid": group,
            "handle": "bayko",
            "display_name": "Andrew Bayko",
            "message": "Third",
            "created_at": messages[-1]["created_at"],
        }
    ]
    groups = mclient.get("/api/message_groups", headers=bayko).get_json()
    assert [(g["handle"], g["message"]) for g in groups] == [("andrewbrown", "Third")]

    # not a member: the group is not found for them
    assert mclient.get(f"/api/messages/{group}", headers=londo).status_code == 404
    r = mclient.post("/api/messages", json={"message_group_uuid": group, "message": "intruder"}, headers=londo)
    assert r.status_code == 404 and r.get_json() == {"error": "message group not found"}
    assert mclient.get("/api/message_groups", headers=londo).get_json() == []


def test_message_groups_newest_first(mclient, jwks):
    andrew = jwks.headers("andrewbrown")
    mclient.post("/api/messages", json={"handle": "bayko", "message": "to bayko"}, headers=andrew)
    mclient.post("/api/messages", json={"handle": "londo", "message": "to londo"}, headers=andrew)
    groups = mclient.get("/api/message_groups", headers=andrew).get_json()
    assert [g["handle"] for g in groups] == ["londo", "bayko"]
    assert all(set(g) == GROUP_KEYS for g in groups)
    mclient.post("/api/messages", json={"handle": "bayko", "message": "again"}, headers=andrew)
    groups = mclient.get("/api/message_groups", headers=andrew).get_json()
    assert [(g["handle"], g["message"]) for g in groups] == [("bayko", "again"), ("londo", "to londo")]


def test_seeded_conversation(mclient, jwks, ddb):
    group = seed_conversation(ddb)
    assert seed_conversation(ddb) == group  # idempotent
    messages = mclient.get(f"/api/messages/{group}", headers=jwks.headers("bayko")).get_json()
    assert len(messages) == 3
    assert messages[0]["message"] == "Have you deployed the backend to Fargate yet?"
    groups = mclient.get("/api/message_groups", headers=jwks.headers("andrewbrown")).get_json()
    assert groups[0]["handle"] == "bayko"


def test_seed_users_agree_with_seed_sql(client):
    for seed in (SEED_ANDREW, SEED_BAYKO):
        assert client.get(f"/api/users/@{seed['handle']}/short").get_json() == seed


def test_create_message_bad_input(mclient, jwks):
    h = jwks.headers("andrewbrown")
    cases = [
        ({"message": "hi"}, 400, "either 'message_group_uuid' or 'handle' is required"),
        ({"handle": "bayko"}, 400, "'message' is required"),
        ({"handle": "bayko", "message": ""}, 400, "'message' must not be empty"),
        ({"handle": "bayko", "message": "x" * 1025}, 400, "'message' is too long (1025 characters, at most 1024)"),
        ({"handle": "ghost", "message": "boo"}, 404, "no user with handle @ghost"),
        ({"handle": "andrewbrown", "message": "me"}, 400, "you cannot send a message to yourself"),
        ({"message_group_uuid": "nope", "message": "x"}, 400, "message group id must be a UUID"),
        (
            {"message_group_uuid": "00000000-0000-4000-8000-000000000000", "message": "x"},
            404,
            "message group not found",
        ),
        ({"handle": 7, "message": "x"}, 400, "'handle' must be a string"),
    ]
    for body, status, message in cases:
        r = mclient.post("/api/messages", json=body, headers=h)
        assert (r.status_code, r.get_json()) == (status, {"error": message}), body
    r = mclient.post("/api/messages", data="{", content_type="application/json", headers=h)
    assert r.status_code == 400
    assert mclient.post("/api/messages", json={"handle": "bayko", "message": "x" * 1024}, headers=h).status_code == 201


def test_messages_bad_group_ids(mclient, jwks):
    h = jwks.headers("andrewbrown")
    r = mclient.get("/api/messages/not-a-uuid", headers=h)
    assert r.status_code == 400 and r.get_json() == {"error": "message group id must be a UUID"}
    r = mclient.get("/api/messages/00000000-0000-4000-8000-000000000000", headers=h)
    assert r.status_code == 404


def test_message_routes_require_sign_in(mclient):
    assert mclient.get("/api/message_groups").status_code == 401
    assert mclient.get("/api/messages/00000000-0000-4000-8000-000000000000").status_code == 401
    assert mclient.post("/api/messages", json={"handle": "bayko", "message": "x"}).status_code == 401


def test_dynamodb_down_is_503(make_app, db_url, jwks):
    app = make_app(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", DDB_TIMEOUT="1")
    client = app.test_client()
    h = jwks.headers("andrewbrown")
    for r in (
        client.get("/api/message_groups", headers=h),
        client.get("/api/messages/00000000-0000-4000-8000-000000000000", headers=h),
        client.post("/api/messages", json={"handle": "bayko", "message": "x"}, headers=h),
    ):
        assert r.status_code == 503
        assert r.get_json() == {"error": "message store unavailable"}
    assert client.get("/api/health-check").status_code == 200


def test_missing_table_is_503(make_app, db_url, moto_url, jwks):
    app = make_app(DDB_MESSAGE_TABLE="no-such-table")
    r = app.test_client().get("/api/message_groups", headers=jwks.headers())
    assert r.status_code == 503
    assert r.get_json() == {"error": "message store unavailable"}


def test_starting_a_conversation_that_appeared_meanwhile_posts_into_it(mclient, jwks, app, monkeypatch):
    """Two first messages at once: the second finds the group created by the
    first (its create transaction is cancelled) and posts into it."""
    store = app.extensions["cruddur"].messages
    real_group_of = store.group_of
    calls = []

    def group_of_missing_once(user_uuid, group):
        calls.append(group)
        return None if len(calls) == 1 else real_group_of(user_uuid, group)

    andrew = jwks.headers("andrewbrown")
    assert mclient.post("/api/messages", json={"handle": "bayko", "message": "first"}, headers=andrew).status_code == 201
    monkeypatch.setattr(store, "group_of", group_of_missing_once)
    r = mclient.post("/api/messages", json={"handle": "bayko", "message": "second"}, headers=andrew)
    assert r.status_code == 201
    group = r.get_json()["message_group_uuid"]
    assert len(calls) == 2  # the create transaction was cancelled, then the group found
    monkeypatch.undo()
    messages = mclient.get(f"/api/messages/{group}", headers=andrew).get_json()
    assert [m["message"] for m in messages] == ["first", "second"]
    assert len(mclient.get("/api/message_groups", headers=jwks.headers("bayko")).get_json()) == 1
