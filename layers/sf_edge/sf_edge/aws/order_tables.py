"""The order system's DynamoDB tables, named by the environment that template.yaml sets."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import TYPE_CHECKING

from sf_edge.aws.clients import dynamodb
from sf_edge.aws.large_payloads import large_payloads_from_env
from sf_edge.notifications.archive import NotificationArchive
from sf_edge.notifications.routing import RecordReader, Services
from sf_edge.order_system.customer_repository import CustomerRepository
from sf_edge.order_system.key_registry import KeyRegistry
from sf_edge.order_system.order_repository import OrderRepository
from sf_edge.order_system.product_repository import ProductRepository

if TYPE_CHECKING:
    # The callouts' service: imported by the callout function only (the worker must not pay its cold start).
    from sf_edge.callouts.order_desk import OrderDesk


def services_from_env() -> Services:
    """Repositories over CUSTOMERS_TABLE, ORDERS_TABLE, KEY_REGISTRY_TABLE and NOTIFICATION_ARCHIVE_TABLE, and the
    Salesforce client when SALESFORCE_* names an org (gap events re-read their records through it)."""
    resource = dynamodb()
    keys = KeyRegistry(resource.Table(os.environ["KEY_REGISTRY_TABLE"]))
    return Services(
        customers=CustomerRepository(resource.Table(os.environ["CUSTOMERS_TABLE"]), keys),
        orders=OrderRepository(resource.Table(os.environ["ORDERS_TABLE"]), keys),
        archive=NotificationArchive(
            resource.Table(os.environ["NOTIFICATION_ARCHIVE_TABLE"]),
            large_payloads_from_env(),
        ),
        salesforce=_salesforce_reader(),
    )


def _salesforce_reader() -> RecordReader | None:
    """The remote call-in client when SALESFORCE_LOGIN_URL names an org (imported only then: cold start)."""
    if not os.environ.get("SALESFORCE_LOGIN_URL", "").strip():
        return None
    from sf_edge.aws.salesforce_connection import salesforce_client_from_env

    return salesforce_client_from_env(os.environ)


def order_desk_from_env() -> OrderDesk:
    """The callouts' service over the tables the environment names (CUSTOMERS_TABLE, ORDERS_TABLE, ...)."""
    from sf_edge.callouts.order_desk import OrderDesk

    resource = dynamodb()
    keys = KeyRegistry(resource.Table(os.environ["KEY_REGISTRY_TABLE"]))
    return OrderDesk(
        customers=CustomerRepository(resource.Table(os.environ["CUSTOMERS_TABLE"]), keys),
        orders=OrderRepository(
            resource.Table(os.environ["ORDERS_TABLE"]), keys, resource.Table(os.environ["ORDER_DETAILS_TABLE"])
        ),
        products=ProductRepository(resource.Table(os.environ["PRODUCTS_TABLE"]), resource),
        default_credit_limit=Decimal(os.environ.get("DEFAULT_CREDIT_LIMIT", "25000")),
    )
