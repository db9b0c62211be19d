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
    group, added = seed_conversation(ddb)
    assert added and seed_conversation(ddb) == (group, False)  # idempotent
    assert len(items_of(ddb, f"MSG#{group}")) == 3
    assert all(set(plain(i)) == MESSAGE_ITEM_KEYS for i in items_of(ddb, f"MSG#{group}"))
    for seed in (SEED_ANDREW, SEED_BAYKO):
        (item,) = [plain(i) for i in items_of(ddb, f"GRP#{seed['uuid']}")]
        assert set(item) == GROUP_ITEM_KEYS
        assert item["message"] == "Great, next we put the frontend behind the load balancer."
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


# --------------------------------------------------------------------------- the original's table
def raw(ddb):
    from cruddur.ddb import make_client

    return make_client(ddb), ddb.ddb_message_table


def items_of(ddb, pk):
    client, table = raw(ddb)
    return client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]


def index_items(ddb, group):
    client, table = raw(ddb)
    return client.query(
        TableName=table,
        IndexName="message-group-sk-index",
        KeyConditionExpression="message_group_uuid = :g",
        ExpressionAttributeValues={":g": {"S": group}},
    )["Items"]


def plain(item):
    return {k: v["S"] for k, v in item.items()}


GROUP_ITEM_KEYS = {"pk", "sk", "message_group_uuid", "message", "user_uuid", "user_display_name", "user_handle"}
MESSAGE_ITEM_KEYS = {"pk", "sk", "message_uuid", "message", "user_uuid", "user_display_name", "user_handle"}


def test_table_has_the_originals_schema(ddb):
    client, table = raw(ddb)
    t = client.describe_table(TableName=table)["Table"]
    assert t["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert sorted((a["AttributeName"], a["AttributeType"]) for a in t["AttributeDefinitions"]) == [
        ("message_group_uuid", "S"),
        ("pk", "S"),
        ("sk", "S"),
    ]
    assert (t["ProvisionedThroughput"]["ReadCapacityUnits"], t["ProvisionedThroughput"]["WriteCapacityUnits"]) == (5, 5)
    assert t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") == "PROVISIONED"
    (index,) = t["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "message-group-sk-index"
    assert index["KeySchema"] == [
        {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert (index["ProvisionedThroughput"]["ReadCapacityUnits"], index["ProvisionedThroughput"]["WriteCapacityUnits"]) == (5, 5)


def test_items_have_the_originals_shape_and_group_items_move(mclient, jwks, ddb):
    andrew, bayko = jwks.headers("andrewbrown"), jwks.headers("bayko")
    first = mclient.post("/api/messages", json={"handle": "bayko", "message": "one"}, headers=andrew).get_json()
    group = first["message_group_uuid"]
    second = mclient.post(
        "/api/messages", json={"message_group_uuid": group, "message": "two"}, headers=bayko
    ).get_json()
    assert second["created_at"] > first["created_at"]

    messages = [plain(i) for i in items_of(ddb, f"MSG#{group}")]
    assert all(set(m) == MESSAGE_ITEM_KEYS for m in messages)
    assert [(m["sk"], m["message"], m["user_handle"], m["user_uuid"]) for m in messages] == [
        (first["created_at"], "one", "andrewbrown", SEED["andrewbrown"]["uuid"]),
        (second["created_at"], "two", "bayko", SEED["bayko"]["uuid"]),
    ]
    assert [m["message_uuid"] for m in messages] == [first["uuid"], second["uuid"]]

    # One group item per member, moved to the last message's time, naming the OTHER member.
    for me, other in (("andrewbrown", "bayko"), ("bayko", "andrewbrown")):
        (item,) = [plain(i) for i in items_of(ddb, f"GRP#{SEED[me]['uuid']}")]
        assert set(item) == GROUP_ITEM_KEYS
        assert (item["sk"], item["message"], item["message_group_uuid"]) == (second["created_at"], "two", group)
        assert (item["user_uuid"], item["user_handle"]) == (SEED[other]["uuid"], other)
    assert sorted(plain(i)["pk"] for i in index_items(ddb, group)) == sorted(
        f"GRP#{SEED[h]['uuid']}" for h in ("andrewbrown", "bayko")
    )


ORIGINAL_GROUP = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"  # the original seed's fixed group uuid


def put_original_seed(ddb):
    """What the original's bin/ddb/seed wrote: group items with sk = now,
    messages a minute apart, local-time ISO strings, no created_at attribute."""
    import uuid as uuidlib
    from datetime import datetime, timedelta, timezone

    client, table = raw(ddb)
    now = datetime.now(timezone.utc).astimezone() - timedelta(hours=1)
    andrew = (SEED["andrewbrown"]["uuid"], "Andrew Brown", "andrewbrown")
    bayko = (SEED["bayko"]["uuid"], "Andrew Bayko", "bayko")
    for (me, _, _), (other_uuid, other_name, other_handle) in ((andrew, bayko), (bayko, andrew)):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"GRP#{me}"},
                "sk": {"S": now.isoformat()},
                "message_group_uuid": {"S": ORIGINAL_GROUP},
                "message": {"S": "this is a filler message"},
                "user_uuid": {"S": other_uuid},
                "user_display_name": {"S": other_name},
                "user_handle": {"S": other_handle},
            },
        )
    conversation = [(andrew, "Have you ever watched Babylon 5?"), (bayko, "Yes, I have! Why?")]
    for i, ((user_uuid, name, handle), text) in enumerate(conversation):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"MSG#{ORIGINAL_GROUP}"},
                "sk": {"S": (now + timedelta(minutes=i)).isoformat()},
                "message_uuid": {"S": str(uuidlib.uuid4())},
                "message": {"S": text},
                "user_uuid": {"S": user_uuid},
                "user_display_name": {"S": name},
                "user_handle": {"S": handle},
            },
        )
    return now


