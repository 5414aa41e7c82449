"""A won Opportunity's line items as its Order's Order_Details: mapped through the declared product codes, all
or nothing. A line that cannot be mapped (an unknown ProductCode, a fractional quantity, two lines of one product
at different prices) is reported and no line is written: an ERP must never see half an Order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sf_edge.order_system.entities import OrderDetail
from sf_edge.order_system.product_codes import ProductCodes
from sf_edge.salesforce.line_items import LineItem

LINES_COMPLETE = "complete"  # the Order holds every line of its Opportunity
LINES_UNAVAILABLE = "unavailable"  # the lines could not be read (no Salesforce configured, or not read by this path)
LINES_UNMAPPED = "unmapped"  # read, but some could not be mapped: none written, LinesProblem says why
NOT_CONFIGURED = "line items not read: no Salesforce org is configured (SALESFORCE_*)"
NOT_READ_BY_BULK = "line items not read by the bulk sync: the Opportunity's next notification adds them"
_PERCENT = Decimal(100)


@dataclass(frozen=True)
class LinePlan:
    """The Order_Details to write (OrderID 0 until the Order's id is known), and the Order's LinesStatus."""

    details: list[OrderDetail] = field(default_factory=list)
    status: str = LINES_COMPLETE
    problem: str | None = None
    unknown_codes: list[str] = field(default_factory=list)


def unavailable(why: str) -> LinePlan:
    """No lines, for a reason the Order keeps."""
    return LinePlan(status=LINES_UNAVAILABLE, problem=why)


def plan_lines(items: Sequence[LineItem], codes: ProductCodes) -> LinePlan:
    """Map every line, or none (LINES_UNMAPPED with every reason, the unknown codes listed)."""
    unknown: list[str] = []
    problems: list[str] = []
    by_product: dict[int, OrderDetail] = {}
    for item in items:
        product_id = codes.product_id(item.product_code)
        if product_id is None:
            unknown.append(item.product_code or "(none)")
            continue
        problem = _unusable(item)
        if problem:
            problems.append(f"line {item.id}: {problem}")
            continue
        assert item.quantity is not None
        assert item.unit_price is not None
        detail = OrderDetail(
            OrderID=0,
            ProductID=product_id,
            UnitPrice=item.unit_price,
            Quantity=int(item.quantity),
            Discount=(item.discount or Decimal(0)) / _PERCENT,
        )
        same = by_product.get(product_id)
        if same is None:
            by_product[product_id] = detail
        elif (same.UnitPrice, same.Discount) == (detail.UnitPrice, detail.Discount):
            by_product[product_id] = same.model_copy(update={"Quantity": same.Quantity + detail.Quantity})
        else:  # an order line is one per product: two prices cannot be one line
            problems.append(f"line {item.id}: product {item.product_code} twice at different prices or discounts")
    if unknown or problems:
        reasons = ([f"unknown product codes: {', '.join(sorted(set(unknown)))}"] if unknown else []) + problems
        return LinePlan(status=LINES_UNMAPPED, problem="; ".join(reasons)[:1000], unknown_codes=sorted(set(unknown)))
    return LinePlan(details=list(by_product.values()))


def _unusable(item: LineItem) -> str | None:
    if item.unit_price is None or item.unit_price < 0:
        return "no unit price"
    if item.quantity is None or item.quantity <= 0 or item.quantity != item.quantity.to_integral_value():
        return f"quantity {item.quantity} is not a whole number of units"
    if item.discount is not None and not 0 <= item.discount <= _PERCENT:
        return f"discount {item.discount}% is not between 0 and 100"
    return None
