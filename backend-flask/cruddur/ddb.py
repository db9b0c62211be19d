"""Direct messages in DynamoDB: the original Cruddur's table and access patterns.

Table ``DDB_MESSAGE_TABLE`` (default ``cruddur-messages``): keys ``pk`` (S, HASH)
and ``sk`` (S, RANGE); global secondary index ``message-group-sk-index`` on
``message_group_uuid`` (HASH) + ``sk`` (RANGE), projection ALL; PROVISIONED 5/5
on the table and the index.  Two kinds of items::

    message group, one per member          message, one per message
    pk  = GRP#<member user uuid>            pk  = MSG#<message group uuid>
    sk  = <last message time, ISO 8601>     sk  = <created_at, ISO 8601>
    message_group_uuid                      message_uuid
    message (the last one)                  message
    user_uuid / user_display_name /         user_uuid / user_display_name /
    user_handle  (the OTHER member)         user_handle  (the author)

Only group items have ``message_group_uuid``, so the index holds exactly the
group items: a group's two member items are one Query on it.

Access patterns: a member's conversations, newest first = Query ``pk =
GRP#<me>`` backwards; a group's messages = Query ``pk = MSG#<group>``; a new
message = one TransactWriteItems that puts the message and moves each
member's group item to the message's time (delete the old ``sk``, put the
new one).  The original did that move in a DynamoDB-stream Lambda that
queried the index; here the API does it, in the same transaction as the
message, so the list of conversations is never behind the messages.

A conversation started by handle gets a deterministic group uuid (uuid5 of the
two user uuids), so two people starting it at once land in one group; an
existing conversation (whatever its uuid, e.g. the original's seed) is found
first and continued.  Duplicate group items (from such a race) are shown once
and folded into one by the next message.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from . import aws
from .config import Settings
from .errors import MessagesUnavailable

log = logging.getLogger("cruddur.ddb")

GROUP_NAMESPACE = uuid.UUID("6a1f2d0c-5b8e-4c55-9a61-3f0f6c1d7e42")
GROUP_INDEX = "message-group-sk-index"
LIST_LIMIT = 100
WRITE_ATTEMPTS = 4
# The attributes of each item kind, exactly the original's.
GROUP_ATTRIBUTES = ("pk", "sk", "message_group_uuid", "message", "user_uuid", "user_display_name", "user_handle")
MESSAGE_ATTRIBUTES = ("pk", "sk", "message_uuid", "message", "user_uuid", "user_display_name", "user_handle")


def group_uuid_for(user_a: str, user_b: str) -> str:
    """The message group uuid of a conversation between two users."""
    first, second = sorted((str(user_a), str(user_b)))
    return str(uuid.uuid5(GROUP_NAMESPACE, f"{first}:{second}"))


def now_iso() -> str:
    # Fixed width (microseconds always present), so sort keys order as times do.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the messages table (the original's schema)."""
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    return {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": "message_group_uuid", "AttributeType": "S"},
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GROUP_INDEX,
                "KeySchema": [
                    {"AttributeName": "message_group_uuid", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": dict(throughput),
            }
        ],
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": dict(throughput),
    }


def make_client(settings: Settings):
    return aws.make_client(settings, "dynamodb", timeout=settings.ddb_timeout)


def _s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if value else None


