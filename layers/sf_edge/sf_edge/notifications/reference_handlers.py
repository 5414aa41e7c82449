"""Reference handlers on the order system: Opportunity Closed Won → Order, Account → Customer.

Each handler is idempotent on its own (claims in the key registry), on top of the worker's per-notification
idempotency, because Salesforce delivers at least once and in no particular order.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from sf_edge.notifications.routing import HandlerRegistry, HandlerResult, Services
from sf_edge.order_system.customer_repository import StaleUpdate
from sf_edge.order_system.entities import Order
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.outbound_messages import NotificationMessage

CLOSED_WON = "Closed Won"


def record_unrouted(message: NotificationMessage, services: Services) -> HandlerResult:
    """Default handler: no handler is registered for this listener and sObject type, so keep the message."""
    services.archive.record(message, why="no handler registered")
    return {"action": "archived"}


registry = HandlerRegistry(default=record_unrouted)


class _OpportunityFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Id: str
    AccountId: str | None = None
    Name: str | None = None
    StageName: str | None = None
    IsWon: bool | None = None
    Amount: Decimal | None = None
    CloseDate: date | None = None


class _AccountFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Id: str
    Name: str | None = None
    AccountNumber: str | None = None
    Phone: str | None = None
    Fax: str | None = None
    BillingStreet: str | None = None
    BillingCity: str | None = None
    BillingState: str | None = None
    BillingPostalCode: str | None = None
    BillingCountry: str | None = None
    SystemModstamp: datetime | None = None
    LastModifiedDate: datetime | None = None


# Account field → Customer column.
_ACCOUNT_TO_CUSTOMER = {
    "Name": "CompanyName",
    "Phone": "Phone",
    "Fax": "Fax",
    "BillingStreet": "Address",
    "BillingCity": "City",
    "BillingState": "Region",
    "BillingPostalCode": "PostalCode",
    "BillingCountry": "Country",
}


@registry.register("Opportunity")
def opportunity_closed_won(message: NotificationMessage, services: Services) -> HandlerResult:
    """A won Opportunity becomes one Order for its Account's Customer; other stages change nothing."""
    opportunity = _OpportunityFields.model_validate(message.fields)
    if not (opportunity.IsWon or opportunity.StageName == CLOSED_WON):
        return {"action": "ignored", "reason": f"stage {opportunity.StageName!r} is not {CLOSED_WON}"}
    if not opportunity.AccountId:
        services.archive.record(message, why="won Opportunity without AccountId")
        return {"action": "archived", "reason": "no AccountId"}
    account_id = to_18(opportunity.AccountId)
    customer_id = services.customers.customer_id_for_account(account_id)
    if customer_id is None:
        # The Account's own notification may still be on its way (no ordering): link a placeholder it will fill.
        customer_id = services.customers.link_account(account_id, account_id)
        services.customers.upsert(
            customer_id,
            {"CompanyName": f"Salesforce Account {account_id}", "SalesforceAccountId": account_id},
            modstamp=None,
        )
    customer = services.customers.get(customer_id)
    order_date = (opportunity.CloseDate or message.received_at.date()).isoformat() + "T00:00:00Z"
    order, created = services.orders.create_for_opportunity(
        to_18(opportunity.Id),
        Order(
            OrderID=0,
            CustomerID=customer_id,
            OrderDate=order_date,
            ShipName=customer.CompanyName if customer else None,
            ShipAddress=customer.Address if customer else None,
            ShipCity=customer.City if customer else None,
            ShipRegion=customer.Region if customer else None,
            ShipPostalCode=customer.PostalCode if customer else None,
            ShipCountry=customer.Country if customer else None,
            SalesforceOpportunityId=to_18(opportunity.Id),
            SalesforceAmount=opportunity.Amount,
        ),
    )
    return {
        "action": "order_created" if created else "order_exists",
        "orderId": order.OrderID,
        "customerId": customer_id,
    }


@registry.register("Account")
def account_to_customer(message: NotificationMessage, services: Services) -> HandlerResult:
    """Upsert the Account's Customer: linked once (by AccountNumber to an existing Customer, or new)."""
    account = _AccountFields.model_validate(message.fields)
    account_id = to_18(account.Id)
    customer_id = services.customers.customer_id_for_account(account_id)
    if customer_id is None:
        preferred = (account.AccountNumber or "").strip() or account_id
        customer_id = services.customers.link_account(account_id, preferred)
    changes: dict[str, object] = {"SalesforceAccountId": account_id}
    for field, column in _ACCOUNT_TO_CUSTOMER.items():
        if field in message.fields:
            changes[column] = getattr(account, field)
        elif field in message.null_fields:
            changes[column] = None  # Salesforce omits null fields: the WSDL has it, the message does not
    if changes.get("CompanyName") is None and services.customers.get(customer_id) is None:
        changes["CompanyName"] = f"Salesforce Account {account_id}"
    stamp = account.SystemModstamp or account.LastModifiedDate
    modstamp = stamp.astimezone(UTC).isoformat() if stamp else None
    try:
        services.customers.upsert(customer_id, changes, modstamp=modstamp)
    except StaleUpdate:
        return {"action": "stale_ignored", "customerId": customer_id}
    return {"action": "customer_upserted", "customerId": customer_id}
