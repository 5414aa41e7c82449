"""One DynamoDB table as the order system's repositories read and write it: every call they make, in one place.

The repositories (`sf_edge.order_system`) say what to read and what a write's condition is; this adapter makes the
calls, through the resource's Python types: a failed condition is the domain's ConditionNotMet (`faults.conditional`),
reads are strongly consistent unless asked otherwise, many keys or many conditional writes go through
`batch_items`, and a Query is followed to its last page. Tests swap it (a table that lets another writer in
between a read and a write) without knowing boto3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sf_edge.aws import batch_items
from sf_edge.aws.faults import conditional

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

Item = dict[str, Any]
MAX_TRANSACTION = batch_items.MAX_TRANSACTION  # actions a transaction holds


class ItemTable:
    """A table's items by key, its conditional writes and its queries."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def name(self) -> str:
        """The table's name (what a transaction's action names when it writes another table)."""
        return self._table.name

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> Item | None:
        """The item with this key, if any."""
        found = self._table.get_item(Key=dict(key), ConsistentRead=consistent).get("Item")
        return dict(found) if found else None

    def put(self, item: Mapping[str, Any], **condition: Any) -> None:
        """Put the item; with a ConditionExpression (and its names and values), only while it holds."""
        conditional(self._table.put_item, Item=dict(item), **condition)

    def update(self, key: Mapping[str, Any], **update: Any) -> Item:
        """Update the item (UpdateExpression, ConditionExpression, names, values, ReturnValues as UpdateItem takes
        them); the attributes it returns, when asked for."""
        response = conditional(self._table.update_item, Key=dict(key), **update)
        return dict(response.get("Attributes") or {})

    def delete(self, key: Mapping[str, Any], **condition: Any) -> None:
        """Delete the item; with a ConditionExpression, only while it holds."""
        conditional(self._table.delete_item, Key=dict(key), **condition)

    def query(self, **query: Any) -> list[Item]:
        """Every item a Query (KeyConditionExpression, IndexName, ...) returns, following LastEvaluatedKey."""
        items: list[Item] = []
        while True:
            response = self._table.query(**query)
            items.extend(dict(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def get_many(self, keys: Sequence[Mapping[str, Any]], *, consistent: bool = True) -> list[Item]:
        """The items with these keys (absent ones left out), 100 keys a call, unprocessed keys tried again."""
        return batch_items.get_many(self._table, keys, consistent=consistent)

    def write_conditionally(self, units: Sequence[Sequence[Mapping[str, Any]]]) -> set[int]:
        """Units of transaction actions on this table (unless an action names another); the indexes of the units
        whose conditions did not hold (batch_items.write_conditionally)."""
        return batch_items.write_conditionally(self._table, units)

    def put_all(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Put many items unconditionally (BatchWriteItem, 25 a call, unprocessed ones sent again)."""
        with self._table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=dict(item))
