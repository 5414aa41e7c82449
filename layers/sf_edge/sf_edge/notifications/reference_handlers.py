"""Reference handlers on the order system: Opportunity Closed Won → Order with its lines, Account → Customer.

Salesforce delivers at least once and in no particular order, so each handler is an idempotent merge keyed on
Salesforce ids (claims in the key registry), on top of the worker's per-notification idempotency, and the end
state is the same for every delivery order and every duplicate:
- an Account change older than the one stored (its SystemModstamp, else LastModifiedDate) changes nothing;
- a won Opportunity whose Account is not known yet gets a placeholder Customer; the Account's notification,
  whenever it comes, decides the real Customer (its AccountNumber, else the Account id), moves the placeholder's
  Orders to it and removes the placeholder;
- an Order created from Salesforce ships to its Customer's current address until it ships.

Relayed events (Event Relay → EventBridge) reach the same logic: an AccountChangeEvent is applied field by field
(each column keeps the stamp of its last change, so partial UPDATEs converge in any order and the same change
brought by an Outbound Message and by CDC lands once), and an Order_Request__e Platform Event creates the same
Order as a won Opportunity.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, ValidationError

from sf_edge.notifications.routing import HandlerRegistry, HandlerResult, Services
from sf_edge.order_system.entities import Customer, Order, ship_to
from sf_edge.order_system.order_lines import (
    LINES_COMPLETE,
    LINES_UNAVAILABLE,
    LINES_UNMAPPED,
    LinePlan,
    plan_lines,
    unavailable,
)
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.line_items import LineItem, OpportunityNotFoundError
from sf_edge.salesforce.notification_message import EVENT_RELAY_LISTENER, NotificationMessage
from sf_edge.salesforce.rest_client import SalesforceError

CLOSED_WON = "Closed Won"
MARKED_FOR_RECONCILIATION = "marked_for_reconciliation"


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
    IsDeleted: bool | None = None  # the bulk sync reads deleted records too (queryAll)

    @property
    def won(self) -> bool:
        """Closed Won (IsWon, or the stage by name when the message carries no IsWon)."""
        return bool(self.IsWon or self.StageName == CLOSED_WON)


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
    IsDeleted: bool | None = None  # the bulk sync reads deleted records too (queryAll)


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
    """A won Opportunity becomes one Order for its Account's Customer; other stages change nothing. A deleted
    one (the bulk sync reads deleted records) marks its Order deleted, and creates none."""
    opportunity = _OpportunityFields.model_validate(message.fields)
    if opportunity.IsDeleted:
        return mark_order_deleted(to_18(opportunity.Id), services)
    if not opportunity.won:
        return {"action": "ignored", "reason": f"stage {opportunity.StageName!r} is not {CLOSED_WON}"}
    return create_order(message, opportunity, services)


def won_opportunity_id(message: NotificationMessage) -> str | None:
    """The Opportunity's 18-character id when the notification is of a won (not deleted) Opportunity, or an
    Order_Request__e (which makes the same Order)."""
    if message.sobject_type == "Order_Request__e" and message.listener == EVENT_RELAY_LISTENER:
        try:
            return to_18(_OrderRequestFields.model_validate(message.fields).Opportunity_Id__c)
        except (ValidationError, ValueError):
            return None
    if message.sobject_type != "Opportunity":
        return None
    try:
        opportunity = _OpportunityFields.model_validate(message.fields)
        return to_18(opportunity.Id) if opportunity.won and not opportunity.IsDeleted else None
    except (ValidationError, ValueError):
        return None


def create_order(message: NotificationMessage, opportunity: _OpportunityFields, services: Services) -> HandlerResult:
    """One Order with its lines for a won Opportunity, for its Account's Customer (a placeholder until the Account
    is known). An Order that exists without its lines gets them once they can be read and mapped."""
    if not opportunity.AccountId:
        services.archive.record(message, why="won Opportunity without AccountId")
        return {"action": "archived", "reason": "no AccountId"}
    account_id = to_18(opportunity.AccountId)
    opportunity_id = to_18(opportunity.Id)
    existing_id = services.orders.order_id_for_opportunity(opportunity_id)
    existing = services.orders.get(existing_id) if existing_id is not None else None
    if existing is not None:
        linked = services.customers.account_link(account_id)
        customer_id = linked.customer_id if linked else existing.CustomerID
        return {**_order_exists(existing, opportunity_id, services), "customerId": customer_id}
    link = services.customers.account_link(account_id)
    if link is None:
        # The Account's own notification may still be on its way (no ordering): a placeholder it will replace.
        link = services.customers.link_account(account_id, account_id, placeholder=True)
        if link.placeholder:
            services.customers.create_placeholder(account_id)
    customer = services.customers.get(link.customer_id)
    plan = read_lines(opportunity_id, services)
    order, created = services.orders.create_for_opportunity(
        opportunity_id, new_order(message, opportunity, link.customer_id, customer, plan), plan.details
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
    if not created:
        return {**_order_exists(order, opportunity_id, services), "customerId": link.customer_id}
    return {**order_result("order_created", order, opportunity_id), "customerId": link.customer_id}


def line_items_or_why(opportunity_id: str, services: Services) -> list[LineItem] | str:
    """The Opportunity's lines, read in one call (a transient failure raises: the notification is retried), or
    why there are none to be had: no Salesforce, the Opportunity gone, Salesforce refusing the read for good."""
    if services.line_items is None:
        return services.lines_not_read
    try:
        return services.line_items.line_items(opportunity_id)
    except OpportunityNotFoundError:
        return "line items not read: the Opportunity is no longer in Salesforce"
    except SalesforceError as refused:
        if refused.retryable:
            raise
        return f"line items could not be read: {refused}"[:1000]


def read_lines(opportunity_id: str, services: Services) -> LinePlan:
    """The Opportunity's lines as Order_Details, or none and why."""
    items = line_items_or_why(opportunity_id, services)
    return unavailable(items) if isinstance(items, str) else plan_lines(items, services.product_codes)


