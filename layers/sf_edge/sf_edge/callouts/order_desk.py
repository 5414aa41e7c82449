"""Quotes, credit, order views and availability over the order system: what the callouts compute.

Pricing rules (documented in the README and the OpenAPI descriptions): list price from Products, a
quantity-break discount per line (10+ units 5 %, 50+ 10 %, 100+ 15 %), stock from UnitsInStock. Credit: the
customer's limit (its `CreditLimit`, else the default) against the value of its open (unshipped) orders.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from sf_edge.callouts.contract import (
    Availability,
    CreditDecision,
    CreditStatus,
    OrderLine,
    OrderView,
    PricingMode,
    Quote,
    QuoteLine,
    QuoteRequest,
    Reason,
    StockStatus,
)
from sf_edge.domain_errors import NotFound
from sf_edge.order_system.entities import Customer, Order, OrderDetail, Product
from sf_edge.salesforce.ids import is_salesforce_id, to_18

CURRENCY = "USD"
QUANTITY_BREAKS = ((100, Decimal("0.15")), (50, Decimal("0.10")), (10, Decimal("0.05")))
QUOTE_VALIDITY = timedelta(days=30)
REVIEW_THRESHOLD = Decimal("0.8")
CENT = Decimal("0.01")


def _moment(text: str | None) -> datetime | None:
    """A stored ISO date-time (UTC when it has no offset), or None for none or one that cannot be read."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def money(value: Decimal) -> Decimal:
    """Round half up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def break_discount(quantity: int) -> Decimal:
    """The quantity-break discount rate for a line."""
    return next((rate for threshold, rate in QUANTITY_BREAKS if quantity >= threshold), Decimal(0))


def stock_status(product: Product, quantity: int) -> StockStatus:
    """Whether `quantity` ships from stock."""
    if product.Discontinued:
        return StockStatus.DISCONTINUED
    if product.UnitsInStock >= quantity:
        return StockStatus.IN_STOCK
    return StockStatus.PARTIAL if product.UnitsInStock > 0 else StockStatus.BACKORDER


class Customers(Protocol):
    """What the desk reads of Customers (order_system.CustomerRepository in DynamoDB)."""

    def get(self, customer_id: str) -> Customer | None: ...

    def customer_id_for_account(self, account_id: str) -> str | None: ...


class Orders(Protocol):
    """What the desk reads of Orders and their lines (order_system.OrderRepository)."""

    def get(self, order_id: int) -> Order | None: ...

    def lines(self, order_id: int) -> list[OrderDetail]: ...

    def for_customer(self, customer_id: str) -> list[Order]: ...


class Products(Protocol):
    """What the desk reads of Products (order_system.ProductRepository)."""

    def get(self, product_id: int) -> Product | None: ...

    def get_many(self, product_ids: Iterable[int]) -> dict[int, Product]: ...


@dataclass(frozen=True)
class OrderDesk:
    """The callouts' domain service."""

    customers: Customers
    orders: Orders
    products: Products
    default_credit_limit: Decimal = Decimal(25000)

    def customer(self, account_id: str) -> Customer:
        """The Customer for a Northwind CustomerID or a linked Salesforce Account id; 404 otherwise."""
        customer = self.customers.get(account_id)
        if customer is None and is_salesforce_id(account_id):
            linked = self.customers.customer_id_for_account(to_18(account_id))
            customer = self.customers.get(linked) if linked else None
        if customer is None:
            raise NotFound(f"No account {account_id}", field="accountId")
        return customer

    def quote(self, request: QuoteRequest, now: datetime | None = None) -> Quote:
        """Price every line (lines of the same product are combined); unknown products are a 404 naming the line."""
        now = now or datetime.now(UTC)
        quantities: dict[int, int] = {}
        for line in request.lines:
            quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
        customer = self.customer(request.account_id)
        products = self.products.get_many(quantities)
        missing = [(i, line.product_id) for i, line in enumerate(request.lines) if line.product_id not in products]
        if missing:
            raise NotFound(
                f"No product {missing[0][1]}",
                fields={f"lines[{i}].productId": f"No product {pid}" for i, pid in missing},
            )
        lines = []
        for product_id, quantity in quantities.items():
            product = products[product_id]
            rate = break_discount(quantity) if request.pricing != PricingMode.LIST else Decimal(0)
            subtotal = money(product.UnitPrice * quantity)
            discount = money(subtotal * rate)
            status = stock_status(product, quantity)
            lines.append(
                QuoteLine(
                    product_id=product.ProductID,
                    product_name=product.ProductName,
                    quantity=quantity,
                    unit_price=money(product.UnitPrice),
                    discount_percent=rate * 100,
                    line_subtotal=subtotal,
                    line_discount=discount,
                    line_total=subtotal - discount,
                    stock_status=status,
                    units_in_stock=product.UnitsInStock,
                    backorder_quantity=0
                    if status is StockStatus.DISCONTINUED
                    else max(0, quantity - product.UnitsInStock),
                )
            )
        subtotal = sum((line.line_subtotal for line in lines), Decimal(0))
        discount = sum((line.line_discount for line in lines), Decimal(0))
        return Quote(
            quote_id=str(uuid.uuid4()),
            account_id=request.account_id,
            customer_id=customer.CustomerID,
            customer_name=customer.CompanyName,
            currency_code=CURRENCY,
            lines=lines,
            subtotal=subtotal,
            discount=discount,
            total=subtotal - discount,
            all_available=all(line.stock_status is StockStatus.IN_STOCK for line in lines),
            valid_until=(now + QUOTE_VALIDITY).date(),
            created_at=now,
        )

    def credit(self, account_id: str, today: date | None = None) -> CreditStatus:
        """Limit, exposure (open orders), available credit and a decision with its reasons."""
        today = today or datetime.now(UTC).date()
        customer = self.customer(account_id)
        open_orders = [o for o in self.orders.for_customer(customer.CustomerID) if not o.ShippedDate]
        exposure = money(sum((self._value(o) for o in open_orders), Decimal(0)))
        late = [o for o in open_orders if o.RequiredDate and date.fromisoformat(o.RequiredDate[:10]) < today]
        limit = money(customer.CreditLimit or self.default_credit_limit)
        reasons: list[Reason] = []
        decision = CreditDecision.APPROVE
        if exposure > limit:
            decision = CreditDecision.DECLINE
            reasons.append(
                Reason(code="EXPOSURE_OVER_LIMIT", message=f"Open orders of {exposure} exceed the limit of {limit}")
            )
        elif exposure > limit * REVIEW_THRESHOLD:
            decision = CreditDecision.REVIEW
            reasons.append(
                Reason(code="EXPOSURE_NEAR_LIMIT", message=f"Open orders use over {REVIEW_THRESHOLD:.0%} of the limit")
            )
        if late:
            if decision is CreditDecision.APPROVE:
                decision = CreditDecision.REVIEW
            reasons.append(
                Reason(code="LATE_OPEN_ORDERS", message=f"{len(late)} open order(s) past their required date")
            )
        if decision is CreditDecision.APPROVE:
            reasons.append(Reason(code="WITHIN_LIMIT", message="Exposure is within the credit limit"))
        return CreditStatus(
            account_id=account_id,
            customer_id=customer.CustomerID,
            customer_name=customer.CompanyName,
            currency_code=CURRENCY,
            credit_limit=limit,
            exposure=exposure,
            available=max(Decimal(0), limit - exposure),
            open_orders=len(open_orders),
            late_open_orders=len(late),
            decision=decision,
            reasons=reasons,
        )

    def _value(self, order: Order) -> Decimal:
        """What an open order is worth: its lines, or (created from a won Opportunity, before it has lines) the
        Opportunity's amount."""
        lines = self.orders.lines(order.OrderID)
        if not lines and order.SalesforceAmount is not None:
            return order.SalesforceAmount
        return sum((line.total for line in lines), Decimal(0))

    def order(self, order_id: int) -> OrderView:
        """An Order with its lines and total."""
        order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"No order {order_id}", field="orderId")
        details = self.orders.lines(order_id)
        names = self.products.get_many(d.ProductID for d in details)
        lines = [
            OrderLine(
                product_id=d.ProductID,
                product_name=names[d.ProductID].ProductName if d.ProductID in names else None,
                unit_price=money(d.UnitPrice),
                quantity=d.Quantity,
                discount_percent=d.Discount * 100,
                line_total=money(d.total),
            )
            for d in details
        ]
        return OrderView(
            order_id=order.OrderID,
            customer_id=order.CustomerID,
            order_date=_moment(order.OrderDate),
            required_date=_moment(order.RequiredDate),
            shipped_date=_moment(order.ShippedDate),
            status="SHIPPED" if order.ShippedDate else "OPEN",
            ship_name=order.ShipName,
            ship_city=order.ShipCity,
            ship_country=order.ShipCountry,
            freight=order.Freight,
            salesforce_opportunity_id=order.SalesforceOpportunityId,
            lines=lines,
            total=sum((line.line_total for line in lines), Decimal(0))
            if lines or order.SalesforceAmount is None
            else money(order.SalesforceAmount),
        )

    def availability(self, product_id: int, quantity: int | None = None) -> Availability:
        """Stock of one product, and whether `quantity` ships from stock."""
        product = self.products.get(product_id)
        if product is None:
            raise NotFound(f"No product {product_id}", field="productId")
        wanted = quantity or 1
        status = stock_status(product, wanted)
        if status is StockStatus.IN_STOCK and quantity is None and product.UnitsInStock <= product.ReorderLevel:
            status = StockStatus.LOW_STOCK
        return Availability(
            product_id=product.ProductID,
            product_name=product.ProductName,
            units_in_stock=product.UnitsInStock,
            units_on_order=product.UnitsOnOrder,
            reorder_level=product.ReorderLevel,
            discontinued=product.Discontinued,
            stock_status=status,
            requested_quantity=quantity,
            can_fulfil=None if quantity is None else status is StockStatus.IN_STOCK,
        )
