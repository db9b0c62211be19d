"""Create the DynamoDB messages table and optionally seed a conversation.

Used by ``bin/ddb-setup`` and by the tests.  Reads the same settings as the app
(``AWS_ENDPOINT_URL`` for DynamoDB local / moto, ``DDB_MESSAGE_TABLE``, ...).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone

from .config import Settings
from .ddb import MessageStore, group_uuid_for, make_client, table_definition
from .errors import MessagesUnavailable

# The seed users of db/02-seed.sql (the tests check that they agree).
SEED_ANDREW = {
    "uuid": "9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e01",
    "handle": "andrewbrown",
    "display_name": "Andrew Brown",
}
SEED_BAYKO = {
    "uuid": "9f0e6f43-7a4e-4c2b-9b0a-5d1b2c3d4e02",
    "handle": "bayko",
    "display_name": "Andrew Bayko",
}
SEED_CONVERSATION = [
    (SEED_ANDREW, "Have you deployed the backend to Fargate yet?"),
    (SEED_BAYKO, "Yes! The health check went green on the first try."),
    (SEED_ANDREW, "Great, next we put the frontend behind the load balancer."),
]


def create_table(client, table: str, recreate: bool = False) -> str:
    """Create the table (waiting until it is active); returns what happened."""
    existing = client.list_tables().get("TableNames", [])
    outcome = "exists"
    if table in existing and recreate:
        client.delete_table(TableName=table)
        client.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        existing = []
        outcome = "recreated"
    if table not in existing:
        client.create_table(**table_definition(table))
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        if outcome != "recreated":
            outcome = "created"
    return outcome


def seed_conversation(settings: Settings) -> str:
    """Put the andrewbrown <-> bayko conversation (idempotent: same group, the
    messages are added again only if the group is new)."""
    store = MessageStore(settings)
    group = group_uuid_for(SEED_ANDREW["uuid"], SEED_BAYKO["uuid"])
    if store.group_of(SEED_ANDREW["uuid"], group) is not None:
        return group
    client = store.client
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    last = None
    for i, (sender, text) in enumerate(SEED_CONVERSATION):
        created_at = (start + timedelta(minutes=5 * i)).isoformat()
        client.put_item(TableName=store.table, Item=store._message_item(group, sender, text, created_at))
        last = (text, created_at)
    for owner, other in ((SEED_ANDREW, SEED_BAYKO), (SEED_BAYKO, SEED_ANDREW)):
        client.put_item(TableName=store.table, Item=store._group_item(group, owner["uuid"], other, *last))
    return group


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ddb-setup",
        description="Create the DynamoDB messages table (DDB_MESSAGE_TABLE, default cruddur-messages).",
    )
    parser.add_argument("--seed", action="store_true", help="also add a conversation between andrewbrown and bayko")
    parser.add_argument("--recreate", action="store_true", help="delete the table first if it exists")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    from botocore.exceptions import BotoCoreError, ClientError

    where = settings.aws_endpoint_url or f"DynamoDB in {settings.aws_region}"
    try:
        client = make_client(settings)
        started = time.monotonic()
        outcome = create_table(client, settings.ddb_message_table, recreate=args.recreate)
        print(f"ddb-setup: table {settings.ddb_message_table} {outcome} at {where} ({time.monotonic() - started:.1f}s)")
        if args.seed:
            group = seed_conversation(settings)
            print(f"ddb-setup: seeded message group {group} (andrewbrown <-> bayko)")
    except (BotoCoreError, ClientError, MessagesUnavailable) as exc:
        print(f"ddb-setup: {where}: {exc}", file=sys.stderr)
        print(
            "ddb-setup: check AWS_ENDPOINT_URL (DynamoDB local), AWS_DEFAULT_REGION and the AWS credentials",
            file=sys.stderr,
        )
        return 1
    return 0
