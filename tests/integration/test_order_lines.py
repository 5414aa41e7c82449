"""A won Opportunity's Order gets its lines: read in one REST call (the stand-in answers the SOQL child
sub-query), mapped through the declared product codes, written with the Order in one transaction; unknown codes
reported, never guessed; without Salesforce, the Order says its lines are unavailable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from conftest import ROOT, Stack, orders_of, run_worker_until_empty, seed_customers, worker_source
from salesforce_stand_in import SalesforceStandIn, key_pair
from sf_edge.order_system.order_lines import LINES_COMPLETE, LINES_UNAVAILABLE, LINES_UNMAPPED, NOT_CONFIGURED
from sf_edge.order_system.product_codes import ProductCodes, declared_codes
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.line_items import line_items_soql
from test_worker import ALFKI_ACCOUNT, enqueue, message, won

OPPORTUNITY = to_18("0065g00000Won01")
THREE_LINES = [("NW-001", 10, 18.0, None), ("NW-011", 4, 21.0, 15.0), ("NW-060", 2, 34.0, 0.0)]


@pytest.fixture
def org(stack: Stack) -> Iterator[tuple[SalesforceStandIn, Any]]:
    """The stand-in org, and the worker signed in to it (as SALESFORCE_* configures it)."""
    import notification_worker

    private, public = key_pair()
    stand_in = SalesforceStandIn(public).start()
    seed_customers(stack)
    source = worker_source(stack)  # sets the template's environment, as a container starts with it
    notification_worker.worker.configure(**stand_in.sign_in(private, "integration@northwind.example"))
    try:
        yield stand_in, source
    finally:
        stand_in.stop()


def lines_of(stack: Stack, order_id: int) -> list[dict[str, Any]]:
    from boto3.dynamodb.conditions import Key

    items = stack.table("OrderDetailsTable").query(KeyConditionExpression=Key("OrderID").eq(order_id))["Items"]
    return sorted(items, key=lambda i: int(i["ProductID"]))


def queries(stand_in: SalesforceStandIn) -> list[tuple[str, str, int]]:
    return [c for c in stand_in.api_calls if "/query" in c[1]]


def test_a_won_opportunity_with_three_lines_becomes_one_order_with_three_order_details(
    stack: Stack, org: tuple[SalesforceStandIn, Any]
) -> None:
    stand_in, source = org
    stand_in.add_opportunity(OPPORTUNITY, THREE_LINES)
    enqueue(stack, won(opportunity_id=OPPORTUNITY))
    assert run_worker_until_empty(source) == (1, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert (order["LinesStatus"], order.get("LinesProblem")) == (LINES_COMPLETE, None)
    lines = lines_of(stack, int(order["OrderID"]))
    assert [(int(li["ProductID"]), int(li["Quantity"]), li["UnitPrice"], li["Discount"]) for li in lines] == [
        (1, 10, Decimal("18.0"), Decimal(0)),
        (11, 4, Decimal("21.0"), Decimal("0.15")),  # Salesforce's 15 % is Northwind's 0.15
        (60, 2, Decimal("34.0"), Decimal(0)),
    ]
    assert len(queries(stand_in)) == 1  # the Opportunity and its lines: one REST call


def test_redelivered_and_reordered_with_its_account_it_is_still_one_order_with_its_lines(
    stack: Stack, org: tuple[SalesforceStandIn, Any]
) -> None:
    """The Opportunity first (its Account unknown: a placeholder), then its Account, then the Opportunity again
    (a new notification of the same record) and a duplicate of the first: one Order, three lines, at ALFKI."""
    stand_in, source = org
    account_id = to_18("0015g00000NeW01")
    stand_in.add_opportunity(OPPORTUNITY, THREE_LINES)
    first = won("04l000000000001AAA", OPPORTUNITY, account_id)
    account = message("04l000000000002AAA", "Account", {**ALFKI_ACCOUNT, "Id": account_id, "AccountNumber": "ALFKI"})
    again = won("04l000000000003AAA", OPPORTUNITY, account_id)
    enqueue(stack, first)
    assert run_worker_until_empty(source) == (1, 0)
    enqueue(stack, account, again, first)
    assert run_worker_until_empty(source) == (3, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert order["CustomerID"] == "ALFKI"
    assert len(lines_of(stack, int(order["OrderID"]))) == 3
    # Read for each notification's hub event (the first's duplicate reads nothing): the Order, complete, once.
    assert len(queries(stand_in)) == 2


def test_an_unknown_product_code_is_reported_and_no_line_is_written_until_it_is_declared(
    stack: Stack, org: tuple[SalesforceStandIn, Any]
) -> None:
    import notification_worker

    stand_in, source = org
    stand_in.add_opportunity(OPPORTUNITY, [*THREE_LINES, ("ACME-42", 1, 99.0, None)])
    enqueue(stack, won("04l000000000001AAA", OPPORTUNITY))
    assert run_worker_until_empty(source) == (1, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert order["LinesStatus"] == LINES_UNMAPPED
    assert order["LinesProblem"] == "unknown product codes: ACME-42"
    assert lines_of(stack, int(order["OrderID"])) == []  # never half an Order
    [queued] = stack.drain(stack.name("WriteBackQueue"))
    assert json.loads(queued["Body"])["fields"]["Integration_Message__c"] == "unknown product codes: ACME-42"
    # The code is declared; the Opportunity's next notification completes the Order.
    services = notification_worker.worker().services
    codes = ProductCodes({**declared_codes().codes, "ACME-42": 42})
    notification_worker.worker().services = replace(services, product_codes=codes)
    enqueue(stack, won("04l000000000009AAA", OPPORTUNITY))
    assert run_worker_until_empty(source) == (1, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert (order["LinesStatus"], order.get("LinesProblem")) == (LINES_COMPLETE, None)
    assert [int(li["ProductID"]) for li in lines_of(stack, int(order["OrderID"]))] == [1, 11, 42, 60]
    [queued] = stack.drain(stack.name("WriteBackQueue"))
    assert json.loads(queued["Body"])["fields"]["Integration_Message__c"] is None


def test_without_salesforce_the_order_is_created_with_its_lines_marked_unavailable(stack: Stack) -> None:
    seed_customers(stack)
    source = worker_source(stack)
    enqueue(stack, won(opportunity_id=OPPORTUNITY))
    assert run_worker_until_empty(source) == (1, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert (order["LinesStatus"], order["LinesProblem"]) == (LINES_UNAVAILABLE, NOT_CONFIGURED)
    assert lines_of(stack, int(order["OrderID"])) == []
    [queued] = stack.drain(stack.name("WriteBackQueue"))
    assert json.loads(queued["Body"])["fields"]["Integration_Message__c"] == NOT_CONFIGURED


def test_lines_beyond_one_page_of_the_sub_query_are_followed(stack: Stack, org: tuple[SalesforceStandIn, Any]) -> None:
    stand_in, source = org
    stand_in.child_page_size = 2
    stand_in.add_opportunity(OPPORTUNITY, [(f"NW-{n:03d}", n, 1.0, None) for n in range(1, 6)])
    enqueue(stack, won(opportunity_id=OPPORTUNITY))
    assert run_worker_until_empty(source) == (1, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert [int(li["Quantity"]) for li in lines_of(stack, int(order["OrderID"]))] == [1, 2, 3, 4, 5]
    assert len(queries(stand_in)) == 3  # the query, then two pages of its children


def test_an_order_of_more_lines_than_one_transaction_holds_is_written_whole(
    stack: Stack, org: tuple[SalesforceStandIn, Any]
) -> None:
    import notification_worker

    stand_in, source = org
    services = notification_worker.worker().services
    codes = ProductCodes({f"P-{n}": n for n in range(1, 151)})
    notification_worker.worker().services = replace(services, product_codes=codes)
    stand_in.add_opportunity(OPPORTUNITY, [(f"P-{n}", 1, 2.5, None) for n in range(1, 151)])
    enqueue(stack, won(opportunity_id=OPPORTUNITY))
    assert run_worker_until_empty(source) == (1, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert order["LinesStatus"] == LINES_COMPLETE
    assert len(lines_of(stack, int(order["OrderID"]))) == 150


def test_a_transient_failure_reading_the_lines_is_retried_and_the_order_made_once(
    stack: Stack, org: tuple[SalesforceStandIn, Any]
) -> None:
    stand_in, source = org
    stand_in.add_opportunity(OPPORTUNITY, THREE_LINES)
    stand_in.fail_when(lambda method, path, query: "/query" in path, "SERVER_UNAVAILABLE", times=4)
    enqueue(stack, won(opportunity_id=OPPORTUNITY))
    first = source.poll_once()
    assert (first.succeeded, first.failed) == (0, 1)  # all four of the client's attempts answered 503
    assert orders_of(stack, OPPORTUNITY) == []
    assert run_worker_until_empty(source) == (1, 0)  # SQS redelivers it
    [order] = orders_of(stack, OPPORTUNITY)
    assert len(lines_of(stack, int(order["OrderID"]))) == 3


def test_an_opportunity_gone_from_salesforce_still_gets_its_order_saying_so(
    stack: Stack, org: tuple[SalesforceStandIn, Any]
) -> None:
    _, source = org
    enqueue(stack, won(opportunity_id=OPPORTUNITY))  # the stand-in has no such Opportunity
    assert run_worker_until_empty(source) == (1, 0)
    [order] = orders_of(stack, OPPORTUNITY)
    assert order["LinesStatus"] == LINES_UNAVAILABLE
    assert "no longer in Salesforce" in order["LinesProblem"]


# Mapping, without an org.


def line(code: str | None, quantity: float | None, price: float | None, discount: float | None = None) -> Any:
    from sf_edge.salesforce.line_items import LineItem

    def dec(v: float | None) -> Decimal | None:
        return None if v is None else Decimal(str(v))

    return LineItem(id="00k000000000001", product_code=code, quantity=dec(quantity), unit_price=dec(price),
                    discount=dec(discount))  # fmt: skip


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([line("NW-001", 2.5, 18.0)], "line 00k000000000001: quantity 2.5 is not a whole number of units"),
        ([line("NW-001", 0, 18.0)], "line 00k000000000001: quantity 0 is not a whole number of units"),
        ([line("NW-001", 1, None)], "line 00k000000000001: no unit price"),
        ([line("NW-001", 1, 1.0, 120)], "line 00k000000000001: discount 120% is not between 0 and 100"),
        ([line(None, 1, 1.0)], "unknown product codes: (none)"),
        (
            [line("NW-001", 1, 18.0), line("NW-001", 1, 17.0)],
            "line 00k000000000001: product NW-001 twice at different prices or discounts",
        ),
    ],
)
def test_lines_that_cannot_be_mapped_are_reported_not_guessed(items: list[Any], problem: str) -> None:
    from sf_edge.order_system.order_lines import plan_lines

    plan = plan_lines(items, declared_codes())
    assert (plan.status, plan.problem, plan.details) == (LINES_UNMAPPED, problem, [])


def test_two_lines_of_one_product_at_one_price_are_one_order_line() -> None:
    from sf_edge.order_system.order_lines import plan_lines

    plan = plan_lines([line("NW-001", 2, 18.0, 5), line(" NW-001 ", 3, 18.0, 5)], declared_codes())
    [detail] = plan.details
    assert (plan.status, detail.ProductID, detail.Quantity, detail.Discount) == (LINES_COMPLETE, 1, 5, Decimal("0.05"))


def test_the_declared_codes_name_products_the_order_system_has() -> None:
    products = {p["ProductID"] for p in json.loads((ROOT / "data" / "northwind" / "Products.json").read_text())}
    codes = declared_codes().codes
    assert len(codes) == len(products)
    assert set(codes.values()) == products


def test_the_query_takes_only_a_salesforce_id() -> None:
    assert line_items_soql("0065g00000Won01AAA").endswith("FROM Opportunity WHERE Id = '0065g00000Won01AAA'")
    with pytest.raises(ValueError, match="not a Salesforce id"):
        line_items_soql("x' OR Name != '")
