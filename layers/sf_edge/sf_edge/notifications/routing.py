"""The handler registry: (listener, sObject type) → handler, with a default that records the rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sf_edge.order_system.customer_repository import CustomerMerge, MergeOutcome
from sf_edge.order_system.entities import AccountLink, Customer, Order, OrderDetail
from sf_edge.order_system.order_lines import NOT_CONFIGURED
from sf_edge.order_system.product_codes import ProductCodes, declared_codes
from sf_edge.salesforce.line_items import LineItem
from sf_edge.salesforce.notification_message import NotificationMessage

HandlerResult = dict[str, Any]


class RecordReader(Protocol):
    """Reads records from Salesforce (the remote call-in client), for gap events."""

    def retrieve(self, sobject: str, ids: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any] | None]: ...


class LineItemReader(Protocol):
    """Reads a won Opportunity's lines from Salesforce (salesforce.line_items.SalesforceLineItems)."""

    def line_items(self, opportunity_id: str) -> list[LineItem]: ...


class Customers(Protocol):
    """What handlers do with Customers and their Account links (order_system.CustomerRepository in DynamoDB)."""

    def get(self, customer_id: str) -> Customer | None: ...

    def account_link(self, account_id: str) -> AccountLink | None: ...

    def link_account(self, account_id: str, customer_id: str, *, placeholder: bool = False) -> AccountLink: ...

    def confirm_link(self, account_id: str, customer_id: str) -> AccountLink: ...

    def create_placeholder(self, account_id: str) -> None: ...

    def remove_placeholder(self, customer_id: str) -> bool: ...

    def ensure(self, customer_id: str, account_id: str, *, placeholder: bool = False) -> None: ...

    def upsert(self, customer_id: str, changes: dict[str, Any], *, modstamp: str | None) -> None: ...

    def merge(self, customer_id: str, changes: Mapping[str, Any], *, stamp: str | Mapping[str, str]) -> list[str]: ...

    def stamped_fields(self, customer_id: str) -> tuple[dict[str, Any], dict[str, str]]: ...

    # Many at once (the bulk sync).

    def account_links(self, account_ids: Sequence[str]) -> dict[str, AccountLink]: ...

    def link_accounts(self, links: Mapping[str, str]) -> dict[str, AccountLink]: ...

    def items(self, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def merge_many(
        self, merges: Mapping[str, CustomerMerge], read: Mapping[str, dict[str, Any]] | None = None
    ) -> dict[str, MergeOutcome]: ...


class Orders(Protocol):
    """What handlers do with Orders (order_system.OrderRepository)."""

    def create_for_opportunity(
        self, opportunity_id: str, order: Order, lines: Sequence[OrderDetail] = ()
    ) -> tuple[Order, bool]: ...

    def get(self, order_id: int) -> Order | None: ...

    def complete_lines(self, order_id: int, lines: Sequence[OrderDetail]) -> bool: ...

    def follow_customer(self, order: Order, customer: Customer) -> bool: ...

    def for_customer(self, customer_id: str) -> list[Order]: ...

    def order_id_for_opportunity(self, opportunity_id: str) -> int | None: ...

    def mark_deleted(self, order_id: int) -> bool: ...

    # Many at once (the bulk sync).

    def order_ids_for_opportunities(self, opportunity_ids: Sequence[str]) -> dict[str, int]: ...

    def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]: ...

    def create_many_for_opportunities(self, orders: Mapping[str, Order]) -> dict[str, Order]: ...


@dataclass(frozen=True)
class ReconcileMark:
    """A record marked for reconciliation (`record_id` `*`: the whole object), as marked at `marked_at`."""

    key: str
    record_id: str
    marked_at: str


class Archive(Protocol):
    """Where notifications nobody applies are kept (aws.notification_archive.NotificationArchive)."""

    def record(self, message: NotificationMessage, *, why: str) -> None: ...

    def record_reconciliation(self, message: NotificationMessage, *, why: str) -> None: ...


@dataclass(frozen=True)
class Services:
    """What handlers may touch, composed once per container by the worker."""

    customers: Customers
    orders: Orders
    archive: Archive
    salesforce: RecordReader | None = None  # configured by SALESFORCE_*: gap events re-read their records
    line_items: LineItemReader | None = None  # configured by SALESFORCE_*: a won Opportunity's lines
    lines_not_read: str = NOT_CONFIGURED  # why an Order has no lines when `line_items` is None
    product_codes: ProductCodes = field(default_factory=declared_codes)  # ProductCode → ProductID


Handler = Callable[[NotificationMessage, Services], HandlerResult]
# Many notifications of one type at once (the bulk sync's rows): one result each, in order, with the end state the
# type's handler would reach applying them one by one.
BatchHandler = Callable[[Sequence[NotificationMessage], Services], list[HandlerResult]]
INVALID = "invalid"  # a batch result: the row could not be read (the reason says why); nothing was applied


class HandlerRegistry:
    """Routes a notification to the most specific handler: (listener, type), then (any listener, type)."""

    def __init__(self, default: Handler) -> None:
        self.default = default
        self._handlers: dict[tuple[str | None, str], Handler] = {}
        self._batch_handlers: dict[tuple[str | None, str], BatchHandler] = {}

    def register(self, sobject_type: str, *, listener: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator: handle `sobject_type` notifications (from one listener only, when given)."""

        def decorate(handler: Handler) -> Handler:
            self._handlers[(listener, sobject_type)] = handler
            return handler

        return decorate

    def register_batch(
        self, sobject_type: str, *, listener: str | None = None
    ) -> Callable[[BatchHandler], BatchHandler]:
        """Decorator: apply many `sobject_type` notifications at once, as the type's handler would one by one."""

        def decorate(handler: BatchHandler) -> BatchHandler:
            self._batch_handlers[(listener, sobject_type)] = handler
            return handler

        return decorate

    def resolve(self, listener: str, sobject_type: str) -> Handler:
        """The handler for this notification; the default one when nothing else matches."""
        return self._handlers.get((listener, sobject_type)) or self._handlers.get((None, sobject_type)) or self.default

    def dispatch(self, message: NotificationMessage, services: Services) -> HandlerResult:
        """Apply one notification; the result says what was done (stored as the idempotency record)."""
        handler = self.resolve(message.listener, message.sobject_type)
        return {"handler": getattr(handler, "__name__", "handler"), **handler(message, services)}

    def dispatch_batch(self, messages: Sequence[NotificationMessage], services: Services) -> list[HandlerResult]:
        """Apply many notifications, each type's by its batch handler when it has one, else one by one; the
        results are in the order given and name the type's handler (what the write-back rules key on)."""
        results: list[HandlerResult | None] = [None] * len(messages)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, message in enumerate(messages):
            groups.setdefault((message.listener, message.sobject_type), []).append(index)
        for (listener, sobject_type), indexes in groups.items():
            batch = self._batch_handlers.get((listener, sobject_type)) or self._batch_handlers.get((None, sobject_type))
            if batch is None:
                for index in indexes:
                    results[index] = self.dispatch(messages[index], services)
                continue
            name = getattr(self.resolve(listener, sobject_type), "__name__", "handler")
            outcomes = batch([messages[i] for i in indexes], services)
            if len(outcomes) != len(indexes):
                raise RuntimeError(f"the batch handler of {sobject_type} answered {len(outcomes)} of {len(indexes)}")
            for index, outcome in zip(indexes, outcomes, strict=True):
                results[index] = {"handler": name, **outcome}
        return [r for r in results if r is not None]