def _order_exists(order: Order, opportunity_id: str, services: Services) -> HandlerResult:
    """The Opportunity's Order exists: completed with its lines when it has none yet and they can be had now."""
    if order.LinesStatus in (LINES_UNAVAILABLE, LINES_UNMAPPED) and not order.ShippedDate:
        plan = read_lines(opportunity_id, services)
        if (
            plan.status == LINES_COMPLETE
            and plan.details
            and services.orders.complete_lines(order.OrderID, plan.details)
        ):
            order = order.model_copy(update={"LinesStatus": LINES_COMPLETE, "LinesProblem": None})
    return order_result("order_exists", order, opportunity_id)


def order_result(action: str, order: Order, opportunity_id: str) -> HandlerResult:
    """What a won Opportunity's handler answers (and the write-back rules read): the Order and its lines' state."""
    return {
        "action": action,
        "orderId": order.OrderID,
        "customerId": order.CustomerID,
        "opportunityId": opportunity_id,
        "linesStatus": order.LinesStatus,
        # What the Opportunity's Integration_Message__c says: nothing when the Order is complete.
        "linesMessage": order.LinesProblem if order.LinesStatus not in (None, LINES_COMPLETE) else "",
    }


def mark_order_deleted(opportunity_id: str, services: Services) -> HandlerResult:
    """The Opportunity was deleted in Salesforce: its Order (an ERP's by now) is kept, marked deleted."""
    order_id = services.orders.order_id_for_opportunity(opportunity_id)
    if order_id is None:
        return {"action": "ignored", "reason": "deleted in Salesforce", "opportunityId": opportunity_id}
    services.orders.mark_deleted(order_id)
    return {"action": ORDER_MARKED_DELETED, "orderId": order_id, "opportunityId": opportunity_id}


ORDER_MARKED_DELETED = "order_marked_deleted"


def new_order(
    message: NotificationMessage,
    opportunity: _OpportunityFields,
    customer_id: str,
    customer: Customer | None,
    lines: LinePlan,
) -> Order:
    """The Order a won Opportunity becomes (its OrderID is given when it is claimed), saying whether it holds
    the Opportunity's lines."""
    order_date = (opportunity.CloseDate or message.received_at.date()).isoformat() + "T00:00:00Z"
    return Order(
        OrderID=0,
        CustomerID=customer_id,
        OrderDate=order_date,
        **ship_to(customer),
        SalesforceOpportunityId=to_18(opportunity.Id),
        SalesforceAmount=opportunity.Amount,
        LinesStatus=lines.status,
        LinesProblem=lines.problem,
    )


