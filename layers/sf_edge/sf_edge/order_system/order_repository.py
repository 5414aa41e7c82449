"""Orders in DynamoDB: exactly one Order per won Opportunity, however often Salesforce tells us."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sf_edge.order_system.entities import Order
from sf_edge.order_system.key_registry import KeyRegistry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

ORDER_SEQUENCE = "Orders"


class OrderRepository:
    """Reads and writes Orders (partition key `OrderID`)."""

    def __init__(self, table: Table, keys: KeyRegistry) -> None:
        self.table = table
        self.keys = keys

    def get(self, order_id: int) -> Order | None:
        """The Order with this id, if any."""
        item = self.table.get_item(Key={"OrderID": order_id}, ConsistentRead=True).get("Item")
        return Order.model_validate(item) if item else None

    def create_for_opportunity(self, opportunity_id: str, order: Order) -> tuple[Order, bool]:
        """Create the Opportunity's Order unless it exists; return it and whether this call created it.

        The claim is written before the Order, so a crash between the two is repaired by the retry: it finds
        the claim and writes the Order under the claimed id.
        """
        from botocore.exceptions import ClientError

        key = f"opportunity#{opportunity_id}"
        claim = self.keys.get(key) or self.keys.claim(key, {"OrderID": self.keys.next_value(ORDER_SEQUENCE)})
        claimed = order.model_copy(update={"OrderID": int(claim["OrderID"])})
        try:
            self.table.put_item(
                Item=claimed.model_dump(exclude_none=True),
                ConditionExpression="attribute_not_exists(OrderID)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = self.get(claimed.OrderID)
            return (existing or claimed), False
        return claimed, True