class MessageStore:
    def __init__(self, settings: Settings):
        self._settings = settings
        self.table = settings.ddb_message_table
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = make_client(self._settings)
                    except Exception as exc:  # bad region, bad endpoint URL, ...
                        log.warning("cannot create the DynamoDB client: %s", exc)
                        raise MessagesUnavailable() from exc
        return self._client

    def _call(self, operation: str, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            log.warning("DynamoDB %s failed: %s", operation, code or exc.__class__.__name__)
            raise MessagesUnavailable() from exc
        except BotoCoreError as exc:
            log.warning("DynamoDB %s failed: %s", operation, exc.__class__.__name__)
            raise MessagesUnavailable() from exc

    # -- reads --------------------------------------------------------------
    def _query(self, max_items: int | None = None, **kwargs) -> list[dict[str, Any]]:
        """All items of a Query (every page), or the first ``max_items``."""
        kwargs["TableName"] = self.table
        items: list[dict[str, Any]] = []
        while True:
            page = self._call("query", **kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page or (max_items is not None and len(items) >= max_items):
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def message_groups(self, user_uuid: str) -> list[dict[str, Any]]:
        """The member's conversations, newest first (one entry per group)."""
        groups: list[dict[str, Any]] = []
        seen: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"GRP#{user_uuid}"}},
            "ScanIndexForward": False,
        }
        while len(groups) < LIST_LIMIT:
            page = self._call("query", **kwargs)
            for item in page.get("Items", []):
                group = _s(item, "message_group_uuid")
                if group in seen:  # an older duplicate: the newest is already listed
                    continue
                seen.add(group)
                groups.append(
                    {
                        "uuid": group,
                        "handle": _s(item, "user_handle"),
                        "display_name": _s(item, "user_display_name"),
                        "message": _s(item, "message"),
                        "created_at": _s(item, "sk"),
                    }
                )
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return groups[:LIST_LIMIT]

    def _group_items_from_index(self, message_group_uuid: str) -> list[dict[str, Any]]:
        # Eventually consistent (a GSI): may lag just-written items by a moment.
        return self._query(
            IndexName=GROUP_INDEX,
            KeyConditionExpression="message_group_uuid = :g",
            ExpressionAttributeValues={":g": {"S": message_group_uuid}},
        )

    def _member_group_items(self, user_uuid: str, message_group_uuid: str) -> list[dict[str, Any]]:
        """The member's items of one group, read consistently from the table."""
        return self._query(
            KeyConditionExpression="pk = :pk",
            FilterExpression="message_group_uuid = :g",
            ExpressionAttributeValues={":pk": {"S": f"GRP#{user_uuid}"}, ":g": {"S": message_group_uuid}},
            ConsistentRead=True,
        )

    def group_of(self, user_uuid: str, message_group_uuid: str) -> dict[str, Any] | None:
        """The member's view of a group, or None when the user is not a member."""
        mine = [i for i in self._group_items_from_index(message_group_uuid) if _s(i, "pk") == f"GRP#{user_uuid}"]
        if not mine:
            # Not in the index (yet?): a group created a moment ago by its
            # first message must open at once, so ask the table itself.
            mine = self._member_group_items(user_uuid, message_group_uuid)
        if not mine:
            return None
        newest = max(mine, key=lambda i: _s(i, "sk") or "")
        return {"message_group_uuid": message_group_uuid, "other_user_uuid": _s(newest, "user_uuid")}

    def _group_with(self, user_uuid: str, other_user_uuid: str) -> str | None:
        """The group uuid of an existing conversation between two users."""
        items = self._query(
            KeyConditionExpression="pk = :pk",
            FilterExpression="user_uuid = :other",
            ExpressionAttributeValues={":pk": {"S": f"GRP#{user_uuid}"}, ":other": {"S": str(other_user_uuid)}},
            ScanIndexForward=False,
            ConsistentRead=True,
            max_items=1,
        )
        return _s(items[0], "message_group_uuid") if items else None

    def messages(self, message_group_uuid: str) -> list[dict[str, Any]]:
        """The latest messages of a group, oldest first."""
        page = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"MSG#{message_group_uuid}"}},
            ScanIndexForward=False,
            Limit=LIST_LIMIT,
        )
        items = list(reversed(page.get("Items", [])))
        return [self._message(item, message_group_uuid) for item in items]

    @staticmethod
    def _message(item: dict[str, Any], message_group_uuid: str) -> dict[str, Any]:
        return {
            "uuid": _s(item, "message_uuid"),
            "handle": _s(item, "user_handle"),
            "display_name": _s(item, "user_display_name"),
            "message": _s(item, "message"),
            "created_at": _s(item, "sk"),
            "message_group_uuid": message_group_uuid,
        }

    # -- writes -------------------------------------------------------------
    @staticmethod
    def message_item(group: str, author: dict[str, Any], message: str, created_at: str) -> dict[str, Any]:
        return {
            "pk": {"S": f"MSG#{group}"},
            "sk": {"S": created_at},
            "message_uuid": {"S": str(uuid.uuid4())},
            "message": {"S": message},
            "user_uuid": {"S": str(author["uuid"])},
            "user_display_name": {"S": author["display_name"]},
            "user_handle": {"S": author["handle"]},
        }

    @staticmethod
    def group_item(group: str, owner_uuid: str, other: dict[str, Any], message: str, last_at: str) -> dict[str, Any]:
        return {
            "pk": {"S": f"GRP#{owner_uuid}"},
            "sk": {"S": last_at},
            "message_group_uuid": {"S": group},
            "message": {"S": message},
            "user_uuid": {"S": str(other["uuid"])},
            "user_display_name": {"S": other["display_name"]},
            "user_handle": {"S": other["handle"]},
        }

    def _put(self, item: dict[str, Any]) -> dict[str, Any]:
        # Never overwrite: two messages at the same microsecond would share a key.
        return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    def _move_group_item(self, existing: list[dict[str, Any]], message: str, at: str) -> list[dict[str, Any]]:
        """Operations replacing a member's group item(s) by one at ``at``."""
        newest = max(existing, key=lambda i: _s(i, "sk") or "")
        if (_s(newest, "sk") or "") >= at:
            return []  # a newer message moved it already: never move it back in time
        ops: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": {"pk": item["pk"], "sk": item["sk"]},
                    # Still there: else someone moved it meanwhile, and we read again.
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
            for item in existing
        ]
        moved = {name: newest[name] for name in GROUP_ATTRIBUTES if name in newest}
        moved.update({"sk": {"S": at}, "message": {"S": message}})
        ops.append(self._put(moved))
        return ops

    def _transact(self, build) -> Any:
        """Run ``build(attempt) -> (operations, result)`` in a transaction,
        again (reading afresh) when it was cancelled by a concurrent write."""
        from botocore.exceptions import ClientError

        for attempt in range(WRITE_ATTEMPTS):
            operations, result = build(attempt)
            try:
                self._call("transact_write_items", TransactItems=operations)
                return result
            except ClientError as exc:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", []) or []]
                log.info("DynamoDB transaction cancelled (attempt %d): %s", attempt + 1, reasons)
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
        log.warning("DynamoDB transaction cancelled %d times in a row; giving up", WRITE_ATTEMPTS)
        raise MessagesUnavailable()

    def send(self, sender: dict[str, Any], group: str, other_user_uuid: str, message: str) -> dict[str, Any]:
        """Post into an existing group (membership already checked)."""
        me, other = f"GRP#{sender['uuid']}", f"GRP#{other_user_uuid}"

        def build(attempt: int):
            created_at = now_iso()
            items = self._group_items_from_index(group) if attempt == 0 else []
            mine = [i for i in items if _s(i, "pk") == me]
            theirs = [i for i in items if _s(i, "pk") == other]
            if not mine or not theirs:
                # The index lags (or a retry after a concurrent move): read the table.
                mine = self._member_group_items(str(sender["uuid"]), group)
                theirs = self._member_group_items(str(other_user_uuid), group)
            item = self.message_item(group, sender, message, created_at)
            ops = [self._put(item)]
            if mine:
                ops += self._move_group_item(mine, message, created_at)
            if theirs:
                ops += self._move_group_item(theirs, message, created_at)
            else:  # their side is missing (partial data): give it back to them
                ops.append(self._put(self.group_item(group, str(other_user_uuid), sender, message, created_at)))
            return ops, self._message(item, group)

        return self._transact(build)

    def start_conversation(self, sender: dict[str, Any], recipient: dict[str, Any], message: str) -> dict[str, Any]:
        """Send a message to a user: into your conversation with them if there
        is one, else into a new group."""
        existing = self._group_with(str(sender["uuid"]), str(recipient["uuid"]))
        if existing is not None:
            return self.send(sender, existing, str(recipient["uuid"]), message)
        group = group_uuid_for(sender["uuid"], recipient["uuid"])

        def build(attempt: int):
            created_at = now_iso()
            item = self.message_item(group, sender, message, created_at)
            ops = [
                self._put(item),
                self._put(self.group_item(group, str(sender["uuid"]), recipient, message, created_at)),
                self._put(self.group_item(group, str(recipient["uuid"]), sender, message, created_at)),
            ]
            return ops, self._message(item, group)

        return self._transact(build)
