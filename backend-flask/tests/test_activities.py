from conftest import EXPIRED_ACTIVITY, SEED, SEED_ACTIVITY, SEED_ACTIVITY_2, SEED_REPLY

ACTIVITY_KEYS = {
    "uuid",
    "handle",
    "display_name",
    "message",
    "created_at",
    "expires_at",
    "likes_count",
    "replies_count",
    "reposts_count",
    "reply_to_activity_uuid",
}


def assert_activity(item):
    assert set(item) == ACTIVITY_KEYS
    assert item["created_at"].endswith("+00:00")


# ---------------------------------------------------------------- home
def test_home_lists_activities_newest_first_without_replies_or_expired(client):
    r = client.get("/api/activities/home")
    assert r.status_code == 200
    items = r.get_json()
    assert len(items) == 4
    for item in items:
        assert_activity(item)
        assert item["reply_to_activity_uuid"] is None
    stamps = [i["created_at"] for i in items]
    assert stamps == sorted(stamps, reverse=True)
    uuids = {i["uuid"] for i in items}
    assert SEED_REPLY not in uuids and EXPIRED_ACTIVITY not in uuids
    seed = next(i for i in items if i["uuid"] == SEED_ACTIVITY)
    assert seed["message"] == "This was imported as seed data!"
    assert seed["handle"] == "andrewbrown" and seed["display_name"] == "Andrew Brown"
    assert seed["replies_count"] == 1 and seed["likes_count"] == 0 and seed["reposts_count"] == 0
    assert seed["expires_at"] is not None


# ---------------------------------------------------------------- notifications
def test_notifications_anonymous_are_recent_activities(client):
    r = client.get("/api/activities/notifications")
    assert r.status_code == 200
    assert [i["uuid"] for i in r.get_json()] == [i["uuid"] for i in client.get("/api/activities/home").get_json()]


def test_notifications_signed_in_are_replies_and_mentions_by_others(client, jwks):
    r = client.get("/api/activities/notifications", headers=jwks.headers("andrewbrown"))
    assert r.status_code == 200
    items = r.get_json()
    assert {i["handle"] for i in items} == {"bayko", "londo"}
    assert {i["reply_to_activity_uuid"] for i in items} == {SEED_ACTIVITY, SEED_ACTIVITY_2}
    # a mention that is not a reply counts too; one's own activities never do
    client.post("/api/activities", json={"message": "Ping @andrewbrown, lunch?"}, headers=jwks.headers("londo"))
    client.post("/api/activities", json={"message": "Note to self @andrewbrown"}, headers=jwks.headers("andrewbrown"))
    client.post("/api/activities", json={"message": "Hi @andrewbrownie"}, headers=jwks.headers("bayko"))
    items = client.get("/api/activities/notifications", headers=jwks.headers("andrewbrown")).get_json()
    assert items[0]["message"] == "Ping @andrewbrown, lunch?"
    assert len(items) == 3


def test_notifications_with_an_invalid_token_falls_back_to_anonymous(client, jwks):
    r = client.get("/api/activities/notifications", headers=jwks.headers("andrewbrown", expires_in=-3600))
    assert r.status_code == 200
    assert len(r.get_json()) == 4


# ---------------------------------------------------------------- profile
def test_user_activities_profile(client):
    r = client.get("/api/activities/@andrewbrown")
    assert r.status_code == 200
    body = r.get_json()
    assert body["profile"] == {
        "uuid": SEED["andrewbrown"]["uuid"],
        "handle": "andrewbrown",
        "display_name": "Andrew Brown",
        "bio": "Cloud engineer, teacher of the bootcamp.",
        "cruds_count": 2,
    }
    assert [a["uuid"] for a in body["activities"]] == [SEED_ACTIVITY_2, SEED_ACTIVITY]
    for a in body["activities"]:
        assert_activity(a)


def test_user_activities_handle_is_case_insensitive(client):
    assert client.get("/api/activities/@Bayko").get_json()["profile"]["handle"] == "bayko"


def test_user_activities_unknown_handle_is_404(client):
    r = client.get("/api/activities/@nobody")
    assert r.status_code == 404
    assert r.get_json() == {"error": "no user with handle @nobody"}


# ---------------------------------------------------------------- search
def test_search_is_case_insensitive_and_includes_replies(client):
    r = client.get("/api/activities/search", query_string={"term": "SEED DATA"})
    assert r.status_code == 200
    uuids = [i["uuid"] for i in r.get_json()]
    assert uuids == [SEED_REPLY, SEED_ACTIVITY]


def test_search_treats_wildcards_literally(client):
    assert client.get("/api/activities/search?term=%25").get_json() == []
    assert client.get("/api/activities/search?term=_").get_json() == []
    assert client.get("/api/activities/search?term=nothing-like-this").get_json() == []


def test_search_does_not_find_expired(client):
    assert client.get("/api/activities/search?term=expired").get_json() == []


def test_search_without_term_is_400(client):
    for url in ("/api/activities/search", "/api/activities/search?term=", "/api/activities/search?term=%20%20"):
        r = client.get(url)
        assert r.status_code == 400
        assert r.get_json() == {"error": "query parameter 'term' is required"}


def test_search_term_too_long_is_400(client):
    r = client.get("/api/activities/search", query_string={"term": "x" * 101})
    assert r.status_code == 400
    assert "too long" in r.get_json()["error"]


