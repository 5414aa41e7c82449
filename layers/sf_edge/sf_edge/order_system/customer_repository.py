"""Customers in DynamoDB, and the link from a Salesforce Account to its Customer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_edge.order_system.entities import Customer
from sf_edge.order_system.key_registry import KeyRegistry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class StaleUpdate(Exception):  # noqa: N818 - an outcome, not a failure
    """The stored Customer reflects a newer Salesforce change than the one being applied."""


class CustomerRepository:
    """Reads and writes Customers (partition key `CustomerID`)."""

    def __init__(self, table: Table, keys: KeyRegistry) -> None:
        self.table = table
        self.keys = keys

    def get(self, customer_id: str) -> Customer | None:
        """The Customer with this id, if any."""
        item = self.table.get_item(Key={"CustomerID": customer_id}, ConsistentRead=True).get("Item")
        return Customer.model_validate(item) if item else None

    def customer_id_for_account(self, account_id: str) -> str | None:
        """The CustomerID linked to a Salesforce Account (18-character id), if linked."""
        claim = self.keys.get(f"account#{account_id}")
        return str(claim["CustomerID"]) if claim else None

    def link_account(self, account_id: str, preferred_customer_id: str) -> str:
        """Link the Account to a CustomerID once; later calls return the first link whatever they prefer."""
        claim = self.keys.claim(f"account#{account_id}", {"CustomerID": preferred_customer_id})
        return str(claim["CustomerID"])

    def upsert(self, customer_id: str, changes: dict[str, Any], *, modstamp: str | None) -> None:
        """Set (or, for None values, remove) attributes; refuse a change older than the stored one."""
        from botocore.exceptions import ClientError

        sets = {k: v for k, v in changes.items() if v is not None}
        removes = [k for k, v in changes.items() if v is None]
        if modstamp:
            sets["SalesforceModstamp"] = modstamp
        names = {f"#a{i}": k for i, k in enumerate([*sets, *removes])}
        by_name = {v: k for k, v in names.items()}
        expression = "SET " + ", ".join(f"{by_name[k]} = :v{i}" for i, k in enumerate(sets)) if sets else ""
        if removes:
            expression += " REMOVE " + ", ".join(by_name[k] for k in removes)
        kwargs: dict[str, Any] = {
            "Key": {"CustomerID": customer_id},
            "UpdateExpression": expression.strip(),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":v{i}": v for i, v in enumerate(sets.values())},
        }
        if modstamp:
            names["#ms"] = "SalesforceModstamp"
            kwargs["ConditionExpression"] = "attribute_not_exists(#ms) OR #ms <= :ms"
            kwargs["ExpressionAttributeValues"][":ms"] = modstamp
        if not kwargs["ExpressionAttributeValues"]:
            del kwargs["ExpressionAttributeValues"]
        try:
            self.table.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleUpdate(customer_id) from None
            raise
