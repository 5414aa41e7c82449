"""The order system in memory, loaded from the Northwind JSON: the OrderDesk's Customers, Orders and Products
interfaces without a store (unit tests and `make bench`, timing our code without a store in the way)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sf_edge.callouts.order_desk import OrderDesk
from sf_edge.order_system.entities import Customer, Order, OrderDetail, Product
from sf_edge.order_system.northwind_seed import load_rows


class MemoryCustomers:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = {r["CustomerID"]: Customer.model_validate(r) for r in rows}

    def get(self, customer_id: str) -> Customer | None:
        return self.rows.get(customer_id)

    def customer_id_for_account(self, account_id: str) -> str | None:
        return None


class MemoryProducts:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = {r["ProductID"]: Product.model_validate(r) for r in rows}

    def get(self, product_id: int) -> Product | None:
        return self.rows.get(product_id)

    def get_many(self, product_ids: Iterable[int]) -> dict[int, Product]:
        return {i: self.rows[i] for i in set(product_ids) if i in self.rows}


class MemoryOrders:
    def __init__(self, orders: list[dict[str, Any]], details: list[dict[str, Any]]) -> None:
        self.orders = {r["OrderID"]: Order.model_validate(r) for r in orders}
        self.details: dict[int, list[OrderDetail]] = {}
        for row in details:
            self.details.setdefault(row["OrderID"], []).append(OrderDetail.model_validate(row))

    def get(self, order_id: int) -> Order | None:
        return self.orders.get(order_id)

    def lines(self, order_id: int) -> list[OrderDetail]:
        return self.details.get(order_id, [])

    def for_customer(self, customer_id: str) -> list[Order]:
        return [o for o in self.orders.values() if o.CustomerID == customer_id]


def in_memory_desk(data_dir: Path) -> OrderDesk:
    """An OrderDesk over in-memory copies of Customers, Products, Orders and Order_Details."""
    return OrderDesk(
        customers=MemoryCustomers(load_rows(data_dir, "Customers")),
        orders=MemoryOrders(load_rows(data_dir, "Orders"), load_rows(data_dir, "Order_Details")),
        products=MemoryProducts(load_rows(data_dir, "Products")),
    )