def test_reads_and_continues_a_conversation_in_the_originals_shape(mclient, jwks, ddb):
    now = put_original_seed(ddb)
    andrew, bayko, londo = jwks.headers("andrewbrown"), jwks.headers("bayko"), jwks.headers("londo")

    assert mclient.get("/api/message_groups", headers=andrew).get_json() == [
        {
            "uuid": ORIGINAL_GROUP,
            "handle": "bayko",
            "display_name": "Andrew Bayko",
            "message": "this is a filler message",
            "created_at": now.isoformat(),
        }
    ]
    messages = mclient.get(f"/api/messages/{ORIGINAL_GROUP}", headers=bayko).get_json()
    assert [(m["handle"], m["display_name"], m["message"]) for m in messages] == [
        ("andrewbrown", "Andrew Brown", "Have you ever watched Babylon 5?"),
        ("bayko", "Andrew Bayko", "Yes, I have! Why?"),
    ]
    assert messages[0]["created_at"] == now.isoformat()
    assert mclient.get(f"/api/messages/{ORIGINAL_GROUP}", headers=londo).status_code == 404

    # Writing to bayko by handle continues that conversation (not a new uuid5 group).
    r = mclient.post("/api/messages", json={"handle": "bayko", "message": "Because of Londo."}, headers=andrew)
    assert r.status_code == 201 and r.get_json()["message_group_uuid"] == ORIGINAL_GROUP
    r = mclient.post(
        "/api/messages", json={"message_group_uuid": ORIGINAL_GROUP, "message": "Ha!"}, headers=bayko
    )
    assert r.status_code == 201
    last = r.get_json()
    for handle in ("andrewbrown", "bayko"):
        (item,) = [plain(i) for i in items_of(ddb, f"GRP#{SEED[handle]['uuid']}")]
        assert (item["sk"], item["message"]) == (last["created_at"], "Ha!")
    groups = mclient.get("/api/message_groups", headers=bayko).get_json()
    assert [(g["uuid"], g["handle"], g["message"]) for g in groups] == [(ORIGINAL_GROUP, "andrewbrown", "Ha!")]
    assert len(mclient.get(f"/api/messages/{ORIGINAL_GROUP}", headers=andrew).get_json()) == 4


