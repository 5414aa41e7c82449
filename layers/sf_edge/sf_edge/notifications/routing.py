"""The handler registry: (listener, sObject type) → handler, with a default that records the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sf_edge.salesforce.outbound_messages import NotificationMessage

if TYPE_CHECKING:
    from sf_edge.notifications.archive import NotificationArchive
    from sf_edge.order_system.customer_repository import CustomerRepository
    from sf_edge.order_system.order_repository import OrderRepository

HandlerResult = dict[str, Any]


class RecordReader(Protocol):
    """Reads records from Salesforce (the remote call-in client), for gap events."""

    def retrieve(self, sobject: str, ids: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any] | None]: ...


@dataclass(frozen=True)
class Services:
    """What handlers may touch; built once per container from the environment."""

    customers: CustomerRepository
    orders: OrderRepository
    archive: NotificationArchive
    salesforce: RecordReader | None = None  # configured by SALESFORCE_*: gap events re-read their records


Handler = Callable[[NotificationMessage, Services], HandlerResult]


class HandlerRegistry:
    """Routes a notification to the most specific handler: (listener, type), then (any listener, type)."""

    def __init__(self, default: Handler) -> None:
        self.default = default
        self._handlers: dict[tuple[str | None, str], Handler] = {}

    def register(self, sobject_type: str, *, listener: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator: handle `sobject_type` notifications (from one listener only, when given)."""

        def decorate(handler: Handler) -> Handler:
            self._handlers[(listener, sobject_type)] = handler
            return handler

        return decorate

    def resolve(self, listener: str, sobject_type: str) -> Handler:
        """The handler for this notification; the default one when nothing else matches."""
        return self._handlers.get((listener, sobject_type)) or self._handlers.get((None, sobject_type)) or self.default

    def dispatch(self, message: NotificationMessage, services: Services) -> HandlerResult:
        """Apply one notification; the result says what was done (stored as the idempotency record)."""
        handler = self.resolve(message.listener, message.sobject_type)
        return {"handler": getattr(handler, "__name__", "handler"), **handler(message, services)}
