"""Reference handlers on the order system: Opportunity Closed Won → Order, Account → Customer.

Salesforce delivers at least once and in no particular order, so each handler is an idempotent merge keyed on
Salesforce ids (claims in the key registry), on top of the worker's per-notification idempotency, and the end
state is the same for every delivery order and every duplicate:
- an Account change older than the one stored (its SystemModstamp, else LastModifiedDate) changes nothing;
- a won Opportunity whose Account is not known yet gets a placeholder Customer; the Account's notification,
  whenever it comes, decides the real Customer (its AccountNumber, else the Account id), moves the placeholder's
  Orders to it and removes the placeholder;
- an Order created from Salesforce ships to its Customer's current address until it ships.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from sf_edge.notifications.routing import HandlerRegistry, HandlerResult, Services
from sf_edge.order_system.customer_repository import StaleUpdate
from sf_edge.order_system.entities import Order
from sf_edge.order_system.order_repository import ship_to
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
    link = services.customers.account_link(account_id)
    if link is None:
        # The Account's own notification may still be on its way (no ordering): a placeholder it will replace.
        link = services.customers.link_account(account_id, account_id, placeholder=True)
        if link.placeholder:
            services.customers.create_placeholder(account_id)
    customer = services.customers.get(link.customer_id)
    order_date = (opportunity.CloseDate or message.received_at.date()).isoformat() + "T00:00:00Z"
    order, created = services.orders.create_for_opportunity(
        to_18(opportunity.Id),
        Order(
            OrderID=0,
            CustomerID=link.customer_id,
            OrderDate=order_date,
            **ship_to(customer),
            SalesforceOpportunityId=to_18(opportunity.Id),
            SalesforceAmount=opportunity.Amount,
        ),
    )
    if link.placeholder:
        # The Account may have replaced the placeholder while this ran: follow the link as it is now.
        now = services.customers.account_link(account_id)
        if now is not None and not now.placeholder:
            real = services.customers.get(now.customer_id)
            if real is not None:
                services.orders.follow_customer(order, real)
                services.customers.remove_placeholder(account_id)
                link = now
    return {
        "action": "order_created" if created else "order_exists",
        "orderId": order.OrderID,
        "customerId": link.customer_id,
    }


@registry.register("Account")
def account_to_customer(message: NotificationMessage, services: Services) -> HandlerResult:
    """Upsert the Account's Customer (linked once: by AccountNumber to an existing Customer, or new), replace a
    placeholder a won Opportunity left, and keep its unshipped Salesforce Orders shipping to it."""
    account = _AccountFields.model_validate(message.fields)
    account_id = to_18(account.Id)
    preferred = (account.AccountNumber or "").strip() or account_id
    link = services.customers.account_link(account_id) or services.customers.link_account(account_id, preferred)
    customer_id = preferred if link.placeholder else link.customer_id
    changes: dict[str, object] = {"SalesforceAccountId": account_id}
    for field, column in _ACCOUNT_TO_CUSTOMER.items():
        if field in message.fields:
            changes[column] = getattr(account, field)
        elif field in message.null_fields:
            changes[column] = None  # Salesforce omits null fields: the WSDL has it, the message does not
    if customer_id == account_id:
        changes["Placeholder"] = None  # the Account's own data: no longer a placeholder
    if changes.get("CompanyName") is None and services.customers.get(customer_id) is None:
        changes["CompanyName"] = f"Salesforce Account {account_id}"
    stamp = account.SystemModstamp or account.LastModifiedDate
    modstamp = stamp.astimezone(UTC).isoformat() if stamp else None
    try:
        services.customers.upsert(customer_id, changes, modstamp=modstamp)
    except StaleUpdate:
        stale = True
    else:
        stale = False
    if link.placeholder:
        services.customers.confirm_link(account_id, customer_id)
    customer = services.customers.get(customer_id)
    if customer is not None:
        # Orders a placeholder held (also after a crash between these steps: the placeholder id is the
        # Account id), then every unshipped Salesforce Order of the Customer, ship to it as it is now.
        moved = [] if customer_id == account_id else services.orders.for_customer(account_id)
        for order in [*moved, *services.orders.for_customer(customer_id)]:
            services.orders.follow_customer(order, customer)
        if customer_id != account_id:
            services.customers.remove_placeholder(account_id)
    if stale:
        return {"action": "stale_ignored", "customerId": customer_id}
    return {"action": "customer_upserted", "customerId": customer_id}