@registry.register("Account")
def account_to_customer(message: NotificationMessage, services: Services) -> HandlerResult:
    """Upsert the Account's Customer (linked once: by AccountNumber to an existing Customer, or new), replace a
    placeholder a won Opportunity left, and keep its unshipped Salesforce Orders shipping to it."""
    deleted = _AccountFields.model_validate(message.fields).IsDeleted
    return apply_account(message, services, stamp=_modstamp(message.fields), decides=True, deleted=deleted)


def _modstamp(fields: dict[str, object]) -> str | None:
    """When the Account was last changed (SystemModstamp, else LastModifiedDate), in the form stamps compare in."""
    account = _AccountFields.model_validate(fields)
    modified = account.SystemModstamp or account.LastModifiedDate
    return modified.astimezone(UTC).isoformat() if modified else None


def apply_account(
    message: NotificationMessage, services: Services, *, stamp: str | None, decides: bool, deleted: bool | None = None
) -> HandlerResult:
    """Apply an Account's fields (those in the message, and its null fields) to its Customer.

    `decides`: the message knows the Account Number (a whole record, or a change of it), so it decides which
    Customer the Account is linked to; otherwise an Account not linked yet gets a placeholder that such a message
    replaces later, handing on the newer fields it gathered. `stamp` orders changes per field (None: apply as is).
    `deleted` marks (True) or unmarks (False) the Customer as deleted in Salesforce."""
    account = _AccountFields.model_validate(message.fields)
    account_id = to_18(account.Id)
    link = services.customers.account_link(account_id)
    if decides:
        preferred = (account.AccountNumber or "").strip() or account_id
        link = link or services.customers.link_account(account_id, preferred)
        customer_id = preferred if link.placeholder else link.customer_id
    else:
        if link is None:
            link = services.customers.link_account(account_id, account_id, placeholder=True)
            if link.placeholder:
                services.customers.create_placeholder(account_id)
        customer_id = link.customer_id
    changes = customer_changes(message, account, account_id, deleted=deleted, own=decides and customer_id == account_id)
    if stamp is None:
        stale = _write_unstamped(services, customer_id, account_id, changes)
    else:
        services.customers.ensure(customer_id, account_id)
        stale = not services.customers.merge(customer_id, changes, stamp=stamp)
    if decides and link.placeholder:
        services.customers.confirm_link(account_id, customer_id)
        if customer_id != account_id:
            # What changes arrived before this one gathered on the placeholder: the newer of them still count.
            gathered, stamps = services.customers.stamped_fields(account_id)
            if gathered:
                services.customers.merge(customer_id, gathered, stamp=stamps)
    customer = services.customers.get(customer_id)
    if customer is not None:
        # Orders a placeholder held (also after a crash between these steps: the placeholder id is the
        # Account id), then every unshipped Salesforce Order of the Customer, ship to it as it is now.
        moved = [] if customer_id == account_id else services.orders.for_customer(account_id)
        for order in [*moved, *services.orders.for_customer(customer_id)]:
            services.orders.follow_customer(order, customer)
        if customer_id != account_id and (decides or not link.placeholder):
            services.customers.remove_placeholder(account_id)
    if stale:
        return {"action": "stale_ignored", "customerId": customer_id}
    return {"action": "customer_upserted", "customerId": customer_id}


def customer_changes(
    message: NotificationMessage, account: _AccountFields, account_id: str, *, deleted: bool | None, own: bool
) -> dict[str, object]:
    """The Customer columns an Account's message sets (its fields, and its null fields as None); `own`: the
    Customer is keyed by the Account id and this message is the Account's own data (no longer a placeholder)."""
    changes: dict[str, object] = {"SalesforceAccountId": account_id}
    for field, column in _ACCOUNT_TO_CUSTOMER.items():
        if field in message.fields:
            changes[column] = getattr(account, field)
        elif field in message.null_fields:
            changes[column] = None  # Salesforce omits null fields: the WSDL has it, the message does not
    if deleted is not None:
        changes["SalesforceDeleted"] = True if deleted else None
    if own:
        changes["Placeholder"] = None
    return changes


def _write_unstamped(services: Services, customer_id: str, account_id: str, changes: dict[str, object]) -> bool:
    """A change with no stamp to order it by: applied as it is (never stale)."""
    if changes.get("CompanyName") is None and services.customers.get(customer_id) is None:
        changes["CompanyName"] = f"Salesforce Account {account_id}"
    services.customers.upsert(customer_id, changes, modstamp=None)
    return False


