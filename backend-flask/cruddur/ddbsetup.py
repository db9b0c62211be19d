"""Create the DynamoDB messages table and optionally seed a conversation.

Used by ``bin/ddb-setup`` and by the tests.  Reads the same settings as the app
(``AWS_ENDPOINT_URL`` for DynamoDB local / moto, ``DDB_MESSAGE_TABLE``, ...).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timedelta, timezone

from .cli import one_line
from .config import Settings
from .ddb import MessageStore, group_uuid_for, make_client, table_definition
from .errors import MessagesUnavailable

# The seed users of db/seed.sql (the tests check that they agree).
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


class SchemaMismatch(Exception):
    """The table exists with keys or indexes other than the original's."""


def _schema_problem(description: dict, table: str) -> str | None:
    """What differs between an existing table and table_definition (keys and index)."""
    wanted = table_definition(table)
    if description.get("KeySchema") != wanted["KeySchema"]:
        return "its keys are not pk (HASH) + sk (RANGE)"
    indexes = {i["IndexName"]: i for i in description.get("GlobalSecondaryIndexes", [])}
    want = wanted["GlobalSecondaryIndexes"][0]
    index = indexes.get(want["IndexName"])
    if index is None:
        return f"it has no index {want['IndexName']}"
    if index.get("KeySchema") != want["KeySchema"] or index.get("Projection", {}).get("ProjectionType") != "ALL":
        return f"its index {want['IndexName']} is not message_group_uuid (HASH) + sk (RANGE), projection ALL"
    return None


def create_table(client, table: str, recreate: bool = False) -> str:
    """Create the table (waiting until it is active); returns what happened.
    An existing table with another schema raises SchemaMismatch (unless recreate)."""
    from botocore.exceptions import ClientError

    try:
        description = client.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        description = None
    outcome = "created"
    if description is not None:
        if not recreate:
            problem = _schema_problem(description, table)
            if problem:
                raise SchemaMismatch(
                    f"table {table} exists but {problem}: `bin/ddb-setup --recreate` replaces it (its items are lost)"
                )
            return "exists"
        client.delete_table(TableName=table)
        client.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        outcome = "recreated"
    client.create_table(**table_definition(table))
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return outcome


def seed_conversation(settings: Settings) -> tuple[str, bool]:
    """Put the andrewbrown <-> bayko conversation, in the original's item shapes.
    Returns (group uuid, whether it was added): nothing is added when they
    already have a conversation."""
    store = MessageStore(settings)
    existing = store._group_with(SEED_ANDREW["uuid"], SEED_BAYKO["uuid"])
    if existing is not None:
        return existing, False
    group = group_uuid_for(SEED_ANDREW["uuid"], SEED_BAYKO["uuid"])
    client = store.client
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    last = None
    for i, (sender, text) in enumerate(SEED_CONVERSATION):
        created_at = (start + timedelta(minutes=5 * i)).isoformat(timespec="microseconds")
        client.put_item(TableName=store.table, Item=store.message_item(group, sender, text, created_at))
        last = (text, created_at)
    for owner, other in ((SEED_ANDREW, SEED_BAYKO), (SEED_BAYKO, SEED_ANDREW)):
        client.put_item(TableName=store.table, Item=store.group_item(group, owner["uuid"], other, *last))
    return group, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ddb-setup",
        description="Create the DynamoDB messages table (DDB_MESSAGE_TABLE, default cruddur-messages).",
    )
    parser.add_argument("--seed", action="store_true", help="also add a conversation between andrewbrown and bayko")
    parser.add_argument("--recreate", action="store_true", help="delete the table first if it exists")
    args = parser.parse_args(argv)
    # The store's own warnings would be a second stderr line for one failure.
    logging.basicConfig(level=logging.ERROR, format="ddb-setup: %(message)s")
    settings = Settings.from_env()
    from botocore.exceptions import BotoCoreError, ClientError

    where = settings.endpoint_url("dynamodb") or f"DynamoDB in {settings.aws_region}"
    table = settings.ddb_message_table
    try:
        client = make_client(settings)
        started = time.monotonic()
        outcome = create_table(client, table, recreate=args.recreate)
        print(f"ddb-setup: table {table} {outcome} at {where} ({time.monotonic() - started:.1f}s)")
        if args.seed:
            group, added = seed_conversation(settings)
            if added:
                print(f"ddb-setup: seeded message group {group} (andrewbrown <-> bayko, 3 messages)")
            else:
                print(f"ddb-setup: andrewbrown and bayko already have message group {group}; nothing seeded")
    except SchemaMismatch as exc:
        print(f"ddb-setup: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError, MessagesUnavailable) as exc:
        reason = one_line(exc)
        print(
            f"ddb-setup: {where}: {reason} (check AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the AWS credentials)",
            file=sys.stderr,
        )
        return 1
    return 0
