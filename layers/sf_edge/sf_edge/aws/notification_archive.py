"""Notifications kept as received, so a notification without a handler is recorded rather than dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_edge.salesforce.outbound_messages import NotificationMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    from sf_edge.aws.large_payloads import LargePayloads

# DynamoDB holds at most 400 KB an item: a larger message is kept in the payload bucket, the item points at it.
MAX_INLINE_MESSAGE_BYTES = 300_000


class NotificationArchive:
    """The NotificationArchive table (partition key `NotificationKey` = org prefix / notification id)."""

    def __init__(self, table: Table, large_payloads: LargePayloads | None = None) -> None:
        self.table = table
        self.large_payloads = large_payloads

    def record(self, message: NotificationMessage, *, why: str) -> None:
        """Keep the whole message, without its session id (a listener that forwards it does so for a callback,
        not to keep it)."""
        body = message.model_copy(update={"session_id": None}).to_json()
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
                "OrganizationId": message.organization_id,
                "Why": why,
                "ChangeType": change.change_type if change else "",
                "TransactionKey": change.transaction_key if change else "",
                "CommitTimestamp": change.commit_timestamp if change else 0,
                "MarkedAt": datetime.now(UTC).isoformat(),
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
