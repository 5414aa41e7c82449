"""Write-backs on AWS: queued on SQS between the worker and the write-back function, dead-lettered with their
reason, and tracked per Salesforce record in the WriteBackLedger table (what was last sent or recorded, and when)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sf_edge.write_back.messages import PENDING, RECORDED, SENT, WriteBack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sqs import SQSClient


class SqsWriteBackQueue:
    """Sends write-backs to a queue; on the dead-letter queue a message carries its reason as an attribute."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            from sf_edge.aws.clients import sqs_client

            self._client = sqs_client()
        return self._client

    def enqueue(self, write_back: WriteBack) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=write_back.model_dump_json())

    def send(self, write_back: WriteBack, reason: str) -> None:
        """Dead-letter one write-back Salesforce refused, with why (Salesforce's status codes and messages)."""
        self.client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=write_back.model_dump_json(),
            MessageAttributes={"Reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"}},
        )


class DynamoDbWriteBackLedger:
    """One item per Salesforce record (`RecordKey`): the latest write-back's stamp, fields and status."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def claim(self, write_back: WriteBack) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(
                Key={"RecordKey": write_back.key},
                UpdateExpression=(
                    "SET Stamp = :stamp, #status = :pending, SObject = :sobject, RecordId = :record, "
                    "#fields = :fields, Origin = :origin, UpdatedAt = :now"
                ),
                # Newer than what is there, or this very write-back again when it was not delivered yet.
                ConditionExpression=(
                    "attribute_not_exists(RecordKey) OR Stamp < :stamp "
                    "OR (Stamp = :stamp AND NOT #status IN (:sent, :recorded))"
                ),
                ExpressionAttributeNames={"#status": "Status", "#fields": "Fields"},
                ExpressionAttributeValues={
                    ":stamp": write_back.stamp,
                    ":pending": PENDING,
                    ":sent": SENT,
                    ":recorded": RECORDED,
                    ":sobject": write_back.sobject,
                    ":record": write_back.record_id,
                    ":fields": json.dumps(write_back.fields, sort_keys=True),
                    ":origin": write_back.origin,
                    ":now": _now(),
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def settle(self, write_back: WriteBack, status: str, detail: str = "") -> None:
        """Record how the write-back ended, unless a newer one has claimed the record since."""
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(
                Key={"RecordKey": write_back.key},
                UpdateExpression="SET #status = :status, Detail = :detail, UpdatedAt = :now",
                ConditionExpression="Stamp = :stamp",
                ExpressionAttributeNames={"#status": "Status"},
                ExpressionAttributeValues={
                    ":status": status,
                    ":detail": detail,
                    ":now": _now(),
                    ":stamp": write_back.stamp,
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def _now() -> str:
    return datetime.now(UTC).isoformat()