# ---------------------------------------------------------------- show
def test_show_activity_with_replies(client):
    r = client.get(f"/api/activities/{SEED_ACTIVITY}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["activity"]["uuid"] == SEED_ACTIVITY
    assert [x["uuid"] for x in body["replies"]] == [SEED_REPLY]
    assert body["replies"][0]["reply_to_activity_uuid"] == SEED_ACTIVITY
    assert_activity(body["activity"])


def test_show_bad_uuid_is_400(client):
    r = client.get("/api/activities/not-a-uuid")
    assert r.status_code == 400
    assert r.get_json() == {"error": "activity id must be a UUID"}


def test_show_unknown_or_expired_is_404(client):
    for uuid in ("00000000-0000-4000-8000-000000000000", EXPIRED_ACTIVITY):
        r = client.get(f"/api/activities/{uuid}")
        assert r.status_code == 404
        assert r.get_json() == {"error": "activity not found"}


# ---------------------------------------------------------------- create
def test_create_activity(client, jwks):
    r = client.post("/api/activities", json={"message": "  Hello Cruddur!  "}, headers=jwks.headers("bayko"))
    assert r.status_code == 201
    item = r.get_json()
    assert_activity(item)
    assert item["handle"] == "bayko" and item["display_name"] == "Andrew Bayko"
    assert item["message"] == "Hello Cruddur!"
    assert item["expires_at"] is None and item["reply_to_activity_uuid"] is None
    home = client.get("/api/activities/home").get_json()
    assert home[0]["uuid"] == item["uuid"]


def test_create_activity_with_ttl(client, jwks):
    from datetime import datetime, timedelta

    r = client.post("/api/activities", json={"message": "brief", "ttl": "3-hours"}, headers=jwks.headers())
    assert r.status_code == 201
    item = r.get_json()
    lifetime = datetime.fromisoformat(item["expires_at"]) - datetime.fromisoformat(item["created_at"])
    assert timedelta(hours=3) - timedelta(seconds=5) < lifetime <= timedelta(hours=3)


def test_create_activity_at_the_length_limit(client, jwks):
    r = client.post("/api/activities", json={"message": "é" * 280}, headers=jwks.headers())
    assert r.status_code == 201


def test_create_activity_bad_input(client, jwks):
    h = jwks.headers()
    cases = [
        ({"data": "{not json", "content_type": "application/json"}, "request body is not valid JSON"),
        ({"data": "", "content_type": "application/json"}, "request body must be a JSON object"),
        ({"json": ["message"]}, "request body must be a JSON object"),
        ({"json": {}}, "'message' is required"),
        ({"json": {"message": None}}, "'message' is required"),
        ({"json": {"message": 42}}, "'message' must be a string"),
        ({"json": {"message": "   "}}, "'message' must not be empty"),
        ({"json": {"message": "x" * 281}}, "'message' is too long (281 characters, at most 280)"),
        ({"json": {"message": "hi", "ttl": "forever"}}, None),
        ({"json": {"message": "hi", "ttl": 3}}, "'ttl' must be a string"),
    ]
    for kwargs, message in cases:
        r = client.post("/api/activities", headers=h, **kwargs)
        assert r.status_code == 400, kwargs
        error = r.get_json()["error"]
        if message:
            assert error == message
        else:
            assert error.startswith("'ttl' must be one of 30-days, 7-days")
    assert len(client.get("/api/activities/home").get_json()) == 4


def test_create_activity_requires_sign_in(client):
    r = client.post("/api/activities", json={"message": "anonymous"})
    assert r.status_code == 401
    assert r.get_json() == {"error": "missing bearer token"}
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- reply
def test_reply(client, jwks):
    r = client.post(f"/api/activities/{SEED_ACTIVITY_2}/reply", json={"message": "Me!"}, headers=jwks.headers("bayko"))
    assert r.status_code == 201
    reply = r.get_json()
    assert_activity(reply)
    assert reply["reply_to_activity_uuid"] == SEED_ACTIVITY_2 and reply["handle"] == "bayko"
    shown = client.get(f"/api/activities/{SEED_ACTIVITY_2}").get_json()
    assert shown["activity"]["replies_count"] == 2
    assert shown["replies"][-1]["uuid"] == reply["uuid"]
    # replies stay out of the home feed
    assert reply["uuid"] not in {i["uuid"] for i in client.get("/api/activities/home").get_json()}


def test_reply_bad_input(client, jwks):
    h = jwks.headers("bayko")
    r = client.post("/api/activities/nope/reply", json={"message": "x"}, headers=h)
    assert r.status_code == 400 and r.get_json() == {"error": "activity id must be a UUID"}
    r = client.post("/api/activities/00000000-0000-4000-8000-000000000000/reply", json={"message": "x"}, headers=h)
    assert r.status_code == 404 and r.get_json() == {"error": "activity not found"}
    r = client.post(f"/api/activities/{EXPIRED_ACTIVITY}/reply", json={"message": "x"}, headers=h)
    assert r.status_code == 404
    r = client.post(f"/api/activities/{SEED_ACTIVITY}/reply", json={"message": "x" * 281}, headers=h)
    assert r.status_code == 400 and "too long" in r.get_json()["error"]
    r = client.post(f"/api/activities/{SEED_ACTIVITY}/reply", json={"msg": "x"}, headers=h)
    assert r.status_code == 400 and r.get_json() == {"error": "'message' is required"}
    r = client.post(f"/api/activities/{SEED_ACTIVITY}/reply", data="[", headers=h)
    assert r.status_code == 400
    assert client.get(f"/api/activities/{SEED_ACTIVITY}").get_json()["activity"]["replies_count"] == 1


def test_reply_requires_sign_in(client):
    r = client.post(f"/api/activities/{SEED_ACTIVITY}/reply", json={"message": "x"})
    assert r.status_code == 401
