"""Direct messages in DynamoDB (single-table design, as in the original Cruddur).

Items of the table (``DDB_MESSAGE_TABLE``, default ``cruddur-messages``)::

    message group, one per member       message, one per message
    pk  = GRP#<member user uuid>        pk  = MSG#<message group uuid>
    sk  = <message group uuid>          sk  = <created_at ISO 8601>#<message uuid>
    message_group_uuid                  message_uuid
    user_uuid / user_handle /           user_uuid / user_handle /
    user_display_name  (the OTHER one)  user_display_name (the author)
    message, created_at (last message)  message, created_at

A member's groups are one Query on ``GRP#<uuid>``; a group's messages are one
Query on ``MSG#<group>`` (sorted by time through the sort key).  Membership is a
consistent GetItem on (GRP#<me>, <group>).  The group of two users has a
deterministic UUID (uuid5 of the two user uuids), so starting a conversation
twice finds the same group instead of creating a second one.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

from . import aws
from .config import Settings
from .errors import MessagesUnavailable

log = logging.getLogger("cruddur.ddb")

GROUP_NAMESPACE = uuid.UUID("6a1f2d0c-5b8e-4c55-9a61-3f0f6c1d7e42")
LIST_LIMIT = 100


def group_uuid_for(user_a: str, user_b: str) -> str:
    """The message group uuid of a conversation between two users."""
    first, second = sorted((str(user_a), str(user_b)))
    return str(uuid.uuid5(GROUP_NAMESPACE, f"{first}:{second}"))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the messages table."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
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
    def message_groups(self, user_uuid: str) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"GRP#{user_uuid}"}},
        }
        while True:
            page = self._call("query", **kwargs)
            for item in page.get("Items", []):
                groups.append(
                    {
                        "uuid": _s(item, "message_group_uuid"),
                        "handle": _s(item, "user_handle"),
                        "display_name": _s(item, "user_display_name"),
                        "message": _s(item, "message"),
                        "created_at": _s(item, "created_at"),
                    }
                )
            if "LastEvaluatedKey" not in page or len(groups) >= 1000:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        groups.sort(key=lambda g: g["created_at"] or "", reverse=True)
        return groups[:LIST_LIMIT]

    def group_of(self, user_uuid: str, message_group_uuid: str) -> dict[str, Any] | None:
        """The member's own group item, or None when the user is not a member."""
        item = self._call(
            "get_item",
            TableName=self.table,
            Key={"pk": {"S": f"GRP#{user_uuid}"}, "sk": {"S": message_group_uuid}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return {
            "message_group_uuid": _s(item, "message_group_uuid"),
            "other_user_uuid": _s(item, "user_uuid"),
        }

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
            "created_at": _s(item, "created_at"),
            "message_group_uuid": message_group_uuid,
        }

    # -- writes -------------------------------------------------------------
    @staticmethod
    def _message_item(group: str, sender: dict[str, Any], message: str, created_at: str) -> dict[str, Any]:
        message_uuid = str(uuid.uuid4())
        return {
            "pk": {"S": f"MSG#{group}"},
            "sk": {"S": f"{created_at}#{message_uuid}"},
            "message_uuid": {"S": message_uuid},
            "message": {"S": message},
            "user_uuid": {"S": str(sender["uuid"])},
            "user_handle": {"S": sender["handle"]},
            "user_display_name": {"S": sender["display_name"]},
            "created_at": {"S": created_at},
        }

    @staticmethod
    def _group_item(group: str, owner_uuid: str, other: dict[str, Any], message: str, created_at: str):
        return {
            "pk": {"S": f"GRP#{owner_uuid}"},
            "sk": {"S": group},
            "message_group_uuid": {"S": group},
            "user_uuid": {"S": str(other["uuid"])},
            "user_handle": {"S": other["handle"]},
            "user_display_name": {"S": other["display_name"]},
            "message": {"S": message},
            "created_at": {"S": created_at},
        }

    def start_conversation(self, sender: dict[str, Any], recipient: dict[str, Any], message: str) -> dict[str, Any]:
        """Send a message to a user, creating the message group if needed."""
        group = group_uuid_for(sender["uuid"], recipient["uuid"])
        if self.group_of(str(sender["uuid"]), group) is not None:
            return self.send(sender, group, str(recipient["uuid"]), message)
        from botocore.exceptions import ClientError

        created_at = now_iso()
        item = self._message_item(group, sender, message, created_at)
        try:
            self._call(
                "transact_write_items",
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._group_item(group, str(sender["uuid"]), recipient, message, created_at),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._group_item(group, str(recipient["uuid"]), sender, message, created_at),
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": item}},
                ],
            )
        except ClientError as exc:
            # Cancelled because the group was created concurrently: post into it.
            if self.group_of(str(sender["uuid"]), group) is None:
                log.warning("DynamoDB transact_write_items failed: %s", exc.response.get("Error", {}).get("Code"))
                raise MessagesUnavailable() from exc
            return self.send(sender, group, str(recipient["uuid"]), message)
        return self._message(item, group)

    def send(self, sender: dict[str, Any], group: str, other_user_uuid: str, message: str) -> dict[str, Any]:
        """Post into an existing group (membership already checked)."""
        from botocore.exceptions import ClientError

        created_at = now_iso()
        item = self._message_item(group, sender, message, created_at)
        self._call("put_item", TableName=self.table, Item=item)
        # Keep each member's group item showing the latest message; never move
        # it back in time if a newer message landed concurrently.
        for owner in (str(sender["uuid"]), other_user_uuid):
            try:
                self._call(
                    "update_item",
                    TableName=self.table,
                    Key={"pk": {"S": f"GRP#{owner}"}, "sk": {"S": group}},
                    UpdateExpression="SET message = :m, created_at = :t",
                    ConditionExpression="attribute_exists(pk) AND created_at < :t",
                    ExpressionAttributeValues={":m": {"S": message}, ":t": {"S": created_at}},
                )
            except ClientError:
                pass
        return self._message(item, group)
