"""Strongly consistent claims and sequences in one small table.

A claim (`opportunity#<id>` → OrderID, `account#<id>` → CustomerID) is written once with a condition, so
concurrent or repeated notifications about the same record agree on one Order or one Customer; a sequence
hands out OrderIDs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class KeyRegistry:
    """Claims and sequences over the KeyRegistry table (partition key `Key`)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, key: str) -> dict[str, Any] | None:
        """The claim stored under `key`, read consistently."""
        item = self.table.get_item(Key={"Key": key}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def claim(self, key: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Store `attributes` under `key` unless someone already did; return whichever claim won."""
        from botocore.exceptions import ClientError

        try:
            self.table.put_item(
                Item={"Key": key, **attributes},
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "Key"},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = self.get(key)
            if existing is None:  # pragma: no cover - a claim is never deleted
                raise
            return existing
        return {"Key": key, **attributes}

    def next_value(self, sequence: str) -> int:
        """Atomically increment and return the sequence."""
        response = self.table.update_item(
            Key={"Key": f"sequence#{sequence}"},
            UpdateExpression="ADD #v :one",
            ExpressionAttributeNames={"#v": "Value"},
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["Value"])  # type: ignore[arg-type]

    def ensure_sequence_at_least(self, sequence: str, value: int) -> None:
        """Raise the sequence to `value` if it is lower (seeding after loading existing rows)."""
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(
                Key={"Key": f"sequence#{sequence}"},
                UpdateExpression="SET #v = :v",
                ConditionExpression="attribute_not_exists(#v) OR #v < :v",
                ExpressionAttributeNames={"#v": "Value"},
                ExpressionAttributeValues={":v": value},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
