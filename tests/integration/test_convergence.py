"""Salesforce delivers Outbound Messages at least once and in no particular order: whatever the order and however
many duplicates, the worker's reference handlers leave one and the same end state in every table."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest

from conftest import ROOT, Stack, run_worker_until_empty, worker_source
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.notification_message import NotificationMessage
from test_worker import enqueue, message, won

ALFKI: dict[str, Any] = next(
    c for c in json.loads((ROOT / "data" / "northwind" / "Customers.json").read_text()) if c["CustomerID"] == "ALFKI"
)
ACCOUNT_ID = to_18("0015g00000AlFkI")
TABLES = ("CustomersTable", "OrdersTable", "KeyRegistryTable", "NotificationArchiveTable")


def account(notification_id: str, modstamp: str, city: str, number: str | None) -> NotificationMessage:
    fields = {
        "Id": ACCOUNT_ID,
        "Name": "Alfreds Futterkiste GmbH",
        "BillingCity": city,
        "Phone": "030-0074321",
        "SystemModstamp": modstamp,
    } | ({"AccountNumber": number} if number else {})
    return message(notification_id, "Account", fields)


def deliveries(number: str | None) -> dict[str, NotificationMessage]:
    return {
        "account": account("04l000000000101AAA", "2024-06-01T10:00:00.000Z", "Berlin", number),
        "won": won("04l000000000102AAA", "0065g00000Won01AAA", ACCOUNT_ID),
        "account update": account("04l000000000103AAA", "2024-06-02T10:00:00.000Z", "Berlin-Mitte", number),
        # The same change sent again under another notification (a second rule firing): not a redelivery.
        "account again": account("04l000000000104AAA", "2024-06-01T10:00:00.000Z", "Berlin", number),
    }


def reset(stack: Stack) -> None:
    """Empty the tables the handlers write, then Northwind's ALFKI and the Orders sequence where Northwind ends."""
    from sf_edge.order_system.key_registry import KeyRegistry

    for logical_id in (*TABLES, "IdempotencyTable"):
        table = stack.table(logical_id)
        keys = [k["AttributeName"] for k in table.key_schema]
        with table.batch_writer() as batch:
            for item in table.scan()["Items"]:
                batch.delete_item(Key={k: item[k] for k in keys})
    stack.table("CustomersTable").put_item(Item={k: v for k, v in ALFKI.items() if v is not None})
    KeyRegistry(stack.table("KeyRegistryTable")).ensure_sequence_at_least("Orders", 11077)


def end_state(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, Decimal) else value

    return {
        logical_id: sorted(
            # The row version counts writes (a concurrency token, the ETag): not part of the state.
            ({k: plain(v) for k, v in item.items() if k != "_v"} for item in stack.table(logical_id).scan()["Items"]),
            key=lambda item: json.dumps(item, sort_keys=True),
        )
        for logical_id in TABLES
    }


@pytest.mark.parametrize("number", ["ALFKI", None], ids=["existing-customer", "new-customer"])
def test_every_delivery_order_and_duplicate_ends_in_one_state(stack: Stack, number: str | None) -> None:
    sent = deliveries(number)
    source = worker_source(stack)
    states: dict[tuple[str, ...], dict[str, list[dict[str, Any]]]] = {}
    for order in itertools.permutations(sent):
        reset(stack)
        for name in (*order, order[0]):  # and the first one redelivered at the end (the same notification)
            enqueue(stack, sent[name])
            assert run_worker_until_empty(source) == (1, 0)
        states[order] = end_state(stack)
    assert len(states) == 24
    first = next(iter(states.values()))
    for order, state in states.items():
        assert state == first, f"delivered as {order}"
    customer_id = number or ACCOUNT_ID
    customers = {c["CustomerID"]: c for c in first["CustomersTable"]}
    assert set(customers) == {"ALFKI", customer_id}  # no placeholder left, nothing duplicated
    customer = customers[customer_id]
    assert (customer["CustomerID"], customer["City"], customer["SalesforceAccountId"]) == (
        customer_id,
        "Berlin-Mitte",
        ACCOUNT_ID,
    )
    assert "Placeholder" not in customer
    assert customer.get("ContactName") == (ALFKI["ContactName"] if number else None)  # Northwind's data is kept
    [order] = first["OrdersTable"]
    assert (order["CustomerID"], order["ShipName"], order["ShipCity"]) == (
        customer_id,
        "Alfreds Futterkiste GmbH",
        "Berlin-Mitte",
    )
    links = {item["Key"]: item for item in first["KeyRegistryTable"]}
    assert links[f"account#{ACCOUNT_ID}"] == {"Key": f"account#{ACCOUNT_ID}", "CustomerID": customer_id}


@pytest.mark.parametrize("number", ["ALFKI", None], ids=["existing-customer", "new-customer"])
def test_an_account_applied_while_its_won_opportunity_is_being_applied(stack: Stack, number: str | None) -> None:
    """Two workers at once: the Opportunity's has linked a placeholder and is about to write its Order when the
    Account's replaces the placeholder. The Opportunity's worker follows the link as it is then."""
    from conftest import worker_services
    from sf_edge.notifications.reference_handlers import account_to_customer, opportunity_closed_won

    reset(stack)
    sent = deliveries(number)
    services = worker_services()
    create = services.orders.create_for_opportunity

    def after_the_account(opportunity_id: str, order: Any, lines: Any = ()) -> Any:
        account_to_customer(sent["account"], services)
        return create(opportunity_id, order, lines)

    services.orders.create_for_opportunity = after_the_account  # type: ignore[method-assign]
    result = opportunity_closed_won(sent["won"], services)
    customer_id = number or ACCOUNT_ID
    assert result["customerId"] == customer_id
    state = end_state(stack)
    assert {c["CustomerID"] for c in state["CustomersTable"]} == {"ALFKI", customer_id}
    [order] = state["OrdersTable"]
    assert (order["CustomerID"], order["ShipCity"]) == (customer_id, "Berlin")
