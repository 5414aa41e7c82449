"""UI update on data change: when the order system changes an Order that Salesforce created (it ships, its freight
is set, it is deleted), that change becomes one `Order_Status__e` Platform Event and one write-back of the
Opportunity's integration fields.

A change is named by the Order and the row version it reached (`<OrderID>#<_v>`; every writer moves the version),
so a stream record delivered again is the same change, and two changes of one Order are two events. What the
event carries is the Order as it is after the change; Salesforce's subscribers (the Lightning component on the
Opportunity page) show the newest by `Changed_At__c` and may drop an event whose `Change_Key__c` they have seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sf_edge.row_version import version_of
from sf_edge.write_back.messages import WriteBack

EVENT_TYPE = "Order_Status__e"
OPEN, SHIPPED, DELETED = "Open", "Shipped", "Deleted"
# The Order columns whose change Salesforce hears of (the rest stay in the order system).
WATCHED = ("ShippedDate", "Freight")


class OrderStatusChange(BaseModel):
    """One change of a Salesforce Order, as queued for publishing (the queue message's one contract)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=3, description="<OrderID>#<row version>: one change, however often delivered")
    order_id: int
    opportunity_id: str = Field(min_length=15, max_length=18)
    status: str
    shipped_date: str | None = None
    freight: Decimal | None = None
    changed_at: str

    def platform_event(self) -> dict[str, Any]:
        """The `Order_Status__e` record sObject Collections creates (publishes)."""
        return {
            "attributes": {"type": EVENT_TYPE},
            "Order_Id__c": str(self.order_id),
            "Opportunity_Id__c": self.opportunity_id,
            "Status__c": self.status,
            "Shipped_Date__c": self.shipped_date[:10] if self.shipped_date else None,
            "Freight__c": float(self.freight) if self.freight is not None else None,
            "Change_Key__c": self.key,
            "Changed_At__c": self.changed_at,
        }

    def write_back(self) -> WriteBack:
        """The Opportunity's integration fields, so a list view shows what the event told the open page."""
        return WriteBack(
            sobject="Opportunity",
            record_id=self.opportunity_id,
            fields={
                "ERP_Order_Status__c": self.status,
                "ERP_Shipped_Date__c": self.shipped_date[:10] if self.shipped_date else None,
                "ERP_Freight__c": float(self.freight) if self.freight is not None else None,
            },
            origin=f"order-status#{self.key}",
            stamp=self.changed_at,
        )


def status_of(order: Mapping[str, Any] | None) -> str:
    """What Salesforce is told the Order's state is."""
    if not order:
        return DELETED
    return SHIPPED if order.get("ShippedDate") else OPEN


def status_change(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *, changed_at: datetime | None = None
) -> OrderStatusChange | None:
    """The change Salesforce hears of between two images of an Order row (a stream record's), or None: the Order
    did not come from Salesforce, was just created (Salesforce created it), or changed nothing it is told of."""
    after = new or {}
    before = old or {}
    opportunity_id = after.get("SalesforceOpportunityId") or before.get("SalesforceOpportunityId")
    if not opportunity_id or old is None:
        return None
    if new is not None and all(_same(before.get(c), after.get(c)) for c in WATCHED):
        return None
    current = after or before
    version = version_of(after) if new is not None else version_of(before) + 1  # a delete is one change more
    freight = current.get("Freight") if new is not None else None
    return OrderStatusChange(
        key=f"{int(current['OrderID'])}#{version}",
        order_id=int(current["OrderID"]),
        opportunity_id=str(opportunity_id),
        status=status_of(new),
        shipped_date=str(after["ShippedDate"]) if after.get("ShippedDate") else None,
        freight=Decimal(str(freight)) if freight is not None else None,
        changed_at=(changed_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds"),
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)