@registry.register("AccountChangeEvent", listener=EVENT_RELAY_LISTENER)
def account_change_to_customer(message: NotificationMessage, services: Services) -> HandlerResult:
    """A relayed Account change: CREATE and UNDELETE carry the whole record, an UPDATE only what changed (merged
    field by field, newest wins), DELETE marks the Customer deleted; a gap event re-reads the record from
    Salesforce when a client is configured, and otherwise marks it for reconciliation."""
    change = message.change
    if change is None:
        services.archive.record(message, why="AccountChangeEvent without a ChangeEventHeader")
        return {"action": "archived", "reason": "no ChangeEventHeader"}
    if change.change_type.startswith("GAP_"):
        return reread_or_mark(message, services)
    if change.change_type == "DELETE":
        return apply_account(message, services, stamp=change.stamp, decides=False, deleted=True)
    whole = change.change_type in ("CREATE", "UNDELETE")
    return apply_account(
        message,
        services,
        stamp=change.stamp,
        decides=whole or "AccountNumber" in message.fields or "AccountNumber" in message.null_fields,
        deleted=False if change.change_type == "UNDELETE" else None,
    )


def reread_or_mark(message: NotificationMessage, services: Services) -> HandlerResult:
    """A gap event has no payload: read the record as it is now, or keep it for reconciliation (never skip)."""
    change = message.change
    assert change is not None
    if services.salesforce is None or not message.record_id:
        services.archive.record_reconciliation(message, why=f"{change.change_type}: the change's fields are missing")
        return {"action": MARKED_FOR_RECONCILIATION, "changeType": change.change_type}
    [record] = services.salesforce.retrieve(change.entity, [message.record_id], ACCOUNT_FIELDS)
    if record is None:  # gone since: deleted
        return apply_account(message, services, stamp=change.stamp, decides=False, deleted=True)
    fields = {k: v for k, v in record.items() if k != "attributes" and v is not None}
    nulls = [f for f in ("AccountNumber", *_ACCOUNT_TO_CUSTOMER) if record.get(f) is None]
    current = message.model_copy(update={"fields": fields, "null_fields": nulls})
    stamp = _modstamp(fields) or change.stamp
    return {**apply_account(current, services, stamp=stamp, decides=True, deleted=False), "reread": True}


# The Account fields a re-read asks for (what the handlers use).
ACCOUNT_FIELDS = ["Id", "Name", "AccountNumber", *[f for f in _ACCOUNT_TO_CUSTOMER if f != "Name"], "SystemModstamp"]
# What the bulk sync reads of each object: every field the handler's model takes.
OPPORTUNITY_MODEL_FIELDS = list(_OpportunityFields.model_fields)
ACCOUNT_MODEL_FIELDS = list(_AccountFields.model_fields)


class _OrderRequestFields(BaseModel):
    """The Order_Request__e Platform Event (events/samples/event_relay/order_request_event.json)."""

    model_config = ConfigDict(extra="ignore")

    Opportunity_Id__c: str
    Account_Id__c: str | None = None
    Amount__c: Decimal | None = None
    Close_Date__c: date | None = None
    Name__c: str | None = None


# The fields of the Order_Request__e Platform Event the handler reads (what the Salesforce project declares).
ORDER_REQUEST_FIELDS = list(_OrderRequestFields.model_fields)


@registry.register("Order_Request__e", listener=EVENT_RELAY_LISTENER)
def order_request_to_order(message: NotificationMessage, services: Services) -> HandlerResult:
    """A Flow's Order_Request__e Platform Event: the same Order a won Opportunity's Outbound Message creates (one
    per Opportunity, whichever channel brings it first)."""
    request = _OrderRequestFields.model_validate(message.fields)
    opportunity = _OpportunityFields(
        Id=request.Opportunity_Id__c,
        AccountId=request.Account_Id__c,
        Name=request.Name__c,
        StageName=CLOSED_WON,
        IsWon=True,
        Amount=request.Amount__c,
        CloseDate=request.Close_Date__c,
    )
    won = message.model_copy(update={"record_id": to_18(request.Opportunity_Id__c)})
    return create_order(won, opportunity, services)
