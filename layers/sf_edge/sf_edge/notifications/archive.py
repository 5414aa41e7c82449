"""Notifications kept as received, so a notification without a handler is recorded rather than dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sf_edge.salesforce.outbound_messages import NotificationMessage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class NotificationArchive:
    """The NotificationArchive table (partition key `NotificationKey` = org prefix / notification id)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def record(self, message: NotificationMessage, *, why: str) -> None:
        """Keep the whole message (already free of the session id unless its listener opted in)."""
        self.table.put_item(
            Item={
                "NotificationKey": message.idempotency_key,
                "Listener": message.listener,
                "SObjectType": message.sobject_type,
                "RecordId": message.record_id,
                "OrganizationId": message.organization_id,
                "ReceivedAt": message.received_at.isoformat(),
                "Why": why,
                "Message": message.to_json(),
            }
        )
