"""Notifications kept as received, so a notification without a handler is recorded rather than dropped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sf_edge.aws.faults import conditional
from sf_edge.domain_errors import ConditionNotMet
from sf_edge.notifications.routing import ReconcileMark
from sf_edge.salesforce.notification_message import NotificationMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    from sf_edge.aws.large_payloads import LargePayloads

# DynamoDB holds at most 400 KB an item: a larger message is kept in the payload bucket, the item points at it.
MAX_INLINE_MESSAGE_BYTES = 300_000
# Marks for reconciliation carry their sObject type, the key of a sparse index (template.yaml) the sync reads.
RECONCILE_INDEX = "Reconcile"
RECONCILE_ENTITY = "ReconcileEntity"


class NotificationArchive:
    """The NotificationArchive table (partition key `NotificationKey` = org prefix / notification id)."""

    def __init__(self, table: Table, large_payloads: LargePayloads | None = None) -> None:
        self.table = table
        self.large_payloads = large_payloads

    def record(self, message: NotificationMessage, *, why: str) -> None:
        """Keep the whole message, without its session id (a listener that forwards it does so for a callback,
        not to keep it)."""
        body = message.without_session().to_json()
        item: dict[str, Any] = {
            "NotificationKey": message.idempotency_key,
            "Listener": message.listener,
            "SObjectType": message.sobject_type,
            "RecordId": message.record_id,
            "OrganizationId": message.organization_id,
            "ReceivedAt": message.received_at.isoformat(),
            "Why": why,
        }
        if len(body.encode("utf-8")) > MAX_INLINE_MESSAGE_BYTES and self.large_payloads is not None:
            key = f"archive/{message.idempotency_key}"
            self.large_payloads.put(key, body)
            item["MessageLocation"] = f"s3://{self.large_payloads.bucket}/{key}"
        else:
            item["Message"] = body
        self.table.put_item(Item=item)

    def record_reconciliation(self, message: NotificationMessage, *, why: str) -> None:
        """A record (or, for a GAP_OVERFLOW, a whole sObject type) whose change arrived without its fields: kept
        under `reconcile#<type>/<record id or *>` until someone (or a job) reads it again from Salesforce."""
        from datetime import UTC, datetime

        change = message.change
        entity = change.entity if change else message.sobject_type
        self.table.put_item(
            Item={
                "NotificationKey": f"reconcile#{entity}/{message.record_id or '*'}",
                RECONCILE_ENTITY: entity,  # the Reconcile index: the next bulk sync of the object finds it
                "OrganizationId": message.organization_id,
                "Why": why,
                "ChangeType": change.change_type if change else "",
                "TransactionKey": change.transaction_key if change else "",
                "CommitTimestamp": change.commit_timestamp if change else 0,
                "MarkedAt": datetime.now(UTC).isoformat(),
            }
        )

    def marks(self, entity: str, limit: int) -> list[ReconcileMark]:
        """Up to `limit` records of `entity` marked for reconciliation (`*`: the whole object), oldest key first."""
        from boto3.dynamodb.conditions import Key

        found: list[ReconcileMark] = []
        arguments: dict[str, Any] = {
            "IndexName": RECONCILE_INDEX,
            "KeyConditionExpression": Key(RECONCILE_ENTITY).eq(entity),
        }
        while len(found) < limit:
            response = self.table.query(**arguments, Limit=limit - len(found))
            for item in response.get("Items", []):
                key = str(item["NotificationKey"])
                found.append(ReconcileMark(key, key.rpartition("/")[2], str(item.get("MarkedAt", ""))))
            if "LastEvaluatedKey" not in response:
                break
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    def outstanding(self, entity: str) -> int:
        """How many records of `entity` wait for reconciliation (the RecordsToReconcile metric)."""
        from boto3.dynamodb.conditions import Key

        total = 0
        arguments: dict[str, Any] = {
            "IndexName": RECONCILE_INDEX,
            "KeyConditionExpression": Key(RECONCILE_ENTITY).eq(entity),
            "Select": "COUNT",
        }
        while True:
            response = self.table.query(**arguments)
            total += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return total
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def clear(self, marks: Sequence[ReconcileMark]) -> int:
        """Remove marks a sync has applied, each only if it was not marked again since (a newer gap stays)."""

        cleared = 0
        for mark in marks:
            try:
                conditional(
                    self.table.delete_item,
                    Key={"NotificationKey": mark.key},
                    ConditionExpression="MarkedAt = :at",
                    ExpressionAttributeValues={":at": mark.marked_at},
                )
            except ConditionNotMet:
                continue
            cleared += 1
        return cleared

    def record_sync_failure(self, *, sobject: str, identity: str, why: str, text: str) -> None:
        """A row the bulk sync could not apply (`sync-failed#<object>/<record id, or job and line>`), with why and
        the row as read: kept, never dropped."""
        from datetime import UTC, datetime

        self.table.put_item(
            Item={
                "NotificationKey": f"sync-failed#{sobject}/{identity}",
                "SObjectType": sobject,
                "Why": why[:1000],
                "Row": text[:MAX_INLINE_MESSAGE_BYTES],
                "FailedAt": datetime.now(UTC).isoformat(),
            }
        )

    def record_failure(self, *, key: str, message_id: str, why: str, receives: int) -> None:
        """Why a notification was dead-lettered (under `dead-letter#<key>`, apart from archived messages)."""
        from datetime import UTC, datetime

        self.table.put_item(
            Item={
                "NotificationKey": f"dead-letter#{key}",
                "MessageId": message_id,
                "Why": why,
                "Receives": receives,
                "DeadLetteredAt": datetime.now(UTC).isoformat(),
            }
        )
