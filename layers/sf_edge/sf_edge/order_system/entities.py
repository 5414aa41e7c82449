"""Northwind entities as stored in DynamoDB (original column names), plus their links to Salesforce records."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Customer(BaseModel):
    """A Northwind Customer; `SalesforceAccountId` links it to the Account it mirrors."""

    model_config = ConfigDict(extra="ignore")

    CustomerID: str = Field(min_length=1, max_length=18)
    CompanyName: str = Field(max_length=255)
    ContactName: str | None = None
    ContactTitle: str | None = None
    Address: str | None = None
    City: str | None = None
    Region: str | None = None
    PostalCode: str | None = None
    Country: str | None = None
    Phone: str | None = None
    Fax: str | None = None
    CreditLimit: Decimal | None = None
    SalesforceAccountId: str | None = None
    SalesforceModstamp: str | None = None


class Order(BaseModel):
    """A Northwind Order; `SalesforceOpportunityId` links it to the Opportunity that was won."""

    model_config = ConfigDict(extra="ignore")

    OrderID: int
    CustomerID: str
    EmployeeID: int | None = None
    OrderDate: str | None = None
    RequiredDate: str | None = None
    ShippedDate: str | None = None
    ShipVia: int | None = None
    Freight: Decimal | None = None
    ShipName: str | None = None
    ShipAddress: str | None = None
    ShipCity: str | None = None
    ShipRegion: str | None = None
    ShipPostalCode: str | None = None
    ShipCountry: str | None = None
    SalesforceOpportunityId: str | None = None
    SalesforceAmount: Decimal | None = None
    # An Order from a won Opportunity: whether it holds the Opportunity's lines (order_lines.LINES_*), and why not.
    LinesStatus: str | None = None
    LinesProblem: str | None = None


class Product(BaseModel):
    """A Northwind Product: list price and stock."""

    model_config = ConfigDict(extra="ignore")

    ProductID: int
    ProductName: str
    SupplierID: int | None = None
    CategoryID: int | None = None
    QuantityPerUnit: str | None = None
    UnitPrice: Decimal = Decimal(0)
    UnitsInStock: int = 0
    UnitsOnOrder: int = 0
    ReorderLevel: int = 0
    Discontinued: bool = False


class OrderDetail(BaseModel):
    """A Northwind order line (key: OrderID + ProductID)."""

    model_config = ConfigDict(extra="ignore")

    OrderID: int
    ProductID: int
    UnitPrice: Decimal
    Quantity: int
    Discount: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        """Line value after its discount."""
        return self.UnitPrice * self.Quantity * (1 - self.Discount)


@dataclass(frozen=True)
class AccountLink:
    """The Customer an Account is linked to; `placeholder` until the Account's own notification confirms it."""

    customer_id: str
    placeholder: bool = False


# An Order's ship-to columns and the Customer fields they copy.
SHIP_TO = {
    "ShipName": "CompanyName",
    "ShipAddress": "Address",
    "ShipCity": "City",
    "ShipRegion": "Region",
    "ShipPostalCode": "PostalCode",
    "ShipCountry": "Country",
}


def ship_to(customer: Customer | None) -> dict[str, Any]:
    """An Order's ship-to columns, taken from its Customer."""
    return {column: getattr(customer, field) if customer else None for column, field in SHIP_TO.items()}
