"""Write-backs on AWS: queued on SQS between the worker and the write-back function, dead-lettered with their
reason, and tracked per Salesforce record in the WriteBackLedger table (what was last sent or recorded, and when)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sf_edge.aws.faults import conditional
from sf_edge.domain_errors import ConditionNotMet
from sf_edge.write_back.messages import IN_BULK, PARKED, PENDING, RECORDED, SENT, ParkedWriteBack, WriteBack

PARKED_INDEX = "Parked"  # sparse: only parked write-backs carry BulkGroup (template.yaml)

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

    def enqueue_many(self, write_backs: Sequence[WriteBack]) -> None:
        """Send many write-backs, ten a call (the bulk sync's pages); an entry SQS refuses is sent again, then
        raised."""
        for start in range(0, len(write_backs), 10):
            pending = {str(i): wb.model_dump_json() for i, wb in enumerate(write_backs[start : start + 10])}
            for _ in range(3):
                entries = [{"Id": i, "MessageBody": body} for i, body in pending.items()]
                failed = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed", [])  # type: ignore[arg-type]
                pending = {f["Id"]: pending[f["Id"]] for f in failed}
                if not pending:
                    break
            else:
                raise RuntimeError(f"SQS refused {len(pending)} write-backs: {failed[0].get('Message', '')}")

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
        """Make the write-back the record's latest: when newer than what is there (and saying something else than
        what was already sent or recorded: the same fields again, from a redelivered notification or a sync
        reading the record back, change nothing), or this very write-back again when it was not delivered yet."""
        try:
            conditional(
                self.table.update_item,
                Key={"RecordKey": write_back.key},
                UpdateExpression=(
                    "SET Stamp = :stamp, #status = :pending, SObject = :sobject, RecordId = :record, "
                    "#fields = :fields, Origin = :origin, UpdatedAt = :now, KeyField = :key REMOVE BulkGroup, BulkBatch"
                ),
                ConditionExpression=(
                    "attribute_not_exists(RecordKey) "
                    "OR (Stamp < :stamp AND NOT (#fields = :fields AND #status IN (:sent, :recorded))) "
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
                    ":key": write_back.external_id_field or "Id",
                },
            )
        except ConditionNotMet:
            return False
        return True

    def park(self, write_back: WriteBack) -> bool:
        """Leave the claimed write-back for a Bulk API job: listed by the Parked index under its group."""
        from sf_edge.write_back.delivery import bulk_group

        return self._conditional_update(
            write_back.key,
            "SET #status = :parked, BulkGroup = :group, UpdatedAt = :now",
            "Stamp = :stamp",
            {":parked": PARKED, ":group": bulk_group(write_back), ":stamp": write_back.stamp},
        )

    # The bulk write-back's side (sf_edge.write_back.bulk_delivery).

    def parked(self, group: str) -> Iterator[ParkedWriteBack]:
        """The write-backs parked in a group, as the Parked index lists them."""
        return self._listed(group)

    def in_batch(self, group: str, batch: str) -> Iterator[ParkedWriteBack]:
        """The write-backs a batch took and no result has settled yet (the Parked index lists them too)."""
        return self._listed(f"{group}#{batch}")

    def _listed(self, bulk_group: str) -> Iterator[ParkedWriteBack]:
        from boto3.dynamodb.conditions import Key

        arguments: dict[str, Any] = {
            "IndexName": PARKED_INDEX,
            "KeyConditionExpression": Key("BulkGroup").eq(bulk_group),
        }
        while True:
            response = self.table.query(**arguments)
            for item in response.get("Items", []):
                yield ParkedWriteBack(
                    key=str(item["RecordKey"]),
                    sobject=str(item["SObject"]),
                    key_field=str(item.get("KeyField") or "Id"),
                    record_id=str(item["RecordId"]),
                    fields=json.loads(str(item["Fields"])),
                    stamp=str(item["Stamp"]),
                    attempts=int(item.get("BulkAttempts", 0)),  # type: ignore[arg-type]
                    detail=str(item.get("Detail") or ""),
                )
            if "LastEvaluatedKey" not in response:
                return
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def take(self, parked: ParkedWriteBack, group: str, batch: str) -> bool:
        """Put a parked write-back in a batch (unless a newer one claimed the record since)."""
        return self._conditional_update(
            parked.key,
            "SET #status = :bulk, BulkBatch = :batch, BulkGroup = :listed, UpdatedAt = :now",
            "Stamp = :stamp AND #status = :parked",
            {
                ":bulk": IN_BULK,
                ":batch": batch,
                ":listed": f"{group}#{batch}",
                ":stamp": parked.stamp,
                ":parked": PARKED,
            },
        )

    def settle_bulk(self, key: str, batch: str, status: str, detail: str) -> bool:
        """How a write-back in a job ended, unless a newer one claimed the record since."""
        return self._conditional_update(
            key,
            "SET #status = :status, Detail = :detail, UpdatedAt = :now REMOVE BulkBatch, BulkGroup",
            "BulkBatch = :batch",
            {":status": status, ":detail": detail[:1000], ":batch": batch},
        )

    def repark(self, key: str, batch: str, group: str, why: str) -> bool:
        """Back to the group's parked write-backs for the next job (a locked row, a job that stopped)."""
        return self._conditional_update(
            key,
            "SET #status = :parked, BulkGroup = :group, Detail = :why, UpdatedAt = :now, "
            "BulkAttempts = if_not_exists(BulkAttempts, :zero) + :one REMOVE BulkBatch",
            "BulkBatch = :batch",
            {":parked": PARKED, ":group": group, ":why": why[:1000], ":batch": batch, ":zero": 0, ":one": 1},
        )

    def _conditional_update(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:

        try:
            conditional(
                self.table.update_item,
                Key={"RecordKey": key},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "Status"},
                ExpressionAttributeValues=values | {":now": _now()},
            )
        except ConditionNotMet:
            return False
        return True

    def settle(self, write_back: WriteBack, status: str, detail: str = "") -> None:
        """Record how the write-back ended, unless a newer one has claimed the record since."""
        self._conditional_update(
            write_back.key,
            "SET #status = :status, Detail = :detail, UpdatedAt = :now",
            "Stamp = :stamp",
            {":status": status, ":detail": detail, ":stamp": write_back.stamp},
        )


def _now() -> str:
    return datetime.now(UTC).isoformat()
