"""The callout API's request and response models: camelCase JSON that Apex deserializes and External Services
imports (numbers as JSON numbers, enums as strings, every field described)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictInt
from pydantic.alias_generators import to_camel

# Decimals computed exactly, sent as JSON numbers (Apex Decimal), never as strings.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
AccountId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9]{1,18}$",
        description="Northwind CustomerID (e.g. ALFKI) or the linked Salesforce Account Id (15 or 18 characters)",
        examples=["ALFKI"],
    ),
]


class Contract(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class QuoteLineRequest(Contract):
    # Strict: "12" or true is not a quantity (Apex and Flow send JSON numbers).
    product_id: StrictInt = Field(ge=1, le=2_147_483_647, description="Northwind ProductID", examples=[11])
    quantity: StrictInt = Field(ge=1, le=100_000, description="Units wanted", examples=[12])


class PricingMode(StrEnum):
    STANDARD = "STANDARD"
    LIST = "LIST"


class QuoteRequest(Contract):
    account_id: AccountId
    lines: list[QuoteLineRequest] = Field(min_length=1, max_length=200, description="One line per product")
    # Inline (not a $ref): an OpenAPI 3.0 reference cannot be marked nullable, and External Services sends null.
    pricing: Literal["STANDARD", "LIST"] | None = Field(
        default=None,
        description="STANDARD (also when absent or null) applies quantity-break discounts; LIST quotes list prices",
    )


class StockStatus(StrEnum):
    IN_STOCK = "IN_STOCK"
    LOW_STOCK = "LOW_STOCK"
    PARTIAL = "PARTIAL"
    BACKORDER = "BACKORDER"
    DISCONTINUED = "DISCONTINUED"


class QuoteLine(Contract):
    product_id: int = Field(description="Northwind ProductID")
    product_name: str
    quantity: int
    unit_price: Money = Field(description="List price per unit")
    discount_percent: Money = Field(description="Quantity-break discount applied to the line, in percent")
    line_subtotal: Money = Field(description="unitPrice x quantity")
    line_discount: Money = Field(description="Discount amount of the line")
    line_total: Money = Field(description="lineSubtotal - lineDiscount")
    stock_status: StockStatus
    units_in_stock: int
    backorder_quantity: int = Field(description="Units that must wait for restocking")


class Quote(Contract):
    quote_id: str = Field(description="Identifier of this quote (stable across an Idempotency-Key retry)")
    account_id: str
    customer_id: str = Field(description="Northwind CustomerID the quote is for")
    customer_name: str
    currency_code: str = Field(description="ISO 4217 currency of every amount", examples=["USD"])
    lines: list[QuoteLine]
    subtotal: Money
    discount: Money
    total: Money
    all_available: bool = Field(description="True when every line can ship from stock")
    valid_until: date
    created_at: datetime


class CreditDecision(StrEnum):
    APPROVE = "APPROVE"
    REVIEW = "REVIEW"
    DECLINE = "DECLINE"


class Reason(Contract):
    code: str = Field(examples=["EXPOSURE_NEAR_LIMIT"])
    message: str


class CreditStatus(Contract):
    account_id: str
    customer_id: str
    customer_name: str
    currency_code: str = Field(description="ISO 4217 currency of every amount", examples=["USD"])
    credit_limit: Money
    exposure: Money = Field(description="Value of the customer's open (unshipped) orders")
    available: Money = Field(description="creditLimit - exposure (never negative)")
    open_orders: int
    late_open_orders: int = Field(description="Open orders past their required date")
    decision: CreditDecision
    reasons: list[Reason]


class OrderLine(Contract):
    product_id: int
    product_name: str | None = None
    unit_price: Money
    quantity: int
    discount_percent: Money
    line_total: Money


class OrderView(Contract):
    order_id: int
    customer_id: str
    order_date: datetime | None = None
    required_date: datetime | None = None
    shipped_date: datetime | None = None
    status: str = Field(description="OPEN or SHIPPED", examples=["SHIPPED"])
    ship_name: str | None = None
    ship_city: str | None = None
    ship_country: str | None = None
    freight: Money | None = None
    salesforce_opportunity_id: str | None = None
    lines: list[OrderLine]
    total: Money = Field(
        description="Sum of the line totals (freight excluded); for an order created from a won Opportunity, "
        "before its lines exist, the Opportunity's amount"
    )


class Availability(Contract):
    product_id: int
    product_name: str
    units_in_stock: int
    units_on_order: int
    reorder_level: int
    discontinued: bool
    stock_status: StockStatus
    requested_quantity: int | None = None
    can_fulfil: bool | None = Field(default=None, description="Whether the requested quantity ships from stock")


class AddressRequest(Contract):
    street: str = Field(min_length=1, max_length=255, examples=["1 Market St"])
    city: str = Field(min_length=1, max_length=100, examples=["San Francisco"])
    state: str | None = Field(default=None, max_length=100, description="State, province or region", examples=["CA"])
    postal_code: str | None = Field(default=None, max_length=20, examples=["94105"])
    country: str = Field(min_length=2, max_length=100, description="ISO 3166 code or country name", examples=["US"])


class AddressIssue(Contract):
    field: str = Field(examples=["postalCode"])
    code: str = Field(examples=["POSTAL_CODE_FORMAT"])
    message: str


class Suggestion(Contract):
    field: str
    value: str
    reason: str


class NormalizedAddress(Contract):
    street: str
    city: str
    state: str | None = None
    postal_code: str | None = None
    country: str = Field(description="ISO 3166-1 alpha-2")
    country_name: str


class AddressValidation(Contract):
    valid: bool
    normalized: NormalizedAddress | None = Field(default=None, description="Present when the country is known")
    issues: list[AddressIssue]
    suggestions: list[Suggestion]
