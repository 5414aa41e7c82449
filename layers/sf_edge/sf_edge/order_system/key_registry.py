"""Strongly consistent claims and sequences in one small table.

A claim (`opportunity#<id>` → OrderID, `account#<id>` → CustomerID) is written once with a condition, so
concurrent or repeated notifications about the same record agree on one Order or one Customer; a sequence
hands out OrderIDs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from sf_edge.aws.item_table import ItemTable
from sf_edge.domain_errors import ConditionNotMet

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class KeyRegistry:
    """Claims and sequences over the KeyRegistry table (partition key `Key`)."""

    def __init__(self, table: Table) -> None:
        self.table = ItemTable(table)

    def get(self, key: str) -> dict[str, Any] | None:
        """The claim stored under `key`, read consistently."""
        return self.table.get({"Key": key})

    def claim(self, key: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Store `attributes` under `key` unless someone already did; return whichever claim won."""
        try:
            self.table.put(
                {"Key": key, **attributes},
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "Key"},
            )
        except ConditionNotMet:
            existing = self.get(key)
            if existing is None:  # pragma: no cover - a claim is never deleted
                raise
            return existing
        return {"Key": key, **attributes}

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The claims stored under these keys (read consistently, 100 a call); keys with none are left out."""
        return {str(item["Key"]): item for item in self.table.get_many([{"Key": k} for k in keys])}

    def claim_action(self, key: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The transaction action that claims `key` unless it is claimed (batch_items.write_conditionally)."""
        return {
            "Put": {
                "TableName": self.table.name,
                "Item": {"Key": key, **attributes},
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": "Key"},
            }
        }

    def claim_many(self, claims: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Claim each key unless someone already did; return whichever claim won, per key (100 a transaction)."""
        keys = list(claims)
        lost = self.table.write_conditionally([[self.claim_action(k, claims[k])] for k in keys])
        won = {k: {"Key": k, **claims[k]} for i, k in enumerate(keys) if i not in lost}
        return won | self.get_many([keys[i] for i in lost])

    def confirm(self, key: str, name: str, value: Any) -> dict[str, Any]:
        """Turn a placeholder claim into the claim of `name = value` (idempotent); a claim already confirmed is
        left as it is. Return whichever claim stands."""
        try:
            self.table.update(
                {"Key": key},
                UpdateExpression="SET #n = :v REMOVE Placeholder",
                ConditionExpression="attribute_exists(Placeholder) OR #n = :v",
                ExpressionAttributeNames={"#n": name},
                ExpressionAttributeValues={":v": value},
            )
        except ConditionNotMet:
            current = self.get(key)
            assert current is not None  # a claim is never deleted
            return current
        return {"Key": key, name: value}

    def next_value(self, sequence: str) -> int:
        """Atomically increment and return the sequence."""
        return self.next_values(sequence, 1)[0]

    def next_values(self, sequence: str, count: int) -> list[int]:
        """`count` values of the sequence, taken in one atomic increment."""
        updated = self.table.update(
            {"Key": f"sequence#{sequence}"},
            UpdateExpression="ADD #v :n",
            ExpressionAttributeNames={"#v": "Value"},
            ExpressionAttributeValues={":n": count},
            ReturnValues="UPDATED_NEW",
        )
        top = int(updated["Value"])
        return list(range(top - count + 1, top + 1))

    def ensure_sequence_at_least(self, sequence: str, value: int) -> None:
        """Raise the sequence to `value` if it is lower (seeding after loading existing rows)."""
        with suppress(ConditionNotMet):  # a higher value is there already: the sequence only grows
            self.table.update(
                {"Key": f"sequence#{sequence}"},
                UpdateExpression="SET #v = :v",
                ConditionExpression="attribute_not_exists(#v) OR #v < :v",
                ExpressionAttributeNames={"#v": "Value"},
                ExpressionAttributeValues={":v": value},
            )