def test_conversation_started_twice_at_once_is_listed_once_and_folded(mclient, jwks, app, ddb, monkeypatch):
    """Two first messages at once (both find no conversation) write two group
    items per member: the list shows the group once, the next message folds
    them into one."""
    store = app.extensions["cruddur"].messages
    andrew, bayko = jwks.headers("andrewbrown"), jwks.headers("bayko")
    assert mclient.post("/api/messages", json={"handle": "bayko", "message": "first"}, headers=andrew).status_code == 201
    monkeypatch.setattr(store, "_group_with", lambda *args: None)  # the race: neither saw the other's group
    r = mclient.post("/api/messages", json={"handle": "andrewbrown", "message": "second"}, headers=bayko)
    assert r.status_code == 201
    monkeypatch.undo()
    group = r.get_json()["message_group_uuid"]
    assert len(items_of(ddb, f"GRP#{SEED['andrewbrown']['uuid']}")) == 2

    for h in (andrew, bayko):
        assert [g["message"] for g in mclient.get("/api/message_groups", headers=h).get_json()] == ["second"]
    r = mclient.post("/api/messages", json={"message_group_uuid": group, "message": "third"}, headers=andrew)
    assert r.status_code == 201
    for handle in ("andrewbrown", "bayko"):
        assert [plain(i)["message"] for i in items_of(ddb, f"GRP#{SEED[handle]['uuid']}")] == ["third"]
    messages = mclient.get(f"/api/messages/{group}", headers=bayko).get_json()
    assert [m["message"] for m in messages] == ["first", "second", "third"]


def test_a_group_opens_while_the_index_lags(mclient, jwks, app, ddb, monkeypatch):
    """The index is eventually consistent: a group created a moment ago may not
    be in it yet. Opening and answering it must still work (read the table)."""
    store = app.extensions["cruddur"].messages
    andrew, bayko = jwks.headers("andrewbrown"), jwks.headers("bayko")
    group = mclient.post("/api/messages", json={"handle": "bayko", "message": "hi"}, headers=andrew).get_json()[
        "message_group_uuid"
    ]
    monkeypatch.setattr(store, "_group_items_from_index", lambda group: [])
    assert [m["message"] for m in mclient.get(f"/api/messages/{group}", headers=bayko).get_json()] == ["hi"]
    r = mclient.post("/api/messages", json={"message_group_uuid": group, "message": "hello"}, headers=bayko)
    assert r.status_code == 201
    monkeypatch.undo()
    for handle in ("andrewbrown", "bayko"):
        assert [plain(i)["message"] for i in items_of(ddb, f"GRP#{SEED[handle]['uuid']}")] == ["hello"]


def test_a_stale_index_read_is_retried_from_the_table(mclient, jwks, app, ddb, monkeypatch):
    """The index still shows a group item another message already moved: the
    transaction is cancelled (the item is gone) and retried from the table."""
    store = app.extensions["cruddur"].messages
    andrew, bayko = jwks.headers("andrewbrown"), jwks.headers("bayko")
    group = mclient.post("/api/messages", json={"handle": "bayko", "message": "one"}, headers=andrew).get_json()[
        "message_group_uuid"
    ]
    stale = store._group_items_from_index(group)
    assert mclient.post(
        "/api/messages", json={"message_group_uuid": group, "message": "two"}, headers=bayko
    ).status_code == 201
    monkeypatch.setattr(store, "_group_items_from_index", lambda group: stale)
    r = mclient.post("/api/messages", json={"message_group_uuid": group, "message": "three"}, headers=andrew)
    assert r.status_code == 201
    monkeypatch.undo()
    for handle in ("andrewbrown", "bayko"):
        assert [plain(i)["message"] for i in items_of(ddb, f"GRP#{SEED[handle]['uuid']}")] == ["three"]
    assert [m["message"] for m in mclient.get(f"/api/messages/{group}", headers=andrew).get_json()] == [
        "one",
        "two",
        "three",
    ]
