"""Customers in DynamoDB, and the link from a Salesforce Account to its Customer.

A link is claimed once per Account. One claimed by a won Opportunity that arrived before its Account is a
placeholder (a Customer keyed by the Account id, marked `Placeholder`): the Account's own notification decides
the real Customer (its AccountNumber, else the Account id) and replaces the placeholder with it, so the end state
does not depend on which notification came first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sf_edge.order_system.entities import Customer
from sf_edge.order_system.key_registry import KeyRegistry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class StaleUpdate(Exception):  # noqa: N818 - an outcome, not a failure
    """The stored Customer reflects a newer Salesforce change than the one being applied."""


@dataclass(frozen=True)
class AccountLink:
    """The Customer an Account is linked to; `placeholder` until the Account's own notification confirms it."""

    customer_id: str
    placeholder: bool = False


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
        link = self.account_link(account_id)
        return link.customer_id if link else None

    def account_link(self, account_id: str) -> AccountLink | None:
        """The Account's link, read consistently, if it has one."""
        claim = self.keys.get(f"account#{account_id}")
        return _link(claim) if claim else None

    def link_account(self, account_id: str, customer_id: str, *, placeholder: bool = False) -> AccountLink:
        """Link the Account to a Customer unless it is linked already; return whichever link won."""
        attributes: dict[str, Any] = {"CustomerID": customer_id} | ({"Placeholder": True} if placeholder else {})
        return _link(self.keys.claim(f"account#{account_id}", attributes))

    def confirm_link(self, account_id: str, customer_id: str) -> AccountLink:
        """Turn a placeholder link into the real one (idempotent); a link already confirmed is left as it is."""
        from botocore.exceptions import ClientError

        try:
            self.keys.table.update_item(
                Key={"Key": f"account#{account_id}"},
                UpdateExpression="SET CustomerID = :c REMOVE Placeholder",
                ConditionExpression="attribute_exists(Placeholder) OR CustomerID = :c",
                ExpressionAttributeValues={":c": customer_id},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.account_link(account_id)
            assert current is not None  # a link is never deleted
            return current
        return AccountLink(customer_id)

    def create_placeholder(self, account_id: str) -> None:
        """The placeholder Customer of an Account not yet heard of (keyed by the Account id); kept if present."""
        from botocore.exceptions import ClientError

        try:
            self.table.put_item(
                Item={
                    "CustomerID": account_id,
                    "CompanyName": f"Salesforce Account {account_id}",
                    "SalesforceAccountId": account_id,
                    "Placeholder": True,
                },
                ConditionExpression="attribute_not_exists(CustomerID)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def remove_placeholder(self, customer_id: str) -> bool:
        """Delete the Customer if it is (still) a placeholder; True when one was deleted."""
        from botocore.exceptions import ClientError

        try:
            self.table.delete_item(
                Key={"CustomerID": customer_id},
                ConditionExpression="attribute_exists(Placeholder)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def upsert(self, customer_id: str, changes: dict[str, Any], *, modstamp: str | None) -> None:
        """Set (or, for None values, remove) attributes; refuse a change older than the stored one."""
        from botocore.exceptions import ClientError

        from sf_edge.aws.update_expressions import set_or_remove

        update = set_or_remove(changes | ({"SalesforceModstamp": modstamp} if modstamp else {}))
        names = update.names
        kwargs: dict[str, Any] = {
            "Key": {"CustomerID": customer_id},
            "UpdateExpression": update.expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": update.values,
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


def _link(claim: dict[str, Any]) -> AccountLink:
    return AccountLink(str(claim["CustomerID"]), bool(claim.get("Placeholder")))
