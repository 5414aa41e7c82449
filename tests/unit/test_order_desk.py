"""The callouts' order desk on its own, over the in-memory order system (tests/fakes): no store, no HTTP; the
answers checked against the Northwind rows themselves."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from conftest import ROOT
from fakes.order_system import in_memory_desk
from sf_edge.callouts.contract import QuoteRequest
from sf_edge.callouts.order_desk import OrderDesk
from sf_edge.domain_errors import NotFound

NORTHWIND = ROOT / "data" / "northwind"


def rows(name: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((NORTHWIND / f"{name}.json").read_text("utf-8"), parse_float=Decimal)
    return loaded


@pytest.fixture(scope="module")
def desk() -> OrderDesk:
    return in_memory_desk(NORTHWIND)


def test_an_unknown_account_is_not_found_naming_the_field(desk: OrderDesk) -> None:
    with pytest.raises(NotFound) as refused:
        desk.credit("NOSUCH")
    assert refused.value.fields == {"accountId": "No account NOSUCH"}


def test_unknown_products_are_not_found_naming_each_line(desk: OrderDesk) -> None:
    request = QuoteRequest.model_validate(
        {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 1}, {"productId": 999, "quantity": 1}]}
    )
    with pytest.raises(NotFound) as refused:
        desk.quote(request)
    assert refused.value.fields == {"lines[1].productId": "No product 999"}


def test_a_list_price_quote_is_the_catalogue_price_times_the_quantity(desk: OrderDesk) -> None:
    products = {p["ProductID"]: p for p in rows("Products")}
    request = QuoteRequest.model_validate(
        {
            "accountId": "ALFKI",
            "pricing": "LIST",
            "lines": [{"productId": 11, "quantity": 3}, {"productId": 42, "quantity": 2}],
        }
    )
    quote = desk.quote(request)
    expected = Decimal(str(products[11]["UnitPrice"])) * 3 + Decimal(str(products[42]["UnitPrice"])) * 2
    assert (quote.customer_id, quote.subtotal, quote.discount, quote.total) == ("ALFKI", expected, 0, expected)
    assert [(line.product_name, line.units_in_stock) for line in quote.lines] == [
        (products[11]["ProductName"], products[11]["UnitsInStock"]),
        (products[42]["ProductName"], products[42]["UnitsInStock"]),
    ]


def test_lines_of_one_product_are_combined(desk: OrderDesk) -> None:
    request = QuoteRequest.model_validate(
        {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 3}, {"productId": 11, "quantity": 4}]}
    )
    [line] = desk.quote(request).lines
    assert line.quantity == 7


def test_an_order_shows_its_lines_with_product_names(desk: OrderDesk) -> None:
    names = {p["ProductID"]: p["ProductName"] for p in rows("Products")}
    details = [d for d in rows("Order_Details") if d["OrderID"] == 10248]
    view = desk.order(10248).model_dump(by_alias=True)
    assert view["customerId"] == "VINET"
    assert sorted(line["productName"] for line in view["lines"]) == sorted(names[d["ProductID"]] for d in details)


def test_exposure_is_the_value_of_the_open_orders_only(desk: OrderDesk) -> None:
    orders = [o for o in rows("Orders") if o["CustomerID"] == "RICAR"]
    open_ids = {o["OrderID"] for o in orders if not o.get("ShippedDate")}
    value = sum(
        (
            Decimal(str(d["UnitPrice"])) * d["Quantity"] * (1 - Decimal(str(d["Discount"])))
            for d in rows("Order_Details")
            if d["OrderID"] in open_ids
        ),
        Decimal(0),
    )
    credit = desk.credit("RICAR")
    assert credit.open_orders == len(open_ids) > 0
    assert credit.exposure == value.quantize(Decimal("0.01"))
