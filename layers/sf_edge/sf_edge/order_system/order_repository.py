"""Orders in DynamoDB: exactly one Order per won Opportunity, however often Salesforce tells us."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sf_edge.aws.item_table import MAX_TRANSACTION, ItemTable
from sf_edge.domain_errors import ConditionNotMet
from sf_edge.order_system.entities import Customer, Order, OrderDetail, ship_to
from sf_edge.order_system.key_registry import KeyRegistry
from sf_edge.row_version import VERSION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

ORDER_SEQUENCE = "Orders"
CUSTOMER_INDEX = "CustomerID-index"


class OrderRepository:
    """Reads and writes Orders (partition key `OrderID`)."""

    def __init__(self, table: Table, keys: KeyRegistry, details: Table | None = None) -> None:
        self.table = ItemTable(table)
        self.keys = keys
        self.details = ItemTable(details) if details is not None else None

    def lines(self, order_id: int) -> list[OrderDetail]:
        """The Order's lines (a Query on the Order_Details key)."""
        from boto3.dynamodb.conditions import Key

        items = self._details_table().query(KeyConditionExpression=Key("OrderID").eq(order_id))
        return [OrderDetail.model_validate(item) for item in items]

    def for_customer(self, customer_id: str) -> list[Order]:
        """Every Order of a Customer (a Query on the CustomerID index)."""
        from boto3.dynamodb.conditions import Key

        items = self.table.query(IndexName=CUSTOMER_INDEX, KeyConditionExpression=Key("CustomerID").eq(customer_id))
        return [Order.model_validate(item) for item in items]

    def order_id_for_opportunity(self, opportunity_id: str) -> int | None:
        """The OrderID claimed for the Opportunity, if any."""
        claim = self.keys.get(f"opportunity#{opportunity_id}")
        return int(claim["OrderID"]) if claim else None

    def order_ids_for_opportunities(self, opportunity_ids: Sequence[str]) -> dict[str, int]:
        """The OrderIDs claimed for these Opportunities (read in batches); unclaimed ones left out."""
        claims = self.keys.get_many([f"opportunity#{o}" for o in opportunity_ids])
        return {key.removeprefix("opportunity#"): int(claim["OrderID"]) for key, claim in claims.items()}

    def get(self, order_id: int) -> Order | None:
        """The Order with this id, if any."""
        item = self.table.get({"OrderID": order_id})
        return Order.model_validate(item) if item else None

    def create_for_opportunity(
        self, opportunity_id: str, order: Order, lines: Sequence[OrderDetail] = ()
    ) -> tuple[Order, bool]:
        """Create the Opportunity's Order with its lines unless it exists; return it and whether this call
        created it.

        The claim is written before the Order, so a crash between the two is repaired by the retry: it finds
        the claim and writes the Order under the claimed id. The Order and its lines are one transaction (up to
        99 lines); beyond, the lines are written first and the Order last, so an Order is never seen without
        all its lines (the lines of an Order not yet written are all a crash can leave, and the retry writes the
        same lines again).
        """
        key = f"opportunity#{opportunity_id}"
        claim = self.keys.get(key) or self.keys.claim(key, {"OrderID": self.keys.next_value(ORDER_SEQUENCE)})
        claimed = order.model_copy(update={"OrderID": int(claim["OrderID"])})
        details = [line.model_copy(update={"OrderID": claimed.OrderID}) for line in lines]
        if not self._put_new(claimed, details):
            existing = self.get(claimed.OrderID)
            return (existing or claimed), False
        return claimed, True

    def _put_new(self, order: Order, details: Sequence[OrderDetail]) -> bool:
        """Write a new Order and its lines; False when the Order exists (nothing written)."""
        item = order.model_dump(exclude_none=True) | {VERSION: 1}
        if not details:
            try:
                self.table.put(item, ConditionExpression="attribute_not_exists(OrderID)")
            except ConditionNotMet:
                return False
            return True
        details_table = self._details_table()
        put_order = {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(OrderID)"}}
        if len(details) < MAX_TRANSACTION:
            unit = [put_order, *({"Put": {"TableName": details_table.name, "Item": _line_item(d)}} for d in details)]
            return not self.table.write_conditionally([unit])
        if self.get(order.OrderID) is not None:
            return False
        details_table.put_all(_line_item(d) for d in details)
        return not self.table.write_conditionally([[put_order]])

    def complete_lines(self, order_id: int, lines: Sequence[OrderDetail]) -> bool:
        """Give an Order created without its lines (LinesStatus other than complete) the lines read since, in one
        transaction with its status; True when this call did. An Order that shipped, was completed meanwhile, or
        already has one of these lines (written by the order system) is left as it is."""
        if not 0 < len(lines) < MAX_TRANSACTION:
            return False  # more lines than one transaction: reported on the Order, completed by hand
        details_table = self._details_table()
        update = {
            "Update": {
                "Key": {"OrderID": order_id},
                "UpdateExpression": "SET LinesStatus = :complete, #v = if_not_exists(#v, :zero) + :one "
                "REMOVE LinesProblem",
                "ConditionExpression": "attribute_exists(OrderID) AND attribute_exists(LinesStatus) "
                "AND LinesStatus <> :complete AND attribute_not_exists(ShippedDate)",
                "ExpressionAttributeNames": {"#v": VERSION},
                "ExpressionAttributeValues": {":complete": "complete", ":zero": 0, ":one": 1},
            }
        }
        puts = [
            {
                "Put": {
                    "TableName": details_table.name,
                    "Item": _line_item(line.model_copy(update={"OrderID": order_id})),
                    "ConditionExpression": "attribute_not_exists(OrderID)",
                }
            }
            for line in lines
        ]
        return not self.table.write_conditionally([[update, *puts]])

    def _details_table(self) -> ItemTable:
        assert self.details is not None, "OrderRepository built without the Order_Details table"
        return self.details

    def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]:
        """The stored Orders with these ids, read consistently in batches; absent ones left out."""
        found = self.table.get_many([{"OrderID": i} for i in order_ids])
        return {int(item["OrderID"]): Order.model_validate(item) for item in found}

    def create_many_for_opportunities(self, orders: Mapping[str, Order]) -> dict[str, Order]:
        """`create_for_opportunity` for Opportunities with no claim yet: OrderIDs taken in one increment, each
        claim written with its Order in one transaction (100 actions each), so neither is ever written alone.
        Return the Orders created; an Opportunity claimed meanwhile (another channel brought it first) is left
        out, for the one-row path."""
        opportunities = list(orders)
        ids = self.keys.next_values(ORDER_SEQUENCE, len(opportunities)) if opportunities else []
        created = {
            opportunity: orders[opportunity].model_copy(update={"OrderID": order_id})
            for opportunity, order_id in zip(opportunities, ids, strict=True)
        }
        units = [
            [
                self.keys.claim_action(f"opportunity#{opportunity}", {"OrderID": order.OrderID}),
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": order.model_dump(exclude_none=True) | {VERSION: 1},
                        "ConditionExpression": "attribute_not_exists(OrderID)",
                    }
                },
            ]
            for opportunity, order in created.items()
        ]
        lost = self.table.write_conditionally(units)
        return {o: order for i, (o, order) in enumerate(created.items()) if i not in lost}

    def mark_deleted(self, order_id: int) -> bool:
        """Mark the Order as deleted in Salesforce (its Opportunity was); True when this call marked it."""
        try:
            self.table.update(
                {"OrderID": order_id},
                UpdateExpression="SET SalesforceDeleted = :yes, #v = if_not_exists(#v, :zero) + :one",
                ConditionExpression="attribute_exists(OrderID) AND attribute_not_exists(SalesforceDeleted)",
                ExpressionAttributeNames={"#v": VERSION},
                ExpressionAttributeValues={":yes": True, ":zero": 0, ":one": 1},
            )
        except ConditionNotMet:
            return False
        return True

    def follow_customer(self, order: Order, customer: Customer) -> bool:
        """Point an unshipped Order that came from Salesforce at `customer` and its current ship-to; an Order
        that shipped keeps where it went. True when something changed."""
        from sf_edge.aws.update_expressions import set_or_remove

        wanted: dict[str, Any] = {"CustomerID": customer.CustomerID, **ship_to(customer)}
        if order.ShippedDate or not order.SalesforceOpportunityId:
            return False
        if all(getattr(order, column) == value for column, value in wanted.items()):
            return False
        update = set_or_remove(wanted, more_sets=["#v = if_not_exists(#v, :zero) + :one"])
        try:
            self.table.update(
                {"OrderID": order.OrderID},
                UpdateExpression=update.expression,
                ConditionExpression="attribute_exists(OrderID) AND attribute_not_exists(ShippedDate)",
                ExpressionAttributeNames=update.names | {"#v": VERSION},
                ExpressionAttributeValues=update.values | {":zero": 0, ":one": 1},
            )
        except ConditionNotMet:
            return False  # shipped meanwhile: where it went is history
        return True


def _line_item(detail: OrderDetail) -> dict[str, Any]:
    return detail.model_dump() | {VERSION: 1}
